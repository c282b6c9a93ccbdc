//! [`RaftNode`]: the cheap-to-clone handle callers use. Every call is a message to the one
//! task that owns the member (see `node.rs`); answers come back on a oneshot channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::prelude::Message;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::config::{Members, RaftConfig};
use super::error::{RaftError, Result};
use super::log_storage::LogStorage;
use super::node::{Request, spawn_member};
use super::transport::Transport;
use super::waiters::ReadFn;
use crate::db::{ApplyError, ClusterDb, Command, Event};

/// A command applied on this member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The raft log index it was committed at.
    pub index: u64,
    /// What the database said: the events, or why it rejected the command (a rejected command
    /// is still committed, and changed nothing).
    pub result: std::result::Result<Vec<Event>, ApplyError>,
}

/// Who leads, as this member sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leadership {
    /// This member is the leader.
    pub is_leader: bool,
    /// The leader's raft id (0 when none is known).
    pub leader: u64,
    /// The current term.
    pub term: u64,
}

/// A member's raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Checks whether it could win an election (pre-vote).
    PreCandidate,
    /// Runs for leader.
    Candidate,
    /// Leads.
    Leader,
}

/// A snapshot of a member's raft state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    /// This member's raft id.
    pub id: u64,
    /// The current term.
    pub term: u64,
    /// The leader's raft id (0 when none is known).
    pub leader: u64,
    /// This member's role.
    pub role: Role,
    /// The highest index known committed.
    pub commit: u64,
    /// The highest index applied to this member's database.
    pub applied: u64,
    /// The voters.
    pub voters: Vec<u64>,
    /// Members and their addresses.
    pub members: Members,
    /// How far each member's log matches the leader's, by member id (filled on the leader
    /// only: followers do not track it).
    pub progress: Vec<Progress>,
    /// Messages from peers dropped since start because a field could not be right (see
    /// docs/daemon.md; correct members never send one).
    pub refused: u64,
}

/// A member's replication progress, as the leader tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The member's raft id.
    pub id: u64,
    /// The highest log index known to match the leader's.
    pub matched: u64,
    /// The next index the leader sends it.
    pub next_index: u64,
    /// How the leader sends to it: `probe` (finding where the logs match), `replicate`
    /// (streaming entries) or `snapshot` (sending a snapshot).
    pub state: &'static str,
    /// Whether it answered within the last election timeout.
    pub recent_active: bool,
}

/// Why a member's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It was asked to ([`RaftNode::shutdown`]), or every handle was dropped.
    Requested,
    /// It could not go on: the storage error (naming the file) or the panic inside raft-rs
    /// that ended it.
    Failed(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Requested => f.write_str("stopped on request"),
            Exit::Failed(why) => f.write_str(why),
        }
    }
}

/// A handle on a running controller member. Clones share the member.
#[derive(Clone)]
pub struct RaftNode {
    id: u64,
    timeout: Duration,
    tx: mpsc::Sender<Request>,
    leadership: watch::Receiver<Leadership>,
    exit: watch::Receiver<Option<Exit>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode").field("id", &self.id).finish()
    }
}

