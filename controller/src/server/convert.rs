//! The database's records as the operators' API shows them.

use nonstop_contract::{Bound, PropertyKind, RestartPolicy, TypeDef};
use nonstop_proto::cluster as pb;

use crate::db::model::{Failback, Group, Node, Resource, Target};
use crate::db::{AuditEntry, ClusterDb, Event};

pub(super) fn node(db: &ClusterDb, n: &Node) -> pb::Node {
    pb::Node {
        name: n.spec.name.clone(),
        state: n.state().to_string(),
        address: n.spec.address.clone().unwrap_or_default(),
        autobackup: n.spec.autobackup,
        witness: n.spec.witness,
        evicted: n.evicted,
        groups: db
            .groups_on(&n.spec.name)
            .map(|g| g.spec.name.clone())
            .collect(),
    }
}

pub(super) fn target(t: Target) -> String {
    match t {
        Target::Online => "online".into(),
        Target::Offline => "offline".into(),
    }
}

fn failback(f: Failback) -> String {
    match f {
        Failback::Immediate => "immediate".into(),
        Failback::Never => "never".into(),
        Failback::Window { start, end } => format!("window {start:02}-{end:02}"),
    }
}

pub(super) fn group(db: &ClusterDb, g: &Group) -> pb::Group {
    pb::Group {
        name: g.spec.name.clone(),
        state: db.group_state(g).to_string(),
        owner: g.owner.clone().unwrap_or_default(),
        has_owner: g.owner.is_some(),
        owners: g.spec.owners.clone(),
        epoch: g.epoch,
        target: target(g.target),
        moving_to: g
            .moving
            .as_ref()
            .and_then(|m| m.to.clone())
            .unwrap_or_default(),
        held: g.held.clone().unwrap_or_default(),
        failback: failback(g.spec.failback),
        resources: g.resources.clone(),
    }
}

pub(super) fn resource(db: &ClusterDb, r: &Resource, now_ms: u64) -> pb::Resource {
    let node = db.groups.get(&r.spec.group).and_then(|g| g.owner.clone());
    let times: Vec<u64> = r.restarts.iter().map(|t| t.0).collect();
    pb::Resource {
        name: r.spec.name.clone(),
        group: r.spec.group.clone(),
        r#type: r.spec.type_name.clone(),
        state: r.state.to_string(),
        target: target(r.target),
        properties: plain(&r.spec.properties),
        node_properties: r
            .spec
            .node_properties
            .iter()
            .map(|(n, p)| (n.clone(), pb::PropertyValues { values: plain(p) }))
            .collect(),
        depends_on: r.spec.depends_on.clone(),
        message: r.message.clone().unwrap_or_default(),
        restarts_in_window: RestartPolicy::recent(&times, now_ms, r.timings.restart.window) as u32,
        gave_up: r.gave_up,
        node: node.unwrap_or_default(),
    }
}

pub(super) fn resource_type(t: &TypeDef) -> pb::ResourceType {
    let properties = t
        .schema
        .properties
        .iter()
        .map(|p| pb::PropertySpec {
            name: p.name.clone(),
            kind: format!("{:?}", p.kind).to_lowercase(),
            required: p.required,
            default: p.default.as_ref().map(|d| d.to_plain()).unwrap_or_default(),
            description: p.description.clone(),
            constraint: match p.kind {
                PropertyKind::Int | PropertyKind::Duration => bounds(p.min, p.max),
                PropertyKind::Enum => p.values.join("|"),
                _ => p.format.map(|f| f.name().to_string()).unwrap_or_default(),
            },
        })
        .collect();
    pb::ResourceType {
        name: t.name.clone(),
        handler: handler(&t.handler),
        description: t.description.clone(),
        properties,
        timings: yaml_serde::to_string(&t.timings).unwrap_or_default(),
    }
}

fn bounds(min: Option<Bound>, max: Option<Bound>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..={b}"),
        (Some(a), None) => format!(">= {a}"),
        (None, Some(b)) => format!("<= {b}"),
        (None, None) => String::new(),
    }
}

/// `builtin:process`, `exec:/path`, `ocf:heartbeat:Dummy`.
pub fn handler(h: &nonstop_contract::HandlerRef) -> String {
    use nonstop_contract::HandlerRef as H;
    match h {
        H::Builtin(n) => format!("builtin:{n}"),
        H::Exec(p) => format!("exec:{p}"),
        H::Ocf { provider, agent } => format!("ocf:{provider}:{agent}"),
    }
}

pub(super) fn event(revision: u64, e: &Event) -> pb::ClusterEvent {
    pb::ClusterEvent {
        revision,
        at_ms: e.at.0,
        summary: e.summary().unwrap_or_default(),
        json: serde_json::to_string(&e.kind).unwrap_or_default(),
    }
}

pub(super) fn audit(a: &AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        at_ms: a.at.0,
        user: a.user.clone(),
        command: a.command.clone(),
    }
}

/// Property values as plain text, by name.
fn plain(p: &nonstop_contract::Properties) -> std::collections::HashMap<String, String> {
    p.iter().map(|(k, v)| (k.clone(), v.to_plain())).collect()
}
