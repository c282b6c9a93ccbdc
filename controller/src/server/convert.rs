//! The database's records as the operators' API shows them, and the operators' requests as the
//! database takes them, in one place: every state, target, role and mode crosses the wire as an
//! enum of proto/proto/cluster.proto, and one that cannot be right in a request (UNSPECIFIED, or
//! a number the enum does not have) is INVALID_ARGUMENT naming the field. These enums are the
//! operators' API's own, apart from the agent protocol's (either may grow values the other does
//! not have), so a contract type such as `ResourceState` maps to each in its own place: here,
//! and in nonstop_contract::wire.

use nonstop_contract::wire::enum_from_wire;
use nonstop_contract::{Bound, PropertyKind, ResourceState, RestartPolicy, TypeDef};
use nonstop_proto::cluster as pb;
use tonic::Status;

use super::status::bad_field;
use crate::db::model::{Failback, Group, GroupState, Node, NodeState, Resource, Target};
use crate::db::{AuditEntry, ClusterDb, Event};
use crate::policy::RouteMode;
use crate::raft::{ProgressState, Role};
use crate::store::MemberInfo;

pub(super) fn node(db: &ClusterDb, n: &Node) -> pb::Node {
    pb::Node {
        name: n.spec.name.clone(),
        state: node_state(n.state()) as i32,
        address: n.spec.address.clone().unwrap_or_default(),
        autobackup: n.spec.autobackup,
        witness: n.spec.witness,
        evicted: n.evicted,
        groups: db
            .groups_on(&n.spec.name)
            .map(|g| g.spec.name.clone())
            .collect(),
        // What the database cannot know: the API adds it (cluster.rs).
        certificate_expires_ms: 0,
        fence: n.fence.describe().unwrap_or_default(),
        daemon_address: n.daemon_address.clone().unwrap_or_default(),
    }
}

fn node_state(s: NodeState) -> pb::NodeState {
    match s {
        NodeState::Joining => pb::NodeState::Joining,
        NodeState::Up => pb::NodeState::Up,
        NodeState::Paused => pb::NodeState::Paused,
        NodeState::Down => pb::NodeState::Down,
    }
}

fn group_state(s: GroupState) -> pb::GroupState {
    match s {
        GroupState::Online => pb::GroupState::Online,
        GroupState::Offline => pb::GroupState::Offline,
        GroupState::OnlinePending => pb::GroupState::OnlinePending,
        GroupState::OfflinePending => pb::GroupState::OfflinePending,
        GroupState::Failed => pb::GroupState::Failed,
        GroupState::PartialOnline => pb::GroupState::PartialOnline,
    }
}

fn resource_state(s: ResourceState) -> pb::ResourceState {
    match s {
        ResourceState::Offline => pb::ResourceState::Offline,
        ResourceState::OnlinePending => pb::ResourceState::OnlinePending,
        ResourceState::Online => pb::ResourceState::Online,
        ResourceState::OfflinePending => pb::ResourceState::OfflinePending,
        ResourceState::Failed => pb::ResourceState::Failed,
        ResourceState::Failing => pb::ResourceState::Failing,
    }
}

fn target(t: Target) -> pb::Target {
    match t {
        Target::Online => pb::Target::Online,
        Target::Offline => pb::Target::Offline,
    }
}

/// A request's target (`SetTargetRequest.target`); `field` names it in the error.
pub(super) fn target_from_wire(n: i32, field: &str) -> Result<Target, Status> {
    let t = enum_from_wire(n, field, "target (use online or offline)", |t| match t {
        pb::Target::Online => Some(Target::Online),
        pb::Target::Offline => Some(Target::Offline),
        pb::Target::Unspecified => None,
    });
    t.map_err(|e| bad_field(&e.field, e.reason))
}

fn failback(f: Failback) -> pb::Failback {
    let (mode, window_start, window_end) = match f {
        Failback::Immediate => (pb::FailbackMode::Immediate, 0, 0),
        Failback::Never => (pb::FailbackMode::Never, 0, 0),
        Failback::Window { start, end } => (pb::FailbackMode::Window, start.into(), end.into()),
    };
    pb::Failback {
        mode: mode as i32,
        window_start,
        window_end,
    }
}

/// How a resolution's routes were chosen.
pub(super) fn resolution_mode(m: RouteMode) -> pb::ResolutionMode {
    match m {
        RouteMode::Single => pb::ResolutionMode::Single,
        RouteMode::LocalOnly => pb::ResolutionMode::LocalOnly,
        RouteMode::LocalFirst => pb::ResolutionMode::LocalFirst,
        RouteMode::Standby => pb::ResolutionMode::Standby,
        RouteMode::LeastLoaded => pb::ResolutionMode::LeastLoaded,
        RouteMode::Weighted => pb::ResolutionMode::Weighted,
    }
}

/// A member's part: the leader (`leader`'s id), a voter, or a learner.
pub(super) fn member_role(m: &MemberInfo, leader: u64) -> pb::MemberRole {
    match (m.id == leader, m.voter) {
        (true, _) => pb::MemberRole::Leader,
        (false, true) => pb::MemberRole::Voter,
        (false, false) => pb::MemberRole::Learner,
    }
}

/// A member's raft role.
pub(super) fn raft_role(r: Role) -> pb::RaftRole {
    match r {
        Role::Follower => pb::RaftRole::Follower,
        Role::PreCandidate => pb::RaftRole::PreCandidate,
        Role::Candidate => pb::RaftRole::Candidate,
        Role::Leader => pb::RaftRole::Leader,
    }
}

/// How the leader sends to a member.
pub(super) fn progress_state(s: ProgressState) -> pb::ProgressState {
    match s {
        ProgressState::Probe => pb::ProgressState::Probe,
        ProgressState::Replicate => pb::ProgressState::Replicate,
        ProgressState::Snapshot => pb::ProgressState::Snapshot,
    }
}

fn property_kind(k: PropertyKind) -> pb::PropertyKind {
    match k {
        PropertyKind::String => pb::PropertyKind::String,
        PropertyKind::Int => pb::PropertyKind::Int,
        PropertyKind::Bool => pb::PropertyKind::Bool,
        PropertyKind::Enum => pb::PropertyKind::Enum,
        PropertyKind::Duration => pb::PropertyKind::Duration,
        PropertyKind::Address => pb::PropertyKind::Address,
        PropertyKind::List => pb::PropertyKind::List,
    }
}

pub(super) fn group(db: &ClusterDb, g: &Group) -> pb::Group {
    pb::Group {
        name: g.spec.name.clone(),
        state: group_state(db.group_state(g)) as i32,
        owner: g.owner.clone().unwrap_or_default(),
        has_owner: g.owner.is_some(),
        owners: g.spec.owners.clone(),
        epoch: g.epoch,
        target: target(g.target) as i32,
        moving_to: g
            .moving
            .as_ref()
            .and_then(|m| m.to.clone())
            .unwrap_or_default(),
        held: g.held.clone().unwrap_or_default(),
        failback: Some(failback(g.spec.failback)),
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
        state: resource_state(r.state) as i32,
        target: target(r.target) as i32,
        properties: plain(&r.spec.properties),
        properties_json: serde_json::to_string(&r.spec.properties).unwrap_or_default(),
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
            kind: property_kind(p.kind) as i32,
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
        reported_by: Vec::new(),
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
