//! A single-member store in memory: always the leader, applies at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::{Applied, AppliedEvents, Leadership, MemberInfo, MemberView, Store, StoreError};
use crate::db::{ClusterDb, Command};

/// One member, in memory. Clones share it.
#[derive(Clone, Debug)]
pub struct LocalStore {
    db: Arc<Mutex<ClusterDb>>,
    applied: broadcast::Sender<AppliedEvents>,
    leader: watch::Sender<Leadership>,
}

impl LocalStore {
    /// A store holding `db`, leading as member 1 at `address`.
    pub fn new(db: ClusterDb, address: &str) -> Self {
        let (applied, _) = broadcast::channel(4096);
        let info = Leadership {
            is_leader: true,
            leader_id: 1,
            leader_address: Some(address.to_string()),
            term: 1,
        };
        LocalStore {
            db: Arc::new(Mutex::new(db)),
            applied,
            leader: watch::Sender::new(info),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClusterDb> {
        // A panic while applying is a bug that already failed a test; the data stays usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for LocalStore {
    async fn propose(&self, cmd: Command) -> Result<Applied, StoreError> {
        let (revision, result) = {
            let mut db = self.lock();
            let result = db.apply(cmd);
            (db.revision, result)
        };
        if let Ok(events) = &result {
            let _ = self.applied.send(AppliedEvents {
                revision,
                events: events.clone(),
            });
        }
        Ok(Applied { revision, result })
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        Ok(f(&self.lock()))
    }

    async fn read_local<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        Ok(f(&self.lock()))
    }

    fn member_id(&self) -> u64 {
        1
    }

    fn subscribe_applied(&self) -> broadcast::Receiver<AppliedEvents> {
        self.applied.subscribe()
    }

    fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leader.subscribe()
    }

    async fn members(&self) -> Result<Vec<MemberInfo>, StoreError> {
        let address = self
            .leader
            .borrow()
            .leader_address
            .clone()
            .unwrap_or_default();
        Ok(vec![MemberInfo {
            id: 1,
            address,
            voter: true,
        }])
    }

    async fn member_view(&self) -> Result<MemberView, StoreError> {
        let revision = self.lock().revision;
        Ok(MemberView {
            id: 1,
            role: crate::raft::Role::Leader,
            leader: 1,
            term: 1,
            commit: revision,
            applied: revision,
            members: self.members().await?,
            progress: Vec::new(),
        })
    }

    async fn add_member(&self, id: u64, _address: String) -> Result<(), StoreError> {
        let why = format!("cannot add member {id}: this controller is one member in memory");
        Err(StoreError::invalid("id", why))
    }

    async fn remove_member(&self, id: u64) -> Result<(), StoreError> {
        let why = match id {
            1 => "member 1 is the only voter; a cluster needs one".to_string(),
            _ => format!("member {id} is not a voter (voters: [1])"),
        };
        Err(StoreError::invalid("id", why))
    }

    async fn transfer_leader(&self, to: u64, _within: Duration) -> Result<Leadership, StoreError> {
        match to {
            1 => Ok(self.leader.borrow().clone()),
            _ => Err(StoreError::invalid(
                "to",
                format!("member {to} is not a voter (voters: [1])"),
            )),
        }
    }
}
