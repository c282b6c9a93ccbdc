//! A member that does not lead: it reads the leader's database (as a caught-up follower does)
//! and refuses every write with the leader's address, or, with no leader known, refuses
//! everything as a member in an election does.

use nonstop_controller::ClusterDb;
use nonstop_controller::store::{
    Applied, AppliedEvents, Leadership, LocalStore, MemberInfo, MemberView, Store, StoreError,
};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The follower's view over the leader's store.
#[derive(Clone, Debug)]
pub struct Follower {
    pub inner: LocalStore,
    /// The leader's address (host:port); `None`: no leader elected.
    pub leader: Option<String>,
}

impl Store for Follower {
    async fn propose(&self, _: nonstop_controller::Command) -> Result<Applied, StoreError> {
        Err(match &self.leader {
            Some(l) => StoreError::NotLeader {
                leader: Some(l.clone()),
            },
            None => StoreError::NoLeader,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.leader {
            Some(_) => self.inner.read(f).await,
            None => Err(StoreError::NoLeader),
        }
    }

    async fn read_local<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.inner.read_local(f).await
    }

    fn member_id(&self) -> u64 {
        2
    }

    fn subscribe_applied(&self) -> broadcast::Receiver<AppliedEvents> {
        self.inner.subscribe_applied()
    }

    fn leadership(&self) -> watch::Receiver<Leadership> {
        let info = Leadership {
            is_leader: false,
            leader_id: 1,
            leader_address: self.leader.clone(),
            term: 1,
        };
        // The receiver keeps the value after the sender is gone.
        watch::channel(info).1
    }

    async fn members(&self) -> Result<Vec<MemberInfo>, StoreError> {
        self.inner.members().await
    }

    async fn member_view(&self) -> Result<MemberView, StoreError> {
        let mut view = self.inner.member_view().await?;
        view.role = nonstop_controller::raft::Role::Follower;
        view.leader = if self.leader.is_some() { 1 } else { 0 };
        Ok(view)
    }

    async fn add_member(&self, _: u64, _: String) -> Result<(), StoreError> {
        Err(self.refusal())
    }

    async fn remove_member(&self, _: u64) -> Result<(), StoreError> {
        Err(self.refusal())
    }

    async fn transfer_leader(&self, _: u64, _: Duration) -> Result<Leadership, StoreError> {
        Err(self.refusal())
    }
}

impl Follower {
    /// What a follower answers to a change: go to the leader (or wait for one).
    fn refusal(&self) -> StoreError {
        match &self.leader {
            Some(l) => StoreError::NotLeader {
                leader: Some(l.clone()),
            },
            None => StoreError::NoLeader,
        }
    }
}
