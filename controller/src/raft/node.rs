//! The task that owns a member's raft-rs `RawNode` and its `ClusterDb`. It ticks, steps
//! messages from peers, takes proposals and reads from handles, and after each event runs the
//! Ready loop (`ready.rs`). Nothing else touches the RawNode.

use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState, Message};
use raft::{RawNode, StateRole};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::codec::{self, EntryContext};
use super::config::RaftConfig;
use super::error::{RaftError, Result};
use super::log_storage::LogStorage;
use super::logger;
use super::transport::Transport;
use super::types::{
    AppliedEvents, Exit, Leadership, Members, Progress, ProgressState, RaftStatus, Role,
};
use super::validate::{self, Local, Throttle};
use super::waiters::{ProposalReply, ReadFn, Waiters};
use crate::db::{ClusterDb, Command};

/// What a handle asks of the member task.
// A Command is a few hundred bytes (a resource spec with its per-node properties); requests
// pass one at a time through a channel, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Request {
    /// Messages from peers.
    Step(Vec<Message>),
    /// A command to commit and apply.
    Propose { cmd: Command, reply: ProposalReply },
    /// Add (with an address) or remove (without) a member.
    ChangeMember {
        change: (u64, Option<String>),
        reply: ProposalReply,
    },
    /// Hand leadership to a voter (raft-rs forwards it to the leader from a follower).
    TransferLeader {
        to: u64,
        reply: oneshot::Sender<Result<()>>,
    },
    /// The leader `dead` is gone (its own node's watchdog says so): campaign now, as a
    /// transfer, rather than after an election timeout. Answers whether it campaigned.
    CampaignAfter {
        dead: u64,
        reply: oneshot::Sender<bool>,
    },
    /// A linearizable read.
    Read(ReadFn),
    /// A read of what this member has applied, at once (may lag the leader).
    ReadLocal(ReadFn),
    /// The raft state.
    Status(oneshot::Sender<RaftStatus>),
    /// Stop gracefully; answered once the log is closed.
    Shutdown(oneshot::Sender<()>),
}

/// Where a member tells the world what happens to it; the handle holds the other ends.
pub(crate) struct Outlets {
    /// Who leads.
    pub leadership: watch::Sender<Leadership>,
    /// The events of each command applied.
    pub applied: broadcast::Sender<AppliedEvents>,
    /// Why the member's task ended.
    pub exit: watch::Sender<Option<Exit>>,
}

/// A running member: the RawNode and everything the Ready loop updates.
pub(crate) struct Member<S: LogStorage, T: Transport> {
    pub(super) cfg: RaftConfig,
    pub(super) raw: RawNode<S>,
    pub(super) db: ClusterDb,
    pub(super) members: Members,
    pub(super) conf_state: ConfState,
    pub(super) transport: T,
    pub(super) waiters: Waiters,
    pub(super) leadership: watch::Sender<Leadership>,
    pub(super) applied_events: broadcast::Sender<AppliedEvents>,
    pub(super) applied: u64,
    pub(super) snapshot_index: u64,
    /// Members sent a snapshot in the last Ready (reported to raft after `advance`).
    pub(super) sent_snapshots: Vec<u64>,
    /// A member was added: snapshot at once, so the snapshot a new member is sent names it
    /// (raft-rs refuses a snapshot whose configuration does not hold the receiver).
    pub(super) snapshot_now: bool,
    seq: u64,
    /// The term in which this member, leading, last asked again for the reads waiting once it
    /// had committed an entry of that term.
    reads_term: u64,
    /// Peer messages dropped by `validate::check`, and when to say so.
    refused: u64,
    refusals: Throttle,
    /// When this member, leading, last heard from each peer. raft-rs's own mark
    /// (`recent_active`) is cleared at every quorum check and set again only by the peer's next
    /// answer, so a status taken in between would show every peer inactive.
    heard: std::collections::HashMap<u64, Instant>,
}

