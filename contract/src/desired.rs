//! The agent protocol's plain data: what a node must run (computed by the controller from the
//! cluster database) and what the agent reports back. Both sides use these types, so the
//! controller and the agent can never disagree on their meaning.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::schema::Properties;
use crate::timing::Timings;
use crate::typedef::{HandlerRef, TypeDef};

/// Everything a node's agent must run; anything else it runs must stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredNode {
    /// The node.
    pub node: String,
    /// The highest placement epoch among its groups (agents ignore anything older than seen).
    pub epoch: u64,
    /// The groups it owns.
    pub groups: Vec<DesiredGroup>,
    /// The definitions of the types its resources use (schemas of types defined in the
    /// cluster's configuration, which the agent's registry does not know by itself).
    #[serde(default)]
    pub types: Vec<TypeDef>,
}

impl DesiredNode {
    /// `node` runs nothing (no group, epoch 0): what a node the cluster does not know is told.
    pub fn nothing(node: &str) -> Self {
        DesiredNode {
            node: node.to_string(),
            epoch: 0,
            groups: Vec::new(),
            types: Vec::new(),
        }
    }
}

/// One group on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredGroup {
    /// The group.
    pub name: String,
    /// The epoch of its placement here; a new epoch on the same node means "start afresh"
    /// (failures forgotten, given-up resources tried again).
    pub epoch: u64,
    /// Its resources in online order (dependencies first); offline goes in reverse.
    pub resources: Vec<DesiredResource>,
    /// The group is moving away: stop everything, then confirm with this number
    /// ([`GroupStopped`]). Only that confirmation lets the leader place it elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<u64>,
}

/// One resource and whether it should be online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredResource {
    /// Its name.
    pub name: String,
    /// Its type's name.
    pub type_name: String,
    /// The handler that runs it.
    pub handler: HandlerRef,
    /// Properties in canonical form, defaults filled in.
    pub properties: Properties,
    /// Timings.
    pub timings: Timings,
    /// Resources it needs online first.
    pub depends_on: Vec<String>,
    /// Whether it should be online.
    pub online: bool,
}

/// The state of a resource (MSCS's states, and Failing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceState {
    /// Not running.
    #[default]
    Offline,
    /// Coming online.
    OnlinePending,
    /// Running.
    Online,
    /// Going offline.
    OfflinePending,
    /// Failed, and confirmed stopped: its terminate returned.
    Failed,
    /// Failed, and not yet confirmed stopped: its agent is terminating it, or its terminate did
    /// not finish within its bound. It may still run.
    Failing,
}

impl ResourceState {
    /// Whether nothing of the resource runs, as its agent says: Offline, or Failed (which the
    /// agent reports only once terminate returned).
    pub fn is_stopped(self) -> bool {
        matches!(self, ResourceState::Offline | ResourceState::Failed)
    }
}

impl fmt::Display for ResourceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A restart in place, as an agent reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartCount {
    /// 1-based restart number within the window.
    pub attempt: u32,
    /// The limit (`None`: unlimited).
    pub limit: Option<u32>,
}

/// An agent's confirmation that every resource of a group it was told to stop (the desired
/// group's `stop`) is stopped: terminated or taken offline, with nothing left running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStopped {
    /// The group.
    pub group: String,
    /// The placement epoch the agent acted under.
    pub epoch: u64,
    /// The move it confirms (the desired group's `stop`).
    pub stop: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Where a report stands in its agent's sequence. The agent numbers what it sends, in order,
/// from 1 for each run (`incarnation`, different on every start); the leader applies each
/// numbered report once, though an agent whose call timed out sends the same batch again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportMark {
    /// This run of the agent (nanoseconds since the Unix epoch when it started).
    pub incarnation: u64,
    /// The report's place in the run, from 1.
    pub seq: u64,
}

impl ReportMark {
    /// The mark of the report `i` places after this one in the same batch.
    pub fn nth(self, i: usize) -> ReportMark {
        ReportMark {
            seq: self.seq.saturating_add(i as u64),
            ..self
        }
    }

    /// True when `self` was sent by the same run as `last`, no later than it: already applied.
    pub fn seen_by(self, last: Option<ReportMark>) -> bool {
        last.is_some_and(|l| l.incarnation == self.incarnation && self.seq <= l.seq)
    }
}

/// What an agent tells the leader, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentReport {
    /// A resource changed state.
    Resource(ResourceReport),
    /// A group it was told to stop is stopped.
    GroupStopped(GroupStopped),
}

/// One resource transition, as an agent reports it to the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceReport {
    /// The resource.
    pub resource: String,
    /// Its group.
    pub group: String,
    /// The placement epoch the agent acted under.
    pub epoch: u64,
    /// The new state.
    pub state: ResourceState,
    /// Set when this transition is a restart in place.
    pub restart: Option<RestartCount>,
    /// The agent gave up restarting it.
    pub gave_up: bool,
    /// The handler's message, if any (why it failed).
    pub message: Option<String>,
    /// When it happened, in milliseconds since the Unix epoch (for measuring fail-over time).
    pub at_ms: u64,
}
