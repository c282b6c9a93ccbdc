//! Commands: the only way the cluster database changes. Each is stamped with the time and the
//! origin of the member that proposes it, and applied the same way on every member.

use serde::{Deserialize, Serialize};
use std::fmt;

use nonstop_contract::TypeDef;
pub use nonstop_contract::{ReportMark, RestartCount};

use super::model::{
    CousinSet, GroupSpec, NodeSpec, PlaceReason, ResourceSpec, ResourceState, Service, Settings,
    Target,
};
use crate::time::Time;

/// Who asked for a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// An operator (kept in the audit log).
    Operator(String),
    /// The policy engine.
    Policy,
    /// The leader's liveness tracking (node up and down).
    Liveness,
    /// An agent reporting on its node.
    Agent(String),
}

/// A change to the cluster database, stamped with time and origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// When the proposing member made it (cluster time).
    pub at: Time,
    /// Who asked.
    pub origin: Origin,
    /// What to do.
    pub op: Op,
}

impl Command {
    /// A command decided by the policy engine.
    pub fn policy(at: Time, op: Op) -> Self {
        Command {
            at,
            origin: Origin::Policy,
            op,
        }
    }

    /// A command from an operator.
    pub fn operator(at: Time, user: &str, op: Op) -> Self {
        Command {
            at,
            origin: Origin::Operator(user.to_string()),
            op,
        }
    }

    /// A command from liveness tracking.
    pub fn liveness(at: Time, op: Op) -> Self {
        Command {
            at,
            origin: Origin::Liveness,
            op,
        }
    }

    /// A report from the agent on `node`.
    pub fn agent(at: Time, node: &str, op: Op) -> Self {
        Command {
            at,
            origin: Origin::Agent(node.to_string()),
            op,
        }
    }
}

/// What a command does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    // ---- configuration ----
    /// Adds a node or changes its configuration.
    PutNode(NodeSpec),
    /// Removes a node that owns no group and is no group's owner.
    RemoveNode { node: String },
    /// Defines a resource type or changes it (its resources must still validate).
    PutType(TypeDef),
    /// Removes a type no resource uses.
    RemoveType { name: String },
    /// Adds a group or changes its configuration.
    PutGroup(GroupSpec),
    /// Removes a group with no resources, in no cousin set, serving no service.
    RemoveGroup { group: String },
    /// Adds a resource or changes it.
    PutResource(ResourceSpec),
    /// Removes a resource nothing depends on.
    RemoveResource { resource: String },
    /// Defines a cousin set or changes it.
    PutCousinSet(CousinSet),
    /// Removes a cousin set.
    RemoveCousinSet { name: String },
    /// Adds or changes a service directory entry.
    PutService(Service),
    /// Removes a service directory entry.
    RemoveService { name: String },
    /// Replaces the cluster settings.
    SetSettings(Settings),
    /// Several changes applied all together or not at all.
    Batch(Vec<Op>),
    /// Changes nothing but the audit log: what happened outside the database (a membership
    /// change, a refused request), recorded with who asked.
    Record { what: String },
    /// Adds a bearer token (admins only; tokens.rs).
    PutToken(super::Token),
    /// Removes a bearer token.
    RevokeToken { id: String },

    // ---- liveness ----
    /// A node is heard from.
    NodeUp { node: String },
    /// A node is declared down.
    NodeDown { node: String, reason: String },
    /// The leader's fencer ran a node's fence method once (db/fence.rs).
    FenceResult(super::model::FenceOutcome),
    /// An operator asserts that a Down node runs nothing: its groups need not wait for its
    /// fencing any longer. `by` is who, as the member that took the request authenticated it.
    ConfirmFenced { node: String, by: String },
    /// A node's agent registered for the daemon run `incarnation`, recorded before that run is
    /// granted anything: a watchdog's word ([`Op::NodeStopped`]) counts only for the current run.
    Registered {
        node: String,
        incarnation: u64,
        /// Where the daemon listens (`host:port`), as the agent said ("": it did not).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        daemon: String,
    },
    /// The types a node's agent discovered (OCF agents, `exec` plug-ins: their meta-data),
    /// replacing what it reported before; accepted before the node is added (discovered.rs).
    TypesDiscovered { node: String, types: Vec<TypeDef> },
    /// A node's watchdog confirmed that the daemon run `incarnation` died and that everything
    /// its agent had started (`resources`) is stopped: the node is Down at once, its groups
    /// free to move without waiting out its lease (docs/design.md).
    NodeStopped {
        node: String,
        incarnation: u64,
        resources: Vec<String>,
    },

    /// A drill's mark in the history (docs/drills.md): `Begin` is refused while another drill
    /// runs, unless `force`; `End` clears the running drill it names.
    Drill {
        id: String,
        step: DrillStep,
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },

    // ---- operator intent ----
    /// Drain a node: its groups move away, nothing new lands.
    PauseNode { node: String },
    /// Undo a pause.
    ResumeNode { node: String },
    /// Take a node out: it is Down and stays Down until resumed.
    EvictNode { node: String },
    /// Move a group to a node, or to the best owner (`to: None`).
    MoveGroup { group: String, to: Option<String> },
    /// Take a group online or offline.
    SetGroupTarget { group: String, target: Target },
    /// Take a resource online or offline.
    SetResourceTarget { resource: String, target: Target },
    /// Forget a group's failures: clears the hold, the fail-over count and the failed nodes.
    ClearGroup { group: String },

    // ---- policy decisions ----
    /// Place a group on a node (or on none). Raises the group's epoch.
    Place {
        group: String,
        node: Option<String>,
        reason: PlaceReason,
    },
    /// Start moving a group: its owner takes it offline, then it is placed on `to`.
    BeginMove {
        group: String,
        to: Option<String>,
        reason: PlaceReason,
    },
    /// Hold a group Failed.
    HoldGroup { group: String, reason: String },

    // ---- agent reports ----
    /// A resource changed state on `node`, under the placement of `epoch`.
    ReportResource {
        node: String,
        resource: String,
        epoch: u64,
        state: ResourceState,
        restart: Option<RestartCount>,
        gave_up: bool,
        message: Option<String>,
        /// When the agent saw it happen, on its own wall clock (for fail-over measurements;
        /// the command's time is the proposing member's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reported_at: Option<Time>,
        /// Its place in the agent's sequence: applied once (unnumbered: always applied).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mark: Option<ReportMark>,
    },
    /// The agent on `node` stopped every resource of `group` (placement `epoch`) because the
    /// move numbered `stop` asked it to: confirmed, not inferred from resource states.
    GroupStopped {
        node: String,
        group: String,
        epoch: u64,
        stop: u64,
        /// Its place in the agent's sequence: applied once (unnumbered: always applied).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mark: Option<ReportMark>,
    },
}

