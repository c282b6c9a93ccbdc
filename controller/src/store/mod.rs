//! The replicated cluster database as the rest of the controller sees it: propose a command,
//! read the database, follow what is applied, know who leads. The raft member implements it
//! for real; [`LocalStore`] is a single member in memory, for tests and the simulator's kin.

mod local;
mod raft;

use std::future::Future;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::db::{ClusterDb, Command};

/// What a store says of an applied command, to its proposer ([`Applied`]) and to every
/// subscriber ([`AppliedEvents`]), and who leads ([`Leadership`]): the raft member's own
/// types, whichever store answers.
pub use crate::raft::{Applied, AppliedEvents, Leadership};
pub use local::LocalStore;
pub use raft::RaftStore;

/// Why a store call failed. Callers may retry all but `Fatal` and `Stopped` (which another
/// member may serve).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// This member does not lead; the leader is there.
    #[error("not the leader; the leader is {}", .leader.as_deref().unwrap_or("unknown"))]
    NotLeader {
        /// The leader's address, if known.
        leader: Option<String>,
    },
    /// No leader is elected yet.
    #[error("no leader yet: the controller members are electing one")]
    NoLeader,
    /// The command was dropped (leadership changed before it committed); it may be retried.
    #[error("the proposal was dropped: {0}")]
    Dropped(String),
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A request with a bad argument, or one the members' configuration refuses (removing
    /// the last voter); nothing changed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The request field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// This member's raft member has stopped (its daemon is about to exit and be restarted):
    /// another member can answer.
    #[error("this controller member is stopped ({0}); another member can answer")]
    Stopped(String),
    /// The member cannot go on (its storage failed).
    #[error("fatal: {0}")]
    Fatal(String),
}

impl StoreError {
    /// A refused request field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// The replicated database.
pub trait Store: Clone + Send + Sync + 'static {
    /// Proposes a command and waits until it is applied on this member.
    fn propose(&self, cmd: Command) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Reads the database (linearizable: it sees every command committed before the call).
    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static;

    /// Reads the database as this member has applied it, without asking a quorum (it may
    /// miss what was committed a moment ago; for what changes rarely, on hot paths).
    fn read_local<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
        T: Send + 'static;

    /// This member's raft id.
    fn member_id(&self) -> u64;

    /// Every command applied on this member from now on, with its events.
    fn subscribe_applied(&self) -> broadcast::Receiver<AppliedEvents>;

    /// Who leads, as this member sees it.
    fn leadership(&self) -> watch::Receiver<Leadership>;

    /// The controller members: id, address, and whether each votes.
    fn members(&self) -> impl Future<Output = Result<Vec<MemberInfo>, StoreError>> + Send;

    /// The members as this member sees them, with the leader's replication progress when this
    /// member leads.
    fn member_view(&self) -> impl Future<Output = Result<MemberView, StoreError>> + Send;

    /// Adds voting member `id`, reachable at `address`.
    fn add_member(
        &self,
        id: u64,
        address: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes member `id`. Refuses to remove the last voter. When `id` leads, leadership goes
    /// to another voter first; if `id` is this very member, the answer is then `NotLeader`
    /// naming the new leader, which removes it (a removed member may never learn that its own
    /// removal committed).
    fn remove_member(&self, id: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Hands leadership to voter `to`; waits up to `within` until it leads and returns the
    /// leadership then (`Timeout` if it does not lead in time).
    fn transfer_leader(
        &self,
        to: u64,
        within: Duration,
    ) -> impl Future<Output = Result<Leadership, StoreError>> + Send;

    /// Member `dead`, which this member follows, is gone: campaign now rather than after an
    /// election timeout. Whether it campaigned (a store without elections never does).
    fn campaign_after(&self, dead: u64) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = dead;
        async { Ok(false) }
    }
}

/// Takes every command applied meanwhile from `rx`, after one was received: one read of the
/// database then covers them all (a subscriber that recomputes per command falls behind).
pub fn drain(rx: &mut broadcast::Receiver<AppliedEvents>) {
    use broadcast::error::TryRecvError;
    loop {
        match rx.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => return,
        }
    }
}

/// The controller members as one member sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// The member that answers.
    pub id: u64,
    /// Its raft role.
    pub role: crate::raft::Role,
    /// The leader's id (0: none known) and the term.
    pub leader: u64,
    /// The raft term.
    pub term: u64,
    /// The highest index it knows committed, and the highest it applied.
    pub commit: u64,
    /// The highest index it applied to its database.
    pub applied: u64,
    /// Every member.
    pub members: Vec<MemberInfo>,
    /// The leader's view of each member's log (empty unless this member leads).
    pub progress: Vec<crate::raft::Progress>,
}

impl MemberView {
    /// Member `id`'s address, if it is a member.
    pub fn address(&self, id: u64) -> Option<&str> {
        let m = self.members.iter().find(|m| m.id == id);
        m.map(|m| m.address.as_str())
    }
}

/// One controller member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its raft id.
    pub id: u64,
    /// Its gRPC address.
    pub address: String,
    /// Whether it votes (a member being added may not yet).
    pub voter: bool,
}
