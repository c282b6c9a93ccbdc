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

/// The state of a resource (MSCS's states).
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
    /// Failed: stopped by its agent and not restarted.
    Failed,
}

impl ResourceState {
    /// Whether nothing of the resource runs (safe to start it elsewhere).
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
