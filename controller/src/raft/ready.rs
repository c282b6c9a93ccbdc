//! The Ready loop, as raft-rs 0.7 documents it for synchronous storage, and what it applies.
//!
//! ```text
//!  raw.ready() ─▶ send messages (a leader may send before it persists)
//!              ─▶ persist snapshot + entries + HardState  (one redb transaction, fsync)
//!              ─▶ note read states; apply committed entries to ClusterDb, answer callers
//!              ─▶ send persisted messages (votes, acks: only after the fsync)
//!              ─▶ log.persisted() (the high-water mark: after the log, off the acks' path)
//!  raw.advance(rd) ─▶ light ready: commit index, messages, more committed entries
//!  raw.advance_apply() ─▶ maybe snapshot + compact the log; report snapshots sent
//! ```

use protobuf::Message as _;
use raft::SnapshotStatus;
use raft::prelude::{
    ConfChange, ConfChangeType, ConfChangeV2, Entry, EntryType, Message, MessageType, ReadState,
    Snapshot,
};

use super::codec::{self, EntryContext};
use super::error::{RaftError, Result};
use super::log_storage::LogStorage;
use super::node::Member;
use super::transport::Transport;
use super::types::{Applied, AppliedEvents, Leadership, Members};
use crate::db::{ApplyError, Event};

impl<S: LogStorage, T: Transport> Member<S, T> {
    /// Handles every pending Ready. Between `ready()` and `advance()` nothing but the Ready's
    /// own work happens.
    pub(super) fn on_ready(&mut self) -> Result<()> {
        while self.raw.has_ready() {
            let mut rd = self.raw.ready();
            self.send(rd.take_messages());
            let snapshot = (!rd.snapshot().is_empty()).then(|| rd.snapshot().clone());
            self.persist(snapshot, rd.entries(), rd.hs())?;
            self.read_states(rd.take_read_states());
            self.apply(rd.take_committed_entries());
            self.send(rd.take_persisted_messages());
            let log = self.raw.mut_store();
            blocking(|| log.persisted())?;

            let mut light = self.raw.advance(rd);
            if let Some(commit) = light.commit_index() {
                self.raw.mut_store().set_commit(commit);
            }
            self.send(light.take_messages());
            self.apply(light.take_committed_entries());
            self.raw.advance_apply();
            self.after_ready()?;
        }
        Ok(())
    }

    /// Work that must wait until the Ready is advanced (it feeds raft again).
    fn after_ready(&mut self) -> Result<()> {
        for to in std::mem::take(&mut self.sent_snapshots) {
            // Delivery is not confirmed; if the snapshot was lost the follower rejects the
            // next append and raft sends a snapshot again.
            self.raw.report_snapshot(to, SnapshotStatus::Finish);
        }
        self.publish_leadership();
        self.maybe_snapshot()
    }