/// Where this incarnation of a member starts numbering its proposals and reads: a random
/// 62-bit number. A member answers a caller when it applies an entry carrying its own id and
/// the caller's number; had a restarted member counted from 0 again, an entry proposed by its
/// previous incarnation and applied after the restart would answer the new caller with the
/// same number, acknowledging a command that was never committed (seen once in raft_sim as
/// "acknowledged n47 lost").
fn first_seq() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    // The system's random source does not fail on Linux; if it ever did, the clock still
    // differs between incarnations.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        bytes = (now.map_or(1, |d| d.as_nanos() as u64)).to_be_bytes();
    }
    u64::from_be_bytes(bytes) >> 2
}

/// At most one warning per peer this often about the messages of it that were dropped.
const REFUSAL_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the member on `log` and spawns its task, which publishes on `outlets` and says on
/// `outlets.exit` why it ended.
pub(crate) fn spawn_member<S: LogStorage, T: Transport>(
    cfg: RaftConfig,
    mut log: S,
    transport: T,
    rx: mpsc::Receiver<Request>,
    outlets: Outlets,
) -> Result<JoinHandle<()>> {
    let Outlets {
        leadership,
        applied,
        exit,
    } = outlets;
    if log.is_new() && cfg.bootstrap {
        log.bootstrap(&cfg.peers)?;
        log.persisted()?;
    }
    let snap = log.latest_snapshot().clone();
    let meta = snap.get_metadata();
    let (mut members, db) = match meta.index {
        0 => (Members::new(), ClusterDb::new()),
        index => codec::decode_snapshot(index, &snap.data)?,
    };
    for (id, addr) in &cfg.peers {
        members.entry(*id).or_insert_with(|| addr.clone());
    }
    transport.set_members(&members);
    let raw = RawNode::new(&cfg.to_raft(meta.index), log, &logger::logger(cfg.id))
        .map_err(|e| RaftError::invalid("raft", e.to_string()))?;
    let member = Member {
        raw,
        db,
        members,
        conf_state: meta.get_conf_state().clone(),
        transport,
        waiters: Waiters::default(),
        leadership,
        applied_events: applied,
        applied: meta.index,
        snapshot_index: meta.index,
        sent_snapshots: Vec::new(),
        snapshot_now: false,
        seq: first_seq(),
        reads_term: 0,
        refused: 0,
        refusals: Throttle::new(REFUSAL_LOG_EVERY),
        heard: std::collections::HashMap::new(),
        cfg,
    };
    let id = member.cfg.id;
    Ok(tokio::spawn(async move {
        // raft-rs panics on states it cannot go on from; the member ends then too, and says why
        // once its log is closed (a restart may open the same directory at once).
        let ended = Contained(Some(Box::pin(member.run(rx)))).await;
        let why = ended.unwrap_or_else(|panic| {
            let text = (panic.downcast_ref::<String>().map(String::as_str))
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            Exit::Failed(format!("panicked: {text}"))
        });
        if let Exit::Failed(why) = &why {
            tracing::error!(member = id, "raft member stopped: {why}");
        }
        exit.send_replace(Some(why));
    }))
}

/// A future whose panic is returned instead of unwinding further. The panicking future is
/// dropped during the unwinding, as tokio's own task harness does: its log then skips the
/// writes of a clean close (redb checks the file at the next open instead), since the state
/// in memory may be what panicked.
struct Contained<F>(Option<std::pin::Pin<Box<F>>>);

impl<F: std::future::Future> std::future::Future for Contained<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        /// Drops the future if dropped while unwinding.
        struct OnUnwind<'a, F>(&'a mut Option<std::pin::Pin<Box<F>>>);
        impl<F> Drop for OnUnwind<'_, F> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    *self.0 = None;
                }
            }
        }
        let slot = &mut self.0;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let guard = OnUnwind(slot);
            let Some(fut) = guard.0.as_mut() else {
                return Poll::Pending;
            };
            let r = fut.as_mut().poll(cx);
            std::mem::forget(guard);
            r
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                self.0 = None;
                Poll::Ready(Ok(v))
            }
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

