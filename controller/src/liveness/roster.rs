//! What a heartbeat needs to know of the cluster, as this member applied it: each node's
//! liveness, the timing profile and the voting members. One task per member rebuilds it after
//! each batch of applied commands (and every second, for member changes), and publishes it on a
//! watch: heartbeats read it without a trip through the raft loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tracing::warn;

use super::Refused;
use crate::db::ClusterDb;
use crate::db::model::Liveness as NodeLiveness;
use crate::store::{Store, drain};

/// What a heartbeat needs to know of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// Up, Down, ...
    pub liveness: NodeLiveness,
    /// Evicted nodes get no lease.
    pub evicted: bool,
    /// A witness runs no agent.
    pub witness: bool,
}

/// The cluster as a heartbeat sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    nodes: HashMap<String, NodeView>,
    /// The timing profile's heartbeat interval.
    pub heartbeat_ms: u64,
    /// The lease a heartbeat's acknowledgement grants.
    pub lease_ms: u64,
    /// The terminate budget.
    pub terminate_ms: u64,
    /// How long a node may be silent before it is suspected.
    pub node_timeout_ms: u64,
    /// The voting members' addresses.
    pub voters: Vec<String>,
    /// Each witness node's `address` in the configuration (where its controller member
    /// listens), by name: its liveness is its member's (members.rs), not heartbeats'.
    pub witnesses: Vec<(String, Option<String>)>,
}

impl Roster {
    /// The roster of `db`, with the voting members' addresses.
    pub fn of(db: &ClusterDb, voters: Vec<String>) -> Roster {
        let t = &db.settings.timing;
        let nodes = db.nodes.iter().map(|(name, n)| {
            let view = NodeView {
                liveness: n.liveness,
                evicted: n.evicted,
                witness: n.spec.witness,
            };
            (name.clone(), view)
        });
        let witnesses = (db.nodes.iter())
            .filter(|(_, n)| n.spec.witness)
            .map(|(name, n)| (name.clone(), n.spec.address.clone()));
        Roster {
            nodes: nodes.collect(),
            heartbeat_ms: t.heartbeat.0,
            lease_ms: t.lease.0,
            terminate_ms: t.terminate.0,
            node_timeout_ms: t.node_timeout.0,
            voters,
            witnesses: witnesses.collect(),
        }
    }

    /// `node` as the roster knows it, if it may hold a lease.
    pub fn admit(&self, node: &str) -> Result<NodeView, Refused> {
        let view = *self
            .nodes
            .get(node)
            .ok_or_else(|| Refused::UnknownNode(node.to_string()))?;
        if view.evicted {
            return Err(Refused::Evicted(node.to_string()));
        }
        Ok(view)
    }

    /// `node` as the roster knows it.
    pub fn node(&self, node: &str) -> Option<NodeView> {
        self.nodes.get(node).copied()
    }

    /// The nodes that are Up and heartbeat (a witness's liveness is its member's).
    pub fn nodes_up(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|(_, v)| v.liveness == NodeLiveness::Up && !v.witness)
            .map(|(n, _)| n.as_str())
    }

    /// How many members vote (at least 1).
    pub fn voter_count(&self) -> u32 {
        (self.voters.len() as u32).max(1)
    }
}

/// How often the roster is read again when nothing is applied (member changes are not
/// commands of the database).
const REFRESH: Duration = Duration::from_secs(1);

/// Starts the task that keeps `store`'s roster; the watch holds `None` until the first read.
pub fn follow<S: Store>(store: S) -> watch::Receiver<Option<Arc<Roster>>> {
    let (tx, rx) = watch::channel(None);
    let mut applied = store.subscribe_applied();
    tokio::spawn(async move {
        loop {
            if let Some(r) = read(&store).await {
                tx.send_if_modified(|old| {
                    let changed = old.as_deref() != Some(&r);
                    if changed {
                        *old = Some(Arc::new(r));
                    }
                    changed
                });
            }
            tokio::select! {
                r = applied.recv() => match r {
                    Err(broadcast::error::RecvError::Closed) => return,
                    _ => drain(&mut applied),
                },
                _ = tokio::time::sleep(REFRESH) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

async fn read<S: Store>(store: &S) -> Option<Roster> {
    let voters = match store.members().await {
        Ok(m) => m
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.address)
            .collect(),
        Err(e) => {
            warn!(%e, "cannot list the members for the roster");
            return None;
        }
    };
    match store.read_local(move |db| Roster::of(db, voters)).await {
        Ok(r) => Some(r),
        Err(e) => {
            warn!(%e, "cannot read the database for the roster");
            None
        }
    }
}
