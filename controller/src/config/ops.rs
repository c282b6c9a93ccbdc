//! From a `cluster.yaml` to the configuration commands that build it, in an order that `apply`
//! accepts (settings, nodes, types, groups, resources with dependencies first, cousin sets,
//! services).

use nonstop_contract::{HandlerRef, Millis, Schema, StopBound, TypeDef};

use super::file::{ClusterFile, TimingChoice, TypeEntry};
use crate::db::model::{
    CousinMember, CousinSet, GroupSpec, ResourceSpec, Service, Settings, TimingProfile,
};
use crate::db::{ClusterDb, Op};

/// A problem in a configuration that is found before any command is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {field}: {reason}")]
pub struct ConfigError {
    /// The thing in the file (`type "chat-server"`).
    pub subject: String,
    /// The field (`base`).
    pub field: String,
    /// Why.
    pub reason: String,
}

fn err(subject: String, field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        subject,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The settings a file asks for.
pub fn settings(file: &ClusterFile) -> Result<Settings, ConfigError> {
    let mut s = Settings::default();
    match &file.timing {
        None => {}
        Some(TimingChoice::Named(n)) => {
            s.timing = TimingProfile::named(n).ok_or_else(|| {
                err(
                    "cluster".into(),
                    "timing",
                    format!("unknown profile {n:?} (use default or fast, or give every field)"),
                )
            })?;
        }
        Some(TimingChoice::Custom(p)) => s.timing = p.clone(),
    }
    if let Some(o) = file.utc_offset_minutes {
        s.utc_offset_minutes = o;
    }
    if let Some(g) = file.startup_grace {
        s.startup_grace = g;
    }
    if let Some(f) = file.fencing {
        s.fencing = f;
    }
    s.alerts = file.alerts.clone();
    Ok(s)
}

/// Resolves a type entry against the types known so far (built-ins and earlier entries).
pub fn type_def(t: &TypeEntry, known: &[TypeDef]) -> Result<TypeDef, ConfigError> {
    let subj = format!("type {:?}", t.name);
    let given = [t.base.is_some(), t.exec.is_some(), t.ocf.is_some()];
    if given.iter().filter(|b| **b).count() != 1 {
        return Err(err(subj, "base", "give exactly one of base, exec or ocf"));
    }
    let (handler, mut schema, mut timings, stop, reconfigures) = if let Some(b) = &t.base {
        let base = known
            .iter()
            .find(|k| &k.name == b)
            .ok_or_else(|| err(subj.clone(), "base", format!("unknown type {b:?}")))?;
        (
            base.handler.clone(),
            base.schema.clone(),
            base.timings,
            base.stop,
            base.reconfigures,
        )
    } else if let Some(path) = &t.exec {
        (
            HandlerRef::Exec(path.clone()),
            Schema::default(),
            Default::default(),
            StopBound::Within(Millis::from(nonstop_contract::plugin::exec::STOP_BOUND)),
            false,
        )
    } else {
        let spec = t.ocf.as_deref().unwrap_or_default();
        let (provider, agent) = spec.split_once(':').ok_or_else(|| {
            err(
                subj.clone(),
                "ocf",
                format!("{spec:?}: write provider:agent, like heartbeat:Dummy"),
            )
        })?;
        if !nonstop_contract::plugin::ocf::clean_name(provider)
            || !nonstop_contract::plugin::ocf::clean_name(agent)
        {
            let why = format!(
                "{spec:?}: the provider and the agent are file names under \
                 /usr/lib/ocf/resource.d: not empty, without '/', not . or .."
            );
            return Err(err(subj, "ocf", why));
        }
        let h = HandlerRef::Ocf {
            provider: provider.into(),
            agent: agent.into(),
        };
        let stop = StopBound::Within(Millis::from(nonstop_contract::plugin::ocf::STOP_BOUND));
        (h, Schema::default(), Default::default(), stop, false)
    };
    schema.properties.extend(t.properties.iter().cloned());
    if let Some(tm) = t.timings {
        timings = tm;
    }
    Ok(TypeDef {
        name: t.name.clone(),
        handler,
        schema,
        timings,
        description: t.description.clone(),
        stop,
        reconfigures,
    })
}

/// The configuration commands that make an empty database match `file`.
pub fn to_ops(file: &ClusterFile) -> Result<Vec<Op>, ConfigError> {
    let mut ops = vec![Op::SetSettings(settings(file)?)];
    ops.extend(file.nodes.iter().cloned().map(Op::PutNode));
    let mut known: Vec<TypeDef> = ClusterDb::new().types.into_values().collect();
    for t in &file.types {
        let def = type_def(t, &known)?;
        known.push(def.clone());
        ops.push(Op::PutType(def));
    }
    for g in &file.groups {
        ops.push(Op::PutGroup(GroupSpec {
            name: g.name.clone(),
            owners: g.owners.clone(),
            failback: g.failback.unwrap_or_default(),
            failover_limit: g.failover_limit.unwrap_or_default(),
            target: g.target.unwrap_or_default(),
        }));
    }
    let resources: Vec<ResourceSpec> = file
        .groups
        .iter()
        .flat_map(|g| g.resources.iter().map(|r| r.spec(&g.name)))
        .collect();
    ops.extend(
        dependencies_first(resources)
            .into_iter()
            .map(Op::PutResource),
    );
    for c in &file.cousins {
        let members = c
            .members
            .iter()
            .map(|m| CousinMember {
                group: m.group.clone(),
                load: m.load,
            })
            .collect();
        ops.push(Op::PutCousinSet(CousinSet {
            name: c.name.clone(),
            members,
        }));
    }
    for s in &file.services {
        ops.push(Op::PutService(Service {
            name: s.name.clone(),
            group: s.group.clone(),
        }));
    }
    Ok(ops)
}

/// Orders resources so that each comes after what it depends on; what cannot be ordered (a
/// cycle, a missing dependency) keeps its place at the end, for `apply` to name the problem.
fn dependencies_first(resources: Vec<ResourceSpec>) -> Vec<ResourceSpec> {
    let order = dependency_order(
        &resources
            .iter()
            .map(|r| (r.name.as_str(), r.depends_on.as_slice()))
            .collect::<Vec<_>>(),
    );
    let mut slots: Vec<Option<ResourceSpec>> = resources.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The indices of `(name, depends_on)` items, each after the items it depends on; items that
/// cannot be ordered follow in their original order.
pub(super) fn dependency_order(items: &[(&str, &[String])]) -> Vec<usize> {
    let mut placed = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    let mut pending: Vec<usize> = (0..items.len()).collect();
    loop {
        let before = pending.len();
        pending.retain(|&i| {
            let (name, deps) = items[i];
            let ready = deps.iter().all(|d| placed.contains(d.as_str()));
            if ready {
                placed.insert(name);
                out.push(i);
            }
            !ready
        });
        if pending.is_empty() || pending.len() == before {
            out.extend(pending);
            return out;
        }
    }
}
