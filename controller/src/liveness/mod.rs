//! Whether a node is Up or Down, owned in one place. Every member grants leases to the agents
//! that heartbeat it (witness.rs, the quorum lease); the leader alone turns what it hears into
//! commands: a node heard from again is brought Up, a node silent past `node_timeout` for a
//! majority of the voters (jury.rs) is declared Down.
//!
//! ```text
//!  applied commands ──▶ roster (every member: each node's liveness, the timing, the voters)
//!  agent ──Heartbeat──▶ Liveness::heard ──▶ Witness grants a lease ──(leader, node not Up)──▶ NodeUp
//!  leader's tick ──▶ Liveness::sweep ──silent here──▶ Jury asks the voters ──majority──▶ NodeDown
//!  leader's tick ──▶ Liveness::sweep_witnesses ──raft progress (members.rs)──▶ NodeUp / NodeDown
//! ```
//!
//! A witness runs no agent and never heartbeats: its liveness is its controller member's, as
//! the leader's raft sees it (members.rs).
//!
//! The roster is what a heartbeat needs to know, kept current by one task per member that reads
//! the database once per batch of applied commands: a heartbeat costs a lock and a lookup,
//! never a trip through the raft loop, however many nodes heartbeat.

mod jury;
mod members;
mod roster;
mod shared;
mod witness;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, warn};

pub use jury::{Jury, Tally};
pub use members::{MIN_WINDOW, MemberWatch};
pub use roster::{NodeView, Roster};
pub use shared::SharedWitness;
pub use witness::{Verdict, Witness};

use crate::db::model::Liveness as NodeLiveness;
use crate::db::{Command, Op};
use crate::store::{Store, StoreError};
use crate::time::Time;

/// A member's witness, starting now, that keeps its suspicions in memory only (tests).
pub fn witness() -> SharedWitness {
    SharedWitness::new(None)
}

/// Why a heartbeat gets no lease. Nothing is recorded for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The node is not in the cluster's database.
    #[error("unknown node {0:?}: add it to the cluster first")]
    UnknownNode(String),
    /// The node was evicted.
    #[error("node {0:?} was evicted: resume it first")]
    Evicted(String),
    /// This member found the node silent and promised a majority not to grant it anything.
    #[error(
        "member {member} found node {node:?} silent and grants it no lease for another {left_ms} ms"
    )]
    Suspected {
        /// The node.
        node: String,
        /// This member.
        member: u64,
        /// How much longer.
        left_ms: u128,
    },
    /// The node is a witness: it runs no agent.
    #[error(
        "node {0:?} is a witness in the cluster's configuration: it runs no resources, so its \
         node.yaml must have no `agent` (or set witness: false)"
    )]
    Witness(String),
    /// This member has not read its database yet (it is starting).
    #[error("this member is starting and has not read the cluster's database yet")]
    NotReady,
    /// Bringing the node Up failed (the store's reason).
    #[error("{0}")]
    Store(StoreError),
}

/// One member's liveness duties. Clones share them.
#[derive(Clone, Debug)]
pub struct Liveness<S> {
    store: S,
    witness: SharedWitness,
    roster: watch::Receiver<Option<Arc<Roster>>>,
    /// Nodes whose NodeUp this member is proposing now (one proposal, not one per heartbeat).
    raising: Arc<Mutex<HashSet<String>>>,
}

impl<S: Store> Liveness<S> {
    /// The duties of the member behind `store`, whose heartbeat view is `witness`. Starts the
    /// task that keeps the roster (it ends with the store's applied-commands channel).
    pub fn start(store: S, witness: SharedWitness) -> Self {
        let roster = roster::follow(store.clone());
        Liveness {
            store,
            witness,
            roster,
            raising: Arc::default(),
        }
    }

    /// The store it proposes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// This member's view of the heartbeats.
    pub fn witness(&self) -> &SharedWitness {
        &self.witness
    }

    /// The roster as this member last read it (`None` until the first read).
    pub fn roster(&self) -> Option<Arc<Roster>> {
        self.roster.borrow().clone()
    }

    /// A heartbeat from `node`, sent while its agent held its lease or not: grants it a lease
    /// unless this member suspects it, and on the leader brings it Up when it is not and its
    /// agent holds its lease (one that does not, although heard, cannot run anything: its
    /// acknowledgements do not reach it). Returns the roster the grant was made under.
    pub async fn heard(
        &self,
        node: &str,
        holds_lease: bool,
    ) -> Result<(Arc<Roster>, NodeView), Refused> {
        let roster = self.roster().ok_or(Refused::NotReady)?;
        let view = roster.admit(node)?;
        self.grant(node, roster.lease_ms, holds_lease)?;
        if holds_lease {
            self.bring_up(node, view).await?;
        }
        Ok((roster, view))
    }

