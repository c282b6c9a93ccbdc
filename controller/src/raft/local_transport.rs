//! [`LocalTransport`]: members of one test process reach each other through their handles,
//! without a network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use raft::prelude::Message;

use super::handle::RaftNode;
use super::transport::Transport;
use super::types::Members;

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