    fn send(&mut self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        for m in &msgs {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.sent_snapshots.push(m.to);
            }
        }
        self.transport.send(msgs);
    }

    /// Makes the Ready's snapshot, entries and HardState durable, in one transaction.
    fn persist(
        &mut self,
        snapshot: Option<Snapshot>,
        entries: &[Entry],
        hs: Option<&raft::prelude::HardState>,
    ) -> Result<()> {
        if snapshot.is_none() && entries.is_empty() && hs.is_none() {
            return Ok(());
        }
        let restored = match &snapshot {
            Some(s) => Some(codec::decode_snapshot(s.get_metadata().index, &s.data)?),
            None => None,
        };
        if snapshot.is_some() {
            fail::fail_point!("raft::before_snapshot_apply");
        }
        if !entries.is_empty() {
            fail::fail_point!("raft::before_log_write");
        }
        let log = self.raw.mut_store();
        blocking(|| log.persist(snapshot.as_ref(), entries, hs))?;
        if !entries.is_empty() {
            fail::fail_point!("raft::after_log_write");
        }
        if let (Some(snap), Some((members, db))) = (snapshot, restored) {
            fail::fail_point!("raft::after_snapshot_apply");
            self.restore(snap, members, db);
        }
        Ok(())
    }

    /// Replaces the database with a snapshot received from the leader.
    fn restore(&mut self, snap: Snapshot, members: Members, db: crate::db::ClusterDb) {
        let meta = snap.get_metadata();
        tracing::info!(
            member = self.cfg.id,
            index = meta.index,
            "restored a snapshot"
        );
        self.db = db;
        self.members = members;
        self.conf_state = meta.get_conf_state().clone();
        self.applied = meta.index;
        self.snapshot_index = meta.index;
        self.transport.set_members(&self.members);
    }

    fn read_states(&mut self, states: Vec<ReadState>) {
        for rs in states {
            if let Some(ctx) = EntryContext::decode(&rs.request_ctx) {
                self.waiters.read_index(ctx.seq, rs.index);
            }
        }
        self.waiters.serve_reads(self.applied, &self.db);
    }

    /// Applies committed entries in order and answers the callers waiting on them.
    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            if e.index <= self.applied {
                continue; // covered by a snapshot already restored
            }
            let ctx = EntryContext::decode(&e.context);
            let result = match e.get_entry_type() {
                EntryType::EntryNormal if e.data.is_empty() => Ok(Vec::new()),
                EntryType::EntryNormal => self.apply_command(&e.data),
                _ => {
                    self.apply_conf_change(&e, ctx.as_ref());
                    Ok(Vec::new())
                }
            };
            self.applied = e.index;
            if let Ok(events) = &result
                && !events.is_empty()
                && self.applied_events.receiver_count() > 0
            {
                // Watchers that lag or left lose events; the log itself is not affected.
                let _ = self.applied_events.send(AppliedEvents {
                    revision: e.index,
                    events: events.clone(),
                });
            }
            let mine = ctx.filter(|c| c.proposer == self.cfg.id).map(|c| c.seq);
            let index = e.index;
            self.waiters.applied(index, mine, || Applied {
                revision: index,
                result,
            });
        }
        self.waiters.serve_reads(self.applied, &self.db);
    }

    fn apply_command(&mut self, data: &[u8]) -> std::result::Result<Vec<Event>, ApplyError> {
        match codec::decode_command(data) {
            Ok(cmd) => self.db.apply(cmd),
            // Every member decodes the same bytes the same way, so they all reject it alike.
            Err(e) => Err(ApplyError::Invalid {
                subject: "raft entry".into(),
                field: "data".into(),
                reason: e.to_string(),
            }),
        }
    }

    fn apply_conf_change(&mut self, e: &Entry, ctx: Option<&EntryContext>) {
        let cc = match e.get_entry_type() {
            EntryType::EntryConfChangeV2 => ConfChangeV2::parse_from_bytes(&e.data),
            _ => ConfChange::parse_from_bytes(&e.data).map(v1_to_v2),
        };
        let applied = match cc {
            Ok(cc) => self.raw.apply_conf_change(&cc).map(|cs| (cc, cs)),
            Err(err) => Err(raft::Error::CodecError(err)),
        };
        match applied {
            Ok((cc, cs)) => {
                self.update_members(&cc, ctx);
                self.conf_state = cs;
            }
            // Committed but refused by raft (for example leaving a joint config twice):
            // every member refuses it alike.
            Err(err) => tracing::warn!(member = self.cfg.id, error = %err, "conf change refused"),
        }
    }

    fn update_members(&mut self, cc: &ConfChangeV2, ctx: Option<&EntryContext>) {
        for c in cc.get_changes() {
            match c.get_change_type() {
                ConfChangeType::RemoveNode if c.node_id != self.cfg.id => {
                    self.members.remove(&c.node_id);
                }
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    if let Some(addr) = ctx.and_then(|c| c.address.clone()) {
                        self.members.insert(c.node_id, addr);
                    }
                    self.snapshot_now = true;
                }
                ConfChangeType::RemoveNode => {
                    tracing::warn!(
                        member = self.cfg.id,
                        "this member was removed from the cluster"
                    );
                }
            }
        }
        self.transport.set_members(&self.members);
    }

    /// Every `snapshot_every` applied entries, and after a member is added: snapshot the
    /// database and compact the log.
    fn maybe_snapshot(&mut self) -> Result<()> {
        let due = self.applied >= self.snapshot_index + self.cfg.snapshot_every;
        if !(due || self.snapshot_now && self.applied > self.snapshot_index) {
            return Ok(());
        }
        let Ok(term) = self.raw.raft.raft_log.term(self.applied) else {
            return Ok(());
        };
        let mut snap = Snapshot {
            data: codec::encode_snapshot(&self.members, &self.db).into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        let log = self.raw.mut_store();
        // Keep as many entries again behind the snapshot for members slightly behind.
        let keep = self.cfg.snapshot_every;
        blocking(|| log.save_snapshot(snap, keep))?;
        self.snapshot_index = self.applied;
        self.snapshot_now = false;
        Ok(())
    }

    /// Says who leads, with the leader's address, when that changed.
    fn publish_leadership(&mut self) {
        let r = &self.raw.raft;
        let (is_leader, leader_id, term) =
            (r.state == raft::StateRole::Leader, r.leader_id, r.term);
        let address = self.members.get(&leader_id);
        self.leadership.send_if_modified(|l| {
            let same = (l.is_leader, l.leader_id, l.term) == (is_leader, leader_id, term)
                && l.leader_address.as_ref() == address;
            if !same {
                *l = Leadership {
                    is_leader,
                    leader_id,
                    leader_address: address.cloned(),
                    term,
                };
            }
            !same
        });
    }
}

/// A single-change (v1) conf change as the v2 form raft-rs applies.
fn v1_to_v2(c: ConfChange) -> ConfChangeV2 {
    let mut single = raft::prelude::ConfChangeSingle::default();
    single.set_change_type(c.get_change_type());
    single.node_id = c.node_id;
    let mut v2 = ConfChangeV2::default();
    v2.set_changes(vec![single].into());
    v2.context = c.context;
    v2
}

/// Runs a blocking write (an fsync) without stalling the other tasks of a multi-threaded
/// runtime; on a current-thread runtime (tests, simulation) it just runs it.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl From<raft::Error> for RaftError {
    fn from(e: raft::Error) -> Self {
        RaftError::invalid("raft", e.to_string())
    }
}
