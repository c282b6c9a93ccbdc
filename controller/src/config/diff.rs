//! What `nonstop apply` will commit: the changes that make a live database's configuration
//! match a file, as one [`Op::Batch`], and the same changes in lines a person reads
//! (`+ group X`, `- resource Y`, `~ resource chat: properties.MaxUser 5 -> 8`).
//!
//! The order of the batch is found by applying it: every change waits in a queue sorted the
//! usual way (settings, nodes, types, groups, resources dependencies first, then removals
//! dependents first, ...), and passes over the queue on a copy of the database take each change
//! as soon as it applies. A change that must wait for another (a node removed once no group
//! names it, a resource moved to another group by removing and adding it) simply waits for a
//! later pass, and the batch is known to apply because it just did.

use serde::Serialize;
use std::collections::BTreeMap;

use super::file::ClusterFile;
use super::ops::{self, ConfigError};
use nonstop_contract::TypeDef;

use crate::db::model::{CousinSet, GroupSpec, NodeSpec, ResourceSpec, Service};
use crate::db::{ApplyError, ClusterDb, Command, Op};
use crate::time::Time;

/// The changes from a live configuration to a file's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// One `Op::Batch` of every change, in an order `apply` accepts.
    pub op: Op,
    /// The changes for a person, one per line.
    pub lines: Vec<String>,
}

impl Diff {
    /// Whether the live configuration already matches.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Why no diff could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The file itself is not valid (run `check` for every error with its position).
    #[error("the file is not valid: {0}")]
    File(String),
    /// A change can never apply to the live database in any order.
    #[error("cannot apply {op}: {source}")]
    Stuck {
        /// The change, in one line.
        op: String,
        /// Why it does not apply.
        #[source]
        source: ApplyError,
    },
}

impl From<ConfigError> for DiffError {
    fn from(e: ConfigError) -> Self {
        DiffError::File(e.to_string())
    }
}

/// The changes that make `live`'s configuration equal to `file`'s. Live state (placements,
/// resource states, counters) is left alone.
pub fn diff(live: &ClusterDb, file: &ClusterFile) -> Result<Diff, DiffError> {
    let mut want = ClusterDb::new();
    // Resources of types `types:` does not declare are checked against what the live
    // cluster's nodes discovered.
    want.discovered = live.discovered.clone();
    let batch = Op::Batch(ops::to_ops(file)?);
    want.apply(Command::policy(Time(0), batch))
        .map_err(|e| DiffError::File(e.to_string()))?;
    let mut d = Changes::default();
    d.settings(live, &want);
    let (a, b) = (View::of(live), View::of(&want));
    d.section("node", &a.nodes, &b.nodes, never);
    d.section("type", &a.types, &b.types, never);
    d.section("group", &a.groups, &b.groups, never);
    // A resource moves to another group by being removed and added again (apply refuses a
    // put that changes the group).
    d.section("resource", &a.resources, &b.resources, |x, y| {
        x.group != y.group
    });
    d.restarts(live, &want);
    // A changed cousin set is replaced whole: a group may move from one set to another.
    d.section("cousin set", &a.cousins, &b.cousins, |_, _| true);
    d.section("service", &a.services, &b.services, never);
    let ops = order(live, d.queue(&want))?;
    Ok(Diff {
        op: Op::Batch(ops),
        lines: d.lines,
    })
}

fn never<S>(_: &S, _: &S) -> bool {
    false
}

/// The configuration records of a database, by name.
struct View<'a> {
    nodes: BTreeMap<&'a str, &'a NodeSpec>,
    types: BTreeMap<&'a str, &'a TypeDef>,
    groups: BTreeMap<&'a str, &'a GroupSpec>,
    resources: BTreeMap<&'a str, &'a ResourceSpec>,
    cousins: BTreeMap<&'a str, &'a CousinSet>,
    services: BTreeMap<&'a str, &'a Service>,
}

impl<'a> View<'a> {
    fn of(db: &'a ClusterDb) -> Self {
        View {
            nodes: specs(&db.nodes, |n| &n.spec),
            // Built-in types are in both databases and so never differ unless redefined.
            types: specs(&db.types, |t| t),
            groups: specs(&db.groups, |g| &g.spec),
            resources: specs(&db.resources, |r| &r.spec),
            cousins: specs(&db.cousin_sets, |c| c),
            services: specs(&db.services, |s| s),
        }
    }
}

