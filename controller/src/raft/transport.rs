//! `Transport`: how a member's raft messages reach its peers. The member hands messages over
//! and moves on; delivery is best effort, as raft expects (it resends what matters).
//!
//! Implementations: [`super::grpc::GrpcTransport`] (tonic, one client stream per peer, over
//! TCP or any connector, e.g. turmoil's simulated network) and [`super::LocalTransport`]
//! (in-process, for tests; local_transport.rs).

use raft::prelude::Message;

use super::types::Members;

/// Sends raft messages to peers, addressed by member id.
///
/// `send` must not block (it is called from the member's Ready loop): queue, and drop what
/// cannot be queued or delivered. Messages to a member with no known address are dropped.
/// `set_members` is called at start and after every membership change with every member's
/// address (this member's included); it must stop sending to members no longer listed.
///
/// Related types: [`Message`] (raft-rs's, encoded with its own codec on the wire),
/// [`Members`], [`super::RaftNode::step`] (the receiving side).
pub trait Transport: Send + Sync + 'static {
    /// Queues messages for their `to` members.
    fn send(&self, msgs: Vec<Message>);
    /// The members and their addresses now.
    fn set_members(&self, members: &Members);
}
