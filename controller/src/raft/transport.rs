//! `Transport`: how a member's raft messages reach its peers. The member hands messages over
//! and moves on; delivery is best effort, as raft expects (it resends what matters).
//!
//! Implementations: [`super::grpc::GrpcTransport`] (tonic, one client stream per peer, over
//! TCP or any connector, e.g. turmoil's simulated network) and [`LocalTransport`] (in-process,
//! for tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use raft::prelude::Message;

use super::config::Members;
use super::handle::RaftNode;

/// Sends raft messages to peers, addressed by member id.
///
/// `send` must not block (it is called from the member's Ready loop): queue, and drop what
/// cannot be queued or delivered. Messages to a member with no known address are dropped.
/// `set_members` is called at start and after every membership change with every member's
/// address (this member's included); it must stop sending to members no longer listed.
///
/// Related types: [`Message`] (raft-rs's, encoded with its own codec on the wire),
/// [`Members`], [`RaftNode::step`] (the receiving side).
pub trait Transport: Send + Sync + 'static {
    /// Queues messages for their `to` members.
    fn send(&self, msgs: Vec<Message>);
    /// The members and their addresses now.
    fn set_members(&self, members: &Members);
}

/// In-process transport: members of one test process reach each other through their
/// handles. A member not (or no longer) registered is unreachable.
#[derive(Clone, Debug, Default)]
pub struct LocalTransport {
    nodes: Arc<Mutex<HashMap<u64, RaftNode>>>,
}

impl LocalTransport {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes member `node` reachable (again).
    pub fn register(&self, node: RaftNode) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(node.id(), node);
        }
    }

    /// Makes member `id` unreachable.
    pub fn unregister(&self, id: u64) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.remove(&id);
        }
    }
}

impl Transport for LocalTransport {
    fn send(&self, msgs: Vec<Message>) {
        let Ok(nodes) = self.nodes.lock() else { return };
        for m in msgs {
            if let Some(n) = nodes.get(&m.to) {
                let _ = n.step(vec![m]);
            }
        }
    }

    fn set_members(&self, _members: &Members) {}
}
