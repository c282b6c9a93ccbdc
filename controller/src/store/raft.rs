//! The raft member as the services' [`Store`]: proposals and linearizable reads go through
//! raft; applied events come from the member's Ready loop; leadership carries the leader's
//! address, so a follower can point agents and operators to it.

use tokio::sync::{broadcast, watch};

use super::{AppliedEvents, Committed, LeaderInfo, MemberInfo, Store, StoreError};
use crate::db::{ClusterDb, Command};
use crate::raft::{Members, RaftError, RaftNode};

/// A raft member. Clones share it.
#[derive(Clone, Debug)]
pub struct RaftStore {
    node: RaftNode,
    applied: broadcast::Sender<AppliedEvents>,
    leader: watch::Receiver<LeaderInfo>,
}

impl RaftStore {
    /// Wraps a started member. `applied` must be the sender given in its `RaftConfig`;
    /// `members` gives the addresses that leadership reports.
    pub fn new(
        node: RaftNode,
        applied: broadcast::Sender<AppliedEvents>,
        members: Members,
    ) -> Self {
        let mut raft = node.leadership();
        let info = move |l: &crate::raft::Leadership| LeaderInfo {
            is_leader: l.is_leader,
            leader_id: l.leader,
            leader_address: members.get(&l.leader).cloned(),
            term: l.term,
        };
        let (tx, rx) = watch::channel(info(&raft.borrow()));
        tokio::spawn(async move {
            while raft.changed().await.is_ok() {
                let now = info(&raft.borrow_and_update());
                if tx.send(now).is_err() {
                    return;
                }
            }
        });
        RaftStore {
            node,
            applied,
            leader: rx,
        }
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
        e => StoreError::Fatal(e.to_string()),
    }
}

impl Store for RaftStore {
    async fn propose(&self, cmd: Command) -> Result<Committed, StoreError> {
        let a = self.node.propose(cmd).await.map_err(store_error)?;
        Ok(Committed {
            revision: a.index,
            result: a.result,
        })
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

    fn applied(&self) -> broadcast::Receiver<AppliedEvents> {
        self.applied.subscribe()
    }

    fn leadership(&self) -> watch::Receiver<LeaderInfo> {
        self.leader.clone()
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
}
