//! The agent's side of the link to the controller, as a trait: the gRPC client (grpc.rs) and
//! the in-process [`crate::local`] leader both implement it.
//!
//! ```text
//!  agent ── register ──────────▶ leader      once, after leftovers are cleaned
//!        ── heartbeat(sent_ms) ▶ every member, every heartbeat interval
//!        ◀── ack(sent_ms, lease)             each grant runs from the echoed send time;
//!                                            the lease holds while a majority's grants do
//!        ◀── desired-state stream            starts with the full current state
//!        ── report(transitions) ▶            every resource transition, in order
//! ```
//!
//! Every call may fail; the agent retries after its `retry` pause, so an implementation does
//! not need to reconnect inside a call, only on the next one.

use async_trait::async_trait;
use futures::stream::BoxStream;
use nonstop_contract::{AgentReport, DesiredNode, Millis, ReportMark};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What the agent tells the leader when it (re)starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The node.
    pub node: String,
    /// The resource types this agent can run.
    pub types: Vec<String>,
    /// This run of the node's daemon ([`crate::AgentConfig::incarnation`]).
    #[serde(default)]
    pub incarnation: u64,
    /// Where the node's daemon listens ([`crate::AgentConfig::address`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The leader's answer to a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// How often to heartbeat (the timing profile's `heartbeat`).
    pub heartbeat: Millis,
    /// The profile's terminate budget (zero: not said; the agent keeps its own).
    pub terminate: Millis,
}

/// One heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: String,
    /// Counts up from 1 for each heartbeat of this agent run.
    pub seq: u64,
    /// When it was sent, in milliseconds on the agent's monotonic clock.
    pub sent_ms: u64,
    /// Whether the agent held its lease when it sent this.
    pub holds_lease: bool,
}

/// One controller member's acknowledgement of a heartbeat: its grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// The acknowledged heartbeat's `sent_ms`, echoed.
    pub sent_ms: u64,
    /// The lease granted from that send time (the timing profile's `lease`).
    pub lease: Millis,
    /// The acknowledging member.
    pub member: u64,
    /// How many members vote, as that member knows it.
    pub voters: u32,
    /// The leader as that member knows it, with its term (`None`: none known).
    pub leader: Option<(u64, String)>,
    /// The timing profile's heartbeat interval as that member applies it (`None`: not said).
    pub heartbeat: Option<Millis>,
    /// The profile's terminate budget as that member applies it (`None`: not said).
    pub terminate: Option<Millis>,
}

/// The desired state as the leader streams it: every item is the node's full desired state.
pub type DesiredStream = BoxStream<'static, Result<DesiredNode>>;

/// The link to the controller leader.
#[async_trait]
pub trait ControllerLink: Send + Sync + 'static {
    /// Registers this agent. Called once per agent start, after leftovers are cleaned, and
    /// retried until it succeeds.
    async fn register(&self, registration: Registration) -> Result<Registered>;

    /// Sends one heartbeat to every controller member and yields each acknowledgement as it
    /// arrives (a member that refuses or fails yields an error). The agent bounds the wait; an
    /// acknowledgement that never comes simply does not extend the lease.
    fn heartbeat(&self, heartbeat: Heartbeat) -> BoxStream<'static, Result<HeartbeatAck>>;

    /// Subscribes to this node's desired state. The stream's first item is the full current
    /// state; the agent subscribes again after an error, after the stream ends, and after it
    /// regains an expired lease.
    async fn desired(&self, node: &str) -> Result<DesiredStream>;

    /// Delivers reports, in order; `first` numbers the first of them, the rest follow it. On
    /// error the agent sends the same batch again, with the same numbers.
    async fn report(&self, first: ReportMark, reports: Vec<AgentReport>) -> Result<()>;
}
