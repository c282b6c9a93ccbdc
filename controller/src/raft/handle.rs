//! [`RaftNode`]: the cheap-to-clone handle callers use. Every call is a message to the one
//! task that owns the member (see `node.rs`); answers come back on a oneshot channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::prelude::Message;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::config::RaftConfig;
use super::error::{RaftError, Result};
use super::log_storage::LogStorage;
use super::node::{Outlets, Request, spawn_member};
use super::transport::Transport;
use super::types::{Applied, AppliedEvents, Exit, Leadership, RaftStatus};
use super::waiters::ReadFn;
use crate::db::{ClusterDb, Command};

/// How many applied commands a subscriber may fall behind before it misses some (it is told
/// how many, with `RecvError::Lagged`).
const APPLIED_EVENTS_CAPACITY: usize = 4096;

/// A handle on a running controller member. Clones share the member.
#[derive(Clone)]
pub struct RaftNode {
    id: u64,
    timeout: Duration,
    tx: mpsc::Sender<Request>,
    leadership: watch::Receiver<Leadership>,
    /// The member publishes the events of what it applies here; subscribers take receivers.
    applied: broadcast::Sender<AppliedEvents>,
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
        let (applied, _) = broadcast::channel(APPLIED_EVENTS_CAPACITY);
        let (exit_tx, exit) = watch::channel(None);
        let outlets = Outlets {
            leadership: lead_tx,
            applied: applied.clone(),
            exit: exit_tx,
        };
        let task = spawn_member(config, log, transport, rx, outlets)?;
        Ok(RaftNode {
            id,
            timeout,
            tx,
            leadership,
            applied,
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

    /// The events of every command this member applies from now on, in log order (the
    /// services' watch streams and the leader's policy loop follow them). Commands that
    /// changed nothing are not sent; a subscriber more than 4,096 commands behind misses some.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<AppliedEvents> {
        self.applied.subscribe()
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

    /// Campaigns now if member `dead` is the leader this member follows (its node's watchdog
    /// saw it die); whether it did.
    pub async fn campaign_after(&self, dead: u64) -> Result<bool> {
        self.ask(|reply| Request::CampaignAfter { dead, reply })
            .await
    }

    /// Hands leadership to voter `to` and waits until this member sees it lead, for at most
    /// `within` (raft-rs gives up a transfer after an election timeout; it is asked again
    /// until `within` ends). Returns who leads then. Errors: `Invalid` (`to` is not a voter),
    /// `NoLeader`, `Timeout` (another member may lead, or still the old one).
    pub async fn transfer_leader(&self, to: u64, within: Duration) -> Result<Leadership> {
        let deadline = tokio::time::Instant::now() + within;
        let mut watch = self.leadership();
        loop {
            let now = watch.borrow_and_update().clone();
            if now.leader_id == to {
                return Ok(now);
            }
            self.ask(|reply| Request::TransferLeader { to, reply })
                .await??;
            // Ask again after a while: the leader may have dropped the transfer (the target
            // was behind or silent for an election timeout) or leadership moved elsewhere.
            let again = tokio::time::Instant::now() + self.timeout.min(Duration::from_secs(1));
            let until = again.min(deadline);
            while watch.borrow().leader_id != to {
                match tokio::time::timeout_at(until, watch.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(RaftError::Stopped),
                    Err(_) => break,
                }
            }
            if watch.borrow().leader_id != to && tokio::time::Instant::now() >= deadline {
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