    /// Registration of `node`'s agent, from the database as a quorum sees it (a node added a
    /// moment ago registers): admitted and granted a lease like a heartbeat from an agent that
    /// holds none yet. The node comes Up with its first heartbeat sent under its lease.
    pub async fn registered(&self, node: &str) -> Result<(Arc<Roster>, NodeView), Refused> {
        let roster = self
            .store
            .read(|db| Roster::of(db, Vec::new()))
            .await
            .map_err(Refused::Store)?;
        let view = roster.admit(node)?;
        if view.witness {
            return Err(Refused::Witness(node.to_string()));
        }
        self.grant(node, roster.lease_ms, false)?;
        Ok((Arc::new(roster), view))
    }

    fn grant(&self, node: &str, lease_ms: u64, alive: bool) -> Result<(), Refused> {
        let lease = Duration::from_millis(lease_ms);
        let now = Instant::now();
        let mut w = self.witness.lock();
        w.heard(node, now, lease, alive)
            .map_err(|until| Refused::Suspected {
                node: node.to_string(),
                member: self.store.member_id(),
                left_ms: until.saturating_duration_since(now).as_millis(),
            })
    }

    /// On the leader, proposes NodeUp for a node heard from that is not Up; one proposal at a
    /// time per node, the other heartbeats meanwhile go on.
    async fn bring_up(&self, node: &str, view: NodeView) -> Result<(), Refused> {
        if view.liveness == NodeLiveness::Up || !self.store.leadership().borrow().is_leader {
            return Ok(());
        }
        if !self.lock_raising().insert(node.to_string()) {
            return Ok(());
        }
        let op = Op::NodeUp {
            node: node.to_string(),
        };
        let r = self.store.propose(Command::liveness(Time::now(), op)).await;
        self.lock_raising().remove(node);
        let applied = r.map_err(Refused::Store)?;
        if let Err(e) = applied.result {
            debug!(%node, %e, "NodeUp not applied");
        }
        Ok(())
    }

    fn lock_raising(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.raising.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leader's sweep: proposes NodeDown for every Up node that this member has not heard
    /// from for the node timeout and that a majority of the voting members find silent too.
    pub async fn sweep(&self, jury: &Jury) {
        // This member's roster is enough: every NodeDown still needs the members' verdict,
        // and one for a node already Down changes nothing. No quorum round every tick.
        let Some(roster) = self.roster() else { return };
        let timeout = Duration::from_millis(roster.node_timeout_ms);
        let lease = Duration::from_millis(roster.lease_ms);
        let now = Instant::now();
        let candidates: Vec<(String, Duration)> = {
            let w = self.witness.lock();
            roster
                .nodes_up()
                .filter(|n| w.looks_silent(n, now, timeout))
                .map(|n| (n.to_string(), w.silence(n, now)))
                .collect()
        };
        for (node, silence) in candidates {
            let Some(tally) = jury.ask(&self.store, &node, timeout, lease).await else {
                continue;
            };
            if !tally.is_down() {
                debug!(%node, ?tally, "silent here, not for a majority of the members");
                continue;
            }
            let reason = format!(
                "no heartbeat for {} ms ({} of {} members agree)",
                silence.as_millis(),
                tally.silent,
                tally.voters
            );
            warn!(%node, %reason, "declaring node Down");
            let cmd = Command::liveness(Time::now(), Op::NodeDown { node, reason });
            if let Err(e) = self.store.propose(cmd).await {
                warn!(%e, "could not declare a node Down");
            }
        }
    }

    /// The leader's sweep of the witnesses: brings Up a witness whose controller member the
    /// leader's raft has seen within the window, declares Down one it has not (members.rs).
    /// `watch` is what this leader has seen of the members during its term.
    pub async fn sweep_witnesses(&self, watch: &mut MemberWatch) {
        let Some(roster) = self.roster() else { return };
        if roster.witnesses.is_empty() {
            return;
        }
        let view = match self.store.member_view().await {
            Ok(v) if !v.progress.is_empty() => v,
            Ok(_) => return, // not leading (any more): no progress to read
            Err(e) => {
                debug!(%e, "cannot read the members' progress");
                return;
            }
        };
        let now = Instant::now();
        watch.observe(&view, now);
        for op in watch.verdicts(&roster, &view, now) {
            if let Op::NodeDown { node, reason } = &op {
                warn!(%node, %reason, "declaring witness Down");
            }
            let line = op.to_string();
            match self.store.propose(Command::liveness(Time::now(), op)).await {
                Ok(a) => {
                    if let Err(e) = a.result {
                        debug!(op = %line, %e, "witness liveness not applied");
                    }
                }
                Err(e) => warn!(op = %line, %e, "could not propose a witness's liveness"),
            }
        }
    }
}
