//! The raft member as the services' [`Store`]: proposals, linearizable reads, applied events
//! and leadership are the member's own; this adds the membership checks and views the
//! services need, and turns raft's errors into the store's.

use tokio::sync::{broadcast, watch};

use std::time::Duration;

use super::{Applied, AppliedEvents, Leadership, MemberInfo, MemberView, Store, StoreError};
use crate::db::{ClusterDb, Command};
use crate::metrics::ProposalMetrics;
use crate::raft::{RaftError, RaftNode, RaftStatus};

/// A raft member. Clones share it.
#[derive(Clone, Debug)]
pub struct RaftStore {
    node: RaftNode,
    proposals: ProposalMetrics,
}

impl RaftStore {
    /// Wraps a started member.
    pub fn new(node: RaftNode) -> Self {
        RaftStore {
            node,
            proposals: ProposalMetrics::default(),
        }
    }

    /// The proposals this member made and their latency, for the metrics endpoint.
    pub fn proposal_metrics(&self) -> &ProposalMetrics {
        &self.proposals
    }

    /// The member under the store.
    pub fn node(&self) -> &RaftNode {
        &self.node
    }
}

fn store_error(e: RaftError) -> StoreError {
    match e {
        RaftError::NoLeader => StoreError::NoLeader,
        RaftError::NotLeader { address, .. } => StoreError::NotLeader { leader: address },
        RaftError::Dropped => StoreError::Dropped("leadership changed before it committed".into()),
        RaftError::Timeout(d) => {
            StoreError::Timeout(format!("no answer within {d:?}; it may still apply"))
        }
        RaftError::Invalid { field, reason } => StoreError::Invalid { field, reason },
        RaftError::Stopped => StoreError::Stopped(RaftError::Stopped.to_string()),
        e => StoreError::Fatal(e.to_string()),
    }
}

fn view(s: RaftStatus) -> MemberView {
    let members = s.members.iter().map(|(id, address)| MemberInfo {
        id: *id,
        address: address.clone(),
        voter: s.voters.contains(id),
    });
    MemberView {
        id: s.id,
        role: s.role,
        leader: s.leader,
        term: s.term,
        commit: s.commit,
        applied: s.applied,
        members: members.collect(),
        progress: s.progress,
    }
}

/// Checks that `id` may be removed: a voter, and not the last one.
fn check_removal(s: &RaftStatus, id: u64) -> Result<(), StoreError> {
    if !s.voters.contains(&id) {
        let why = format!("member {id} is not a voter (voters: {:?})", s.voters);
        return Err(StoreError::invalid("id", why));
    }
    if s.voters.len() == 1 {
        let why = format!("member {id} is the only voter; a cluster needs one");
        return Err(StoreError::invalid("id", why));
    }
    Ok(())
}

/// Who should lead instead of `id`: this member when it is another voter (it is running: it
/// answers), else the active voter whose log is furthest along.
fn successor(s: &RaftStatus, id: u64) -> Option<u64> {
    if s.id != id && s.voters.contains(&s.id) {
        return Some(s.id);
    }
    (s.progress.iter())
        .filter(|p| p.id != id && p.recent_active && s.voters.contains(&p.id))
        .max_by_key(|p| p.matched)
        .map(|p| p.id)
}

impl Store for RaftStore {
    async fn propose(&self, cmd: Command) -> Result<Applied, StoreError> {
        let started = std::time::Instant::now();
        let r = self.node.propose(cmd).await.map_err(store_error);
        let result = match &r {
            Ok(a) if a.result.is_ok() => "committed",
            Ok(_) => "refused",
            Err(StoreError::NotLeader { .. } | StoreError::NoLeader) => "not-leader",
            Err(StoreError::Dropped(_)) => "dropped",
            Err(StoreError::Timeout(_)) => "timeout",
            Err(_) => "failed",
        };
        self.proposals.record(result, started.elapsed());
        r
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.node.read(f).await.map_err(store_error)
    }

    async fn read_local<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.node.read_local(f).await.map_err(store_error)
    }

    fn member_id(&self) -> u64 {
        self.node.id()
    }

    fn subscribe_applied(&self) -> broadcast::Receiver<AppliedEvents> {
        self.node.subscribe_applied()
    }

    fn leadership(&self) -> watch::Receiver<Leadership> {
        self.node.leadership()
    }

    async fn members(&self) -> Result<Vec<MemberInfo>, StoreError> {
        let s = self.node.status().await.map_err(store_error)?;
        let members = s.members.iter().map(|(id, address)| MemberInfo {
            id: *id,
            address: address.clone(),
            voter: s.voters.contains(id),
        });
        Ok(members.collect())
    }

    async fn member_view(&self) -> Result<MemberView, StoreError> {
        self.node.status().await.map(view).map_err(store_error)
    }

    async fn add_member(&self, id: u64, address: String) -> Result<(), StoreError> {
        let s = self.node.status().await.map_err(store_error)?;
        if let Some(a) = s.members.get(&id) {
            let why = format!("member {id} already exists (at {a})");
            return Err(StoreError::invalid("id", why));
        }
        if let Some((other, _)) = s.members.iter().find(|(_, a)| **a == address) {
            let why = format!("{address} is member {other}'s address");
            return Err(StoreError::invalid("address", why));
        }
        self.node
            .add_member(id, &address)
            .await
            .map_err(store_error)
    }

    async fn remove_member(&self, id: u64) -> Result<(), StoreError> {
        let s = self.node.status().await.map_err(store_error)?;
        check_removal(&s, id)?;
        if s.leader == id {
            // raft-rs lets a removed leader go on leading a configuration it is not part of:
            // hand leadership over first.
            let Some(to) = successor(&s, id) else {
                let why = format!("member {id} leads and no other voter is active to take over");
                return Err(StoreError::invalid("id", why));
            };
            let within = TRANSFER_BEFORE_REMOVAL;
            self.node.transfer_leader(to, within).await.map_err(|e| {
                let why = format!(
                    "member {id} leads, and handing leadership to member {to} \
                    first failed ({e}); nothing was removed"
                );
                StoreError::Timeout(why)
            })?;
            if id == s.id {
                let leader = s.members.get(&to).cloned();
                return Err(StoreError::NotLeader { leader });
            }
        }
        self.node.remove_member(id).await.map_err(store_error)
    }

    async fn campaign_after(&self, dead: u64) -> Result<bool, StoreError> {
        self.node.campaign_after(dead).await.map_err(store_error)
    }

    async fn transfer_leader(&self, to: u64, within: Duration) -> Result<Leadership, StoreError> {
        let s = self.node.status().await.map_err(store_error)?;
        if !s.voters.contains(&to) {
            let why = format!("member {to} is not a voter (voters: {:?})", s.voters);
            return Err(StoreError::invalid("to", why));
        }
        self.node
            .transfer_leader(to, within)
            .await
            .map_err(|e| match e {
                RaftError::Timeout(_) => StoreError::Timeout(format!(
                    "member {to} did not take the leadership within {within:?}"
                )),
                e => store_error(e),
            })
    }
}

/// How long removing the leader waits for another member to take over first.
const TRANSFER_BEFORE_REMOVAL: Duration = Duration::from_secs(5);