fn specs<'a, V, S>(
    map: &'a BTreeMap<String, V>,
    f: impl Fn(&'a V) -> &'a S,
) -> BTreeMap<&'a str, &'a S> {
    map.iter().map(|(k, v)| (k.as_str(), f(v))).collect()
}

/// The names added, removed and changed, with their lines.
#[derive(Default)]
struct Changes {
    lines: Vec<String>,
    /// (kind, name) of things to put.
    put: Vec<(&'static str, String)>,
    /// (kind, name) of things to remove.
    remove: Vec<(&'static str, String)>,
    settings: bool,
}

impl Changes {
    fn settings(&mut self, live: &ClusterDb, want: &ClusterDb) {
        if live.settings == want.settings {
            return;
        }
        self.settings = true;
        // Alerts are told one by one, by name; the other settings field by field.
        let without_alerts = |s: &crate::db::model::Settings| {
            let mut v = json(s);
            if let Some(m) = v.as_object_mut() {
                m.remove("alerts");
            }
            v
        };
        fields(
            "",
            &without_alerts(&live.settings),
            &without_alerts(&want.settings),
            &mut |path, old, new| {
                self.lines
                    .push(format!("~ settings: {path} {old} -> {new}"));
            },
        );
        let by_name = |s: &'_ crate::db::model::Settings| -> BTreeMap<String, serde_json::Value> {
            s.alerts.iter().map(|a| (a.name.clone(), json(a))).collect()
        };
        let (old, new) = (by_name(&live.settings), by_name(&want.settings));
        for name in old.keys().filter(|n| !new.contains_key(*n)) {
            self.lines.push(format!("- alert {name}"));
        }
        for (name, a) in &new {
            match old.get(name) {
                None => self.lines.push(format!("+ alert {name}")),
                Some(o) => fields("", o, a, &mut |path, x, y| {
                    self.lines
                        .push(format!("~ alert {name}: {path} {x} -> {y}"));
                }),
            }
        }
    }

    /// Compares one kind of record; `through_removal` says when a change cannot be a put.
    fn section<S: Serialize + PartialEq>(
        &mut self,
        kind: &'static str,
        live: &BTreeMap<&str, &S>,
        want: &BTreeMap<&str, &S>,
        through_removal: impl Fn(&S, &S) -> bool,
    ) {
        for name in live.keys() {
            if !want.contains_key(name) {
                self.lines.push(format!("- {kind} {name}"));
                self.remove.push((kind, name.to_string()));
            }
        }
        for (name, new) in want {
            match live.get(name) {
                None => self.lines.push(format!("+ {kind} {name}")),
                Some(old) if old == new => continue,
                Some(old) => {
                    fields("", &json(*old), &json(*new), &mut |path, a, b| {
                        self.lines
                            .push(format!("~ {kind} {name}: {path} {a} -> {b}"));
                    });
                    if through_removal(old, new) {
                        self.remove.push((kind, name.to_string()));
                    }
                }
            }
            self.put.push((kind, name.to_string()));
        }
    }

    /// For every resource whose properties change, one line saying whether the change restarts
    /// it (and which properties make it) or is applied in place (`TypeDef::restart_needed_for`).
    fn restarts(&mut self, live: &ClusterDb, want: &ClusterDb) {
        for (name, new) in &want.resources {
            let Some(old) = live.resources.get(name) else {
                continue;
            };
            let (o, n) = (&old.spec, &new.spec);
            if o.properties == n.properties && o.node_properties == n.node_properties {
                continue;
            }
            let line = match want.type_named(&n.type_name) {
                _ if o.type_name != n.type_name || o.group != n.group => "restarts".to_string(),
                None => "restarts".to_string(),
                Some(def) => {
                    let owners = want.groups.get(&n.group).map(|g| g.spec.owners.clone());
                    let mut why: Vec<String> = Vec::new();
                    for node in owners.unwrap_or_default() {
                        let before = o.properties_on(&node);
                        let after = n.properties_on(&node);
                        for p in def.restart_needed_for(&before, &after) {
                            if !why.contains(&p) {
                                why.push(p);
                            }
                        }
                    }
                    if why.is_empty() {
                        "changed in place, no restart".to_string()
                    } else {
                        format!("restarts (for {})", why.join(", "))
                    }
                }
            };
            self.lines.push(format!("  resource {name} {line}"));
        }
    }

    /// Every change as an op, in the preferred order.
    fn queue(&self, want: &ClusterDb) -> Vec<Op> {
        let mut q = Vec::new();
        if self.settings {
            q.push(Op::SetSettings(want.settings.clone()));
        }
        q.extend(
            self.put("node")
                .map(|n| Op::PutNode(want.nodes[&n].spec.clone())),
        );
        q.extend(
            self.put("type")
                .map(|n| Op::PutType(want.types[&n].clone())),
        );
        q.extend(
            self.put("group")
                .map(|n| Op::PutGroup(want.groups[&n].spec.clone())),
        );
        q.extend(
            self.removed("service")
                .map(|name| Op::RemoveService { name }),
        );
        q.extend(
            self.removed("cousin set")
                .map(|name| Op::RemoveCousinSet { name }),
        );
        q.extend(self.resource_puts(want));
        q.extend(
            self.removed("resource")
                .map(|resource| Op::RemoveResource { resource }),
        );
        q.extend(self.removed("group").map(|group| Op::RemoveGroup { group }));
        q.extend(self.removed("type").map(|name| Op::RemoveType { name }));
        q.extend(self.removed("node").map(|node| Op::RemoveNode { node }));
        q.extend(
            self.put("cousin set")
                .map(|n| Op::PutCousinSet(want.cousin_sets[&n].clone())),
        );
        q.extend(
            self.put("service")
                .map(|n| Op::PutService(want.services[&n].clone())),
        );
        q
    }

    /// The resources to put, each after the resources it depends on.
    fn resource_puts(&self, want: &ClusterDb) -> Vec<Op> {
        let specs: Vec<_> = self
            .put("resource")
            .map(|n| &want.resources[&n].spec)
            .collect();
        let keys: Vec<_> = specs
            .iter()
            .map(|r| (r.name.as_str(), r.depends_on.as_slice()))
            .collect();
        let order = ops::dependency_order(&keys);
        order
            .into_iter()
            .map(|i| Op::PutResource(specs[i].clone()))
            .collect()
    }

    /// The names of `kind` to put.
    fn put(&self, kind: &'static str) -> impl Iterator<Item = String> + '_ {
        of(&self.put, kind)
    }

    /// The names of `kind` to remove.
    fn removed(&self, kind: &'static str) -> impl Iterator<Item = String> + '_ {
        of(&self.remove, kind)
    }
}

/// The names of `kind` in a list of changes.
fn of(list: &[(&'static str, String)], kind: &'static str) -> impl Iterator<Item = String> {
    list.iter()
        .filter(move |(k, _)| *k == kind)
        .map(|(_, n)| n.clone())
}

/// Applies the queue on a copy of `live`, pass after pass, taking each op once it applies.
fn order(live: &ClusterDb, mut pending: Vec<Op>) -> Result<Vec<Op>, DiffError> {
    let mut db = live.clone();
    let mut done = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = done.len();
        let mut stuck = Vec::new();
        let mut first_error = None;
        for op in pending {
            match db.apply(Command::policy(Time(0), op.clone())) {
                Ok(_) => done.push(op),
                Err(e) => {
                    first_error.get_or_insert((op.to_string(), e));
                    stuck.push(op);
                }
            }
        }
        if let Some((op, source)) = first_error
            && done.len() == before
        {
            return Err(DiffError::Stuck { op, source });
        }
        pending = stuck;
    }
    Ok(done)
}

fn json<S: Serialize>(s: &S) -> serde_json::Value {
    // Plain records with string keys always serialise.
    serde_json::to_value(s).expect("configuration records serialise")
}

/// Calls `out(path, old, new)` for every leaf that differs between `a` and `b`.
fn fields(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut dyn FnMut(&str, String, String),
) {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let none = J::Null;
                fields(
                    &p,
                    x.get(k).unwrap_or(&none),
                    y.get(k).unwrap_or(&none),
                    out,
                );
            }
        }
        _ if a == b => {}
        _ => out(path, show(a), show(b)),
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(none)".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
