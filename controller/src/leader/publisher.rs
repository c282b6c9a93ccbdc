//! Each node's desired state, computed by the leader once per batch of applied commands and
//! published on one watch channel per node (as kube-rs's reflector keeps its store): the agent
//! service only subscribes, and a node is sent a new desired state only when its own changed.
//!
//! ```text
//!  leader: first read (quorum) ─┐
//!  applied commands (batched) ──┴▶ db.desired_all() ──▶ DesiredBoard: one watch per node
//!                                                          ▲ AgentService.Desired subscribes
//! ```
//!
//! The first read of a term asks a quorum, so a new leader never publishes a state older than
//! what its predecessor sent; later reads follow this member's applied commands, which are at
//! least as new. When the term ends the board is emptied: nothing stale is sent in the next.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nonstop_contract::DesiredNode;
use tokio::sync::{broadcast, watch};
use tracing::warn;

use crate::store::{Store, drain};

/// One node's desired state as published: `None` until this term's first computation.
pub type Published = Option<Arc<DesiredNode>>;

/// The per-node watch channels. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct DesiredBoard {
    nodes: Arc<Mutex<HashMap<String, watch::Sender<Published>>>>,
}

impl DesiredBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<Published>>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `node`'s desired state: the receiver holds the latest (`None` before the
    /// leader's first computation of its term).
    pub fn subscribe(&self, node: &str) -> watch::Receiver<Published> {
        self.lock()
            .entry(node.to_string())
            .or_insert_with(|| watch::Sender::new(None))
            .subscribe()
    }

    /// Publishes every node's desired state; a node nobody follows yet gets a channel, and a
    /// followed node that `all` does not name (removed from the cluster) is told to run
    /// nothing. Only the channels whose value changed wake their subscribers. Returns how many
    /// did.
    pub fn publish(&self, mut all: BTreeMap<String, DesiredNode>) -> usize {
        let mut nodes = self.lock();
        // A channel nobody follows and that names no node of the cluster is dropped.
        nodes.retain(|name, tx| all.contains_key(name) || tx.receiver_count() > 0);
        for name in nodes.keys() {
            if !all.contains_key(name) {
                all.insert(name.clone(), DesiredNode::nothing(name));
            }
        }
        let mut woken = 0;
        for (name, desired) in all {
            let tx = nodes
                .entry(name)
                .or_insert_with(|| watch::Sender::new(None));
            tx.send_if_modified(|old| {
                if old.as_deref() == Some(&desired) {
                    return false;
                }
                *old = Some(Arc::new(desired));
                woken += 1;
                true
            });
        }
        woken
    }

    /// Forgets every published state (the term ended): subscribers wait for the next leader.
    pub fn clear(&self) {
        for tx in self.lock().values() {
            tx.send_if_modified(|old| old.take().is_some());
        }
    }
}

/// Publishes while this member leads: the first computation from a quorum read, then one
/// after each batch of applied commands. Never returns on its own; the caller ends it with the
/// term and then calls [`DesiredBoard::clear`].
pub async fn publish<S: Store>(store: &S, board: &DesiredBoard) {
    let mut applied = store.subscribe_applied();
    loop {
        match store.read(|db| db.desired_all()).await {
            Ok(all) => {
                board.publish(all);
                break;
            }
            Err(e) => {
                warn!(%e, "cannot read the desired state yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    loop {
        match applied.recv().await {
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            _ => drain(&mut applied),
        }
        match store.read_local(|db| db.desired_all()).await {
            Ok(all) => {
                board.publish(all);
            }
            Err(e) => warn!(%e, "cannot compute the desired state"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(node: &str, epoch: u64) -> DesiredNode {
        DesiredNode {
            epoch,
            ..DesiredNode::nothing(node)
        }
    }

    fn board_of(nodes: &[(&str, u64)]) -> BTreeMap<String, DesiredNode> {
        nodes
            .iter()
            .map(|(n, e)| (n.to_string(), desired(n, *e)))
            .collect()
    }

    #[test]
    fn only_the_nodes_whose_desired_state_changed_are_woken() {
        let board = DesiredBoard::new();
        let mut a = board.subscribe("a");
        let mut b = board.subscribe("b");
        assert_eq!(
            *a.borrow_and_update(),
            None,
            "nothing before the first computation"
        );
        assert_eq!(board.publish(board_of(&[("a", 1), ("b", 1)])), 2);
        assert!(a.has_changed().unwrap() && b.has_changed().unwrap());
        a.borrow_and_update();
        b.borrow_and_update();
        assert_eq!(board.publish(board_of(&[("a", 2), ("b", 1)])), 1);
        assert!(a.has_changed().unwrap());
        assert!(
            !b.has_changed().unwrap(),
            "b's state is the same: not woken"
        );
        assert_eq!(a.borrow_and_update().as_deref(), Some(&desired("a", 2)));
    }

    #[test]
    fn a_followed_node_that_left_the_cluster_is_told_to_run_nothing() {
        let board = DesiredBoard::new();
        board.publish(board_of(&[("a", 3)]));
        let mut a = board.subscribe("a");
        assert_eq!(a.borrow_and_update().as_deref(), Some(&desired("a", 3)));
        board.publish(board_of(&[]));
        assert_eq!(
            a.borrow_and_update().as_deref(),
            Some(&DesiredNode::nothing("a"))
        );
    }

    #[test]
    fn a_new_term_starts_from_nothing() {
        let board = DesiredBoard::new();
        board.publish(board_of(&[("a", 3)]));
        let mut a = board.subscribe("a");
        a.borrow_and_update();
        board.clear();
        assert!(a.has_changed().unwrap());
        assert_eq!(*a.borrow_and_update(), None);
        let late = board.subscribe("a");
        assert_eq!(
            *late.borrow(),
            None,
            "a subscriber after the term sees nothing stale"
        );
    }
}