/// Which mark of a drill an [`Op::Drill`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillStep {
    /// The drill starts.
    Begin,
    /// A step of it (a round's fault).
    Note,
    /// The drill ended (its text: the verdict).
    End,
}

impl fmt::Display for DrillStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrillStep::Begin => "started",
            DrillStep::Note => "step",
            DrillStep::End => "ended",
        })
    }
}

impl fmt::Display for Op {
    /// One line for the audit log and for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Record { what } => f.write_str(what),
            Op::PutToken(t) => write!(f, "create token {} for {} ({})", t.id, t.name, t.role),
            Op::RevokeToken { id } => write!(f, "revoke token {id}"),
            Op::PutNode(n) => write!(f, "put node {}", n.name),
            Op::RemoveNode { node } => write!(f, "remove node {node}"),
            Op::PutType(t) => write!(f, "put type {}", t.name),
            Op::RemoveType { name } => write!(f, "remove type {name}"),
            Op::PutGroup(g) => write!(f, "put group {}", g.name),
            Op::RemoveGroup { group } => write!(f, "remove group {group}"),
            Op::PutResource(r) => write!(f, "put resource {}", r.name),
            Op::RemoveResource { resource } => write!(f, "remove resource {resource}"),
            Op::PutCousinSet(c) => write!(f, "put cousin set {}", c.name),
            Op::RemoveCousinSet { name } => write!(f, "remove cousin set {name}"),
            Op::PutService(s) => write!(f, "put service {} -> {}", s.name, s.group),
            Op::RemoveService { name } => write!(f, "remove service {name}"),
            Op::SetSettings(_) => write!(f, "set settings"),
            Op::Batch(ops) => write!(f, "apply configuration ({} changes)", ops.len()),
            Op::NodeUp { node } => write!(f, "node {node} up"),
            Op::NodeDown { node, reason } => write!(f, "node {node} down ({reason})"),
            Op::FenceResult(r) if r.ok => write!(f, "node {} fenced by {}", r.node, r.method),
            Op::FenceResult(r) => write!(f, "fencing node {} failed: {}", r.node, r.detail),
            Op::ConfirmFenced { node, .. } => write!(f, "confirm node {node} fenced"),
            Op::Drill { id, step, text, .. } => write!(f, "drill {id} {step}: {text}"),
            Op::Registered {
                node, incarnation, ..
            } => {
                write!(f, "node {node} registered (run {incarnation:016x})")
            }
            Op::TypesDiscovered { node, types } => {
                write!(f, "node {node} discovered {} type(s)", types.len())
            }
            Op::NodeStopped {
                node, resources, ..
            } => write!(
                f,
                "node {node} down: its daemon died and its watchdog stopped {} resource(s)",
                resources.len()
            ),
            Op::PauseNode { node } => write!(f, "pause node {node}"),
            Op::ResumeNode { node } => write!(f, "resume node {node}"),
            Op::EvictNode { node } => write!(f, "evict node {node}"),
            Op::MoveGroup { group, to: Some(n) } => write!(f, "move group {group} to {n}"),
            Op::MoveGroup { group, to: None } => write!(f, "move group {group} to best owner"),
            Op::SetGroupTarget { group, target } => write!(f, "group {group} {target:?}"),
            Op::SetResourceTarget { resource, target } => {
                write!(f, "resource {resource} {target:?}")
            }
            Op::ClearGroup { group } => write!(f, "clear group {group}"),
            Op::Place {
                group,
                node,
                reason,
            } => {
                write!(
                    f,
                    "place {group} on {} ({reason})",
                    node.as_deref().unwrap_or("none")
                )
            }
            Op::BeginMove { group, to, reason } => write!(
                f,
                "begin moving {group} to {} ({reason})",
                to.as_deref().unwrap_or("best owner")
            ),
            Op::HoldGroup { group, reason } => write!(f, "hold {group}: {reason}"),
            Op::ReportResource {
                node,
                resource,
                state,
                ..
            } => {
                write!(f, "report {resource} {state} on {node}")
            }
            Op::GroupStopped { node, group, .. } => write!(f, "report {group} stopped on {node}"),
        }
    }
}