impl<S: LogStorage, T: Transport> Member<S, T> {
    /// Runs until asked to stop (or every handle is gone), or until the Ready loop fails.
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) -> Exit {
        let mut ticker = tokio::time::interval(self.cfg.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let done = tokio::select! {
                _ = ticker.tick() => { self.tick(); None }
                req = rx.recv() => match req {
                    // Every handle is gone: nobody can ask anything any more.
                    None => Some(None),
                    // Take everything already queued, so one Ready (one fsync) covers a burst.
                    Some(req) => self.handle(req).or_else(|| self.drain(&mut rx)),
                },
            };
            if let Some(done) = done {
                self.stop(done);
                return Exit::Requested;
            }
            let mut ready = self.on_ready();
            if ready.is_ok() && self.reads_on_new_term() {
                ready = self.on_ready();
            }
            if let Err(e) = ready {
                self.stop(None);
                return Exit::Failed(e.to_string());
            }
        }
    }

    /// A new leader drops ReadIndex requests until it has committed an entry of its own term
    /// (raft-rs); the moment it has, the reads waiting are asked again, rather than at the next
    /// resend (`tick`), which would cost up to two heartbeat intervals after every election.
    /// Whether it asked for any.
    fn reads_on_new_term(&mut self) -> bool {
        let r = &self.raw.raft;
        if r.state != StateRole::Leader || self.reads_term == r.term || !r.commit_to_current_term()
        {
            return false;
        }
        self.reads_term = r.term;
        let again = self
            .waiters
            .reads_to_resend(Instant::now(), std::time::Duration::ZERO);
        let asked = !again.is_empty();
        for ctx in again {
            self.raw.read_index(ctx);
        }
        asked
    }

    fn drain(&mut self, rx: &mut mpsc::Receiver<Request>) -> Option<Option<oneshot::Sender<()>>> {
        for _ in 0..1024 {
            let Ok(req) = rx.try_recv() else { break };
            if let Some(done) = self.handle(req) {
                return Some(done);
            }
        }
        None
    }

    fn stop(mut self, done: Option<oneshot::Sender<()>>) {
        self.waiters.stop();
        // Close the log before saying so: a restart may open the same directory at once.
        drop(self);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn tick(&mut self) {
        self.raw.tick();
        let timeout = self.cfg.request_timeout;
        let now = Instant::now();
        self.waiters.expire(now, timeout);
        // Ask again for reads raft dropped (see Waiters::reads_to_resend).
        let every = self.cfg.tick * (self.cfg.heartbeat_ticks as u32 * 2).max(2);
        for ctx in self.waiters.reads_to_resend(now, every) {
            self.raw.read_index(ctx);
        }
    }

    /// Handles one request; `Some` when it asks the member to stop.
    fn handle(&mut self, req: Request) -> Option<Option<oneshot::Sender<()>>> {
        match req {
            Request::Step(msgs) => self.step(msgs),
            Request::Propose { cmd, reply } => self.propose(cmd, reply),
            Request::ChangeMember { change, reply } => self.change_member(change, reply),
            Request::TransferLeader { to, reply } => drop(reply.send(self.transfer(to))),
            Request::CampaignAfter { dead, reply } => drop(reply.send(self.campaign_after(dead))),
            Request::Read(f) => self.read(f),
            Request::ReadLocal(f) => f(Ok(&self.db)),
            Request::Status(reply) => drop(reply.send(self.status())),
            Request::Shutdown(done) => return Some(Some(done)),
        }
        None
    }

    fn step(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            // Checked one by one against the state the previous message left.
            if let Err(r) = self.check(&m) {
                self.refuse(&m, r);
                continue;
            }
            if self.raw.raft.state == StateRole::Leader && m.term == self.raw.raft.term {
                self.heard.insert(m.from, Instant::now());
            }
            // Responses from members raft does not track (removed, or not yet added) are
            // refused by raft-rs; they are harmless.
            if let Err(e) = self.raw.step(m) {
                tracing::trace!(member = self.cfg.id, error = %e, "raft message ignored");
            }
        }
    }

    /// Whether raft-rs can be given `m` (see `validate.rs`).
    fn check(&self, m: &Message) -> std::result::Result<(), validate::Refusal> {
        let r = &self.raw.raft;
        let cs = &self.conf_state;
        let configured = !(cs.voters.is_empty() && cs.learners.is_empty());
        let is_member = |id: u64| {
            self.members.contains_key(&id)
                || r.prs().get(id).is_some()
                || [
                    &cs.voters,
                    &cs.learners,
                    &cs.voters_outgoing,
                    &cs.learners_next,
                ]
                .iter()
                .any(|ids| ids.contains(&id))
        };
        let local = Local {
            id: self.cfg.id,
            term: r.term,
            leader: r.leader_id,
            is_leader: r.state == StateRole::Leader,
            last_index: r.raft_log.last_index(),
            is_member: configured.then_some(&is_member as &dyn Fn(u64) -> bool),
        };
        validate::check(m, &local)
    }

    fn refuse(&mut self, m: &Message, r: validate::Refusal) {
        self.refused += 1;
        if let Some(n) = self.refusals.refused(m.from, std::time::Instant::now()) {
            tracing::warn!(
                member = self.cfg.id,
                peer = m.from,
                msg_type = ?m.get_msg_type(),
                field = %r.field,
                reason = %r.reason,
                dropped = n,
                "dropped a raft message that cannot be right (from member {}: {}: {})",
                m.from,
                r.field,
                r.reason
            );
        }
    }

    /// Checks that a proposal can go somewhere; `Err` tells the caller where to go instead.
    fn can_propose(&self) -> Result<()> {
        let leader = self.raw.raft.leader_id;
        if leader == 0 {
            return Err(RaftError::NoLeader);
        }
        if leader != self.cfg.id && !self.cfg.forward_proposals {
            let address = self.members.get(&leader).cloned();
            return Err(RaftError::NotLeader { leader, address });
        }
        Ok(())
    }

    fn next_context(&mut self, address: Option<String>) -> (u64, Vec<u8>) {
        self.seq += 1;
        let ctx = EntryContext {
            proposer: self.cfg.id,
            seq: self.seq,
            address,
        };
        (self.seq, ctx.encode())
    }

    fn propose(&mut self, cmd: Command, reply: ProposalReply) {
        if let Err(e) = self.can_propose() {
            let _ = reply.send(Err(e));
            return;
        }
        let (seq, ctx) = self.next_context(None);
        self.waiters.add_proposal(seq, reply, self.deadline());
        let result = self.raw.propose(ctx, codec::encode_command(&cmd));
        self.proposed(seq, result);
    }

    /// Records where a proposal went, or fails it if raft refused it.
    fn proposed(&mut self, seq: u64, result: raft::Result<()>) {
        match result {
            Ok(()) if self.raw.raft.state == StateRole::Leader => {
                let index = self.raw.raft.raft_log.last_index();
                self.waiters.appended_at(seq, index);
            }
            Ok(()) => {}
            Err(e) => {
                tracing::debug!(member = self.cfg.id, error = %e, "proposal refused by raft");
                self.waiters.fail_proposal(seq, RaftError::Dropped);
            }
        }
    }

    fn change_member(&mut self, (id, address): (u64, Option<String>), reply: ProposalReply) {
        if let Err(e) = self
            .can_propose()
            .and_then(|_| self.check_change(id, &address))
        {
            let _ = reply.send(Err(e));
            return;
        }
        let ty = match address {
            Some(_) => ConfChangeType::AddNode,
            None => ConfChangeType::RemoveNode,
        };
        let mut single = ConfChangeSingle::default();
        single.set_change_type(ty);
        single.node_id = id;
        let mut cc = ConfChangeV2::default();
        cc.set_changes(vec![single].into());
        let (seq, ctx) = self.next_context(address);
        self.waiters.add_proposal(seq, reply, self.deadline());
        let result = self.raw.propose_conf_change(ctx, cc);
        self.proposed(seq, result);
    }

    fn check_change(&self, id: u64, address: &Option<String>) -> Result<()> {
        let voters = &self.conf_state.voters;
        match address {
            Some(_) if voters.contains(&id) => Err(RaftError::invalid(
                "member id",
                format!("{id} is already a voter"),
            )),
            None if !voters.contains(&id) => Err(RaftError::invalid(
                "member id",
                format!("{id} is not a voter"),
            )),
            None if voters.len() == 1 => Err(RaftError::invalid(
                "member id",
                format!("{id} is the last voter; a cluster needs one"),
            )),
            _ => Ok(()),
        }
    }

    /// Starts a leadership transfer to voter `to`; the handle waits for it to complete.
    fn transfer(&mut self, to: u64) -> Result<()> {
        if !self.conf_state.voters.contains(&to) {
            let why = format!(
                "member {to} is not a voter (voters: {:?})",
                self.conf_state.voters
            );
            return Err(RaftError::invalid("to", why));
        }
        if self.raw.raft.leader_id == 0 {
            return Err(RaftError::NoLeader);
        }
        if self.raw.raft.leader_id != to {
            self.raw.transfer_leader(to);
        }
        Ok(())
    }

    /// Campaigns at once when `dead` is the leader this follower follows, with the transfer
    /// flag that lets the others vote although their leader's lease has not run out (they
    /// heard from it moments ago). Raft's safety does not depend on who campaigns or when: a
    /// vote still needs a log at least as up to date as the voter's. Nothing happens if another
    /// leader was elected meanwhile, or this member cannot lead.
    fn campaign_after(&mut self, dead: u64) -> bool {
        let r = &self.raw.raft;
        if dead == 0
            || r.state != raft::StateRole::Follower
            || r.leader_id != dead
            || !r.promotable()
        {
            return false;
        }
        self.raw.raft.campaign(raft::CAMPAIGN_TRANSFER);
        true
    }

    fn read(&mut self, f: ReadFn) {
        if let Err(e) = self.can_propose() {
            return f(Err(e));
        }
        let (seq, ctx) = self.next_context(None);
        self.waiters.add_read(seq, f, self.deadline(), ctx.clone());
        self.raw.read_index(ctx);
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.cfg.request_timeout
    }

    /// The leader's view of how far each member's log matches its own (empty on a follower,
    /// which does not track it).
    fn progress(&self) -> Vec<Progress> {
        if self.raw.raft.state != StateRole::Leader {
            return Vec::new();
        }
        let now = Instant::now();
        let window = self.cfg.election_timeout();
        let heard =
            |id: &u64| (self.heard.get(id)).is_some_and(|t| now.duration_since(*t) < window);
        let mut all: Vec<Progress> = (self.raw.raft.prs().iter())
            .map(|(id, p)| Progress {
                id: *id,
                matched: p.matched,
                next_index: p.next_idx,
                state: match p.state {
                    raft::ProgressState::Probe => ProgressState::Probe,
                    raft::ProgressState::Replicate => ProgressState::Replicate,
                    raft::ProgressState::Snapshot => ProgressState::Snapshot,
                },
                // raft-rs does not mark the leader's own entry; it is active by definition.
                recent_active: p.recent_active || heard(id) || *id == self.cfg.id,
            })
            .collect();
        all.sort_by_key(|p| p.id);
        all
    }

    fn status(&self) -> RaftStatus {
        let r = &self.raw.raft;
        RaftStatus {
            id: self.cfg.id,
            term: r.term,
            leader: r.leader_id,
            role: match r.state {
                StateRole::Leader => Role::Leader,
                StateRole::Candidate => Role::Candidate,
                StateRole::PreCandidate => Role::PreCandidate,
                StateRole::Follower => Role::Follower,
            },
            commit: r.raft_log.committed,
            applied: self.applied,
            voters: self.conf_state.voters.clone(),
            members: self.members.clone(),
            progress: self.progress(),
            refused: self.refused,
        }
    }
}