impl RaftNode {
    /// Starts a member on `log` (bootstrapping it if it is new and `config.bootstrap`),
    /// sending through `transport`. Must be called inside a tokio runtime.
    pub fn start<S: LogStorage, T: Transport>(
        config: RaftConfig,
        log: S,
        transport: T,
    ) -> Result<RaftNode> {
        config.validate()?;
        let (id, timeout) = (config.id, config.request_timeout);
        let (tx, rx) = mpsc::channel(4096);
        let (lead_tx, leadership) = watch::channel(Leadership::default());
        let (exit_tx, exit) = watch::channel(None);
        let task = spawn_member(config, log, transport, rx, lead_tx, exit_tx)?;
        Ok(RaftNode {
            id,
            timeout,
            tx,
            leadership,
            exit,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// This member's raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Proposes a command; resolves when it is applied on this member (a follower forwards it
    /// to the leader). Errors: `NoLeader`, `NotLeader` (forwarding off), `Dropped`, `Timeout`
    /// (may still be applied), `Stopped`, `Fatal`.
    pub async fn propose(&self, cmd: Command) -> Result<Applied> {
        self.ask(|reply| Request::Propose { cmd, reply }).await?
    }

    /// Runs `f` on the database once it reflects every command committed before this call
    /// (linearizable, with raft's ReadIndex).
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
    {
        self.read_by(Request::Read, f).await
    }

    /// Runs `f` on the database as this member has applied it, without asking a quorum: it
    /// may miss commands committed a moment ago (for settings that change rarely).
    pub async fn read_local<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
    {
        self.read_by(Request::ReadLocal, f).await
    }

    async fn read_by<T, F>(&self, request: fn(ReadFn) -> Request, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ClusterDb) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let read: ReadFn = Box::new(move |db: Result<&ClusterDb>| {
            let _ = tx.send(db.map(f));
        });
        self.send(request(read)).await?;
        self.wait(rx).await?
    }

    /// The member's raft state now.
    pub async fn status(&self) -> Result<RaftStatus> {
        self.ask(Request::Status).await
    }

    /// Who leads; changes as elections happen (for the policy loop, which runs on the leader).
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Adds a voting member reachable at `address` (on the leader, or forwarded to it).
    pub async fn add_member(&self, id: u64, address: &str) -> Result<()> {
        if id == 0 {
            return Err(RaftError::invalid("member id", "must not be 0"));
        }
        if address.is_empty() {
            return Err(RaftError::invalid("member address", "must not be empty"));
        }
        let change = (id, Some(address.to_string()));
        self.ask(|reply| Request::ChangeMember { change, reply })
            .await?
            .map(|_| ())
    }

    /// Removes a member (on the leader, or forwarded to it).
    pub async fn remove_member(&self, id: u64) -> Result<()> {
        let change = (id, None);
        self.ask(|reply| Request::ChangeMember { change, reply })
            .await?
            .map(|_| ())
    }

    /// Hands leadership to voter `to` and waits until this member sees it lead, for at most
    /// `within` (raft-rs gives up a transfer after an election timeout; it is asked again
    /// until `within` ends). Returns who leads then. Errors: `Invalid` (`to` is not a voter),
    /// `NoLeader`, `Timeout` (another member may lead, or still the old one).
    pub async fn transfer_leader(&self, to: u64, within: Duration) -> Result<Leadership> {
        let deadline = tokio::time::Instant::now() + within;
        let mut watch = self.leadership();
        loop {
            let now = *watch.borrow_and_update();
            if now.leader == to {
                return Ok(now);
            }
            self.ask(|reply| Request::TransferLeader { to, reply })
                .await??;
            // Ask again after a while: the leader may have dropped the transfer (the target
            // was behind or silent for an election timeout) or leadership moved elsewhere.
            let again = tokio::time::Instant::now() + self.timeout.min(Duration::from_secs(1));
            let until = again.min(deadline);
            while watch.borrow().leader != to {
                match tokio::time::timeout_at(until, watch.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(RaftError::Stopped),
                    Err(_) => break,
                }
            }
            if watch.borrow().leader != to && tokio::time::Instant::now() >= deadline {
                return Err(RaftError::Timeout(within));
            }
        }
    }

    /// Hands raft messages received from peers to the member (drops them if it is
    /// overwhelmed: raft resends what matters). False when the member has stopped.
    pub fn step(&self, msgs: Vec<Message>) -> bool {
        match self.tx.try_send(Request::Step(msgs)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Stops the member gracefully: answers every waiting caller with `Stopped`, closes its
    /// log, and returns when it is closed.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Stops the member at once, as a crash would (nothing more is written). For tests.
    pub fn abort(&self) {
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }

    /// Resolves when the member's task has stopped (and closed its log).
    pub async fn stopped(&self) {
        let _ = self.exit.clone().wait_for(Option::is_some).await;
    }

    /// Waits until the member's task has ended, and says why. A daemon ends when its member
    /// ends without being asked to: a restart from the directory is the way back.
    pub async fn exited(&self) -> Exit {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or(Exit::Requested),
            Err(_) => Exit::Failed("the member's task was aborted".into()),
        }
    }

    /// True while the member's task runs; false once it has ended and closed its log.
    pub fn is_running(&self) -> bool {
        self.exit.borrow().is_none() && self.exit.has_changed().is_ok()
    }

    async fn send(&self, req: Request) -> Result<()> {
        self.tx.send(req).await.map_err(|_| RaftError::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        self.wait(rx).await
    }

    /// Waits for the member's answer; the member answers timeouts itself, this bound only
    /// covers a member that stopped ticking.
    async fn wait<T>(&self, rx: oneshot::Receiver<T>) -> Result<T> {
        match tokio::time::timeout(self.timeout * 2, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(RaftError::Stopped),
            Err(_) => Err(RaftError::Timeout(self.timeout * 2)),
        }
    }
}
