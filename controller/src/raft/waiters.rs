//! Callers waiting on the member task: proposals until their entry is applied here, reads
//! until raft confirms the read index and this member has applied up to it.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::RaftError;
use super::types::Applied;
use crate::db::ClusterDb;

/// Answers a proposal.
pub(crate) type ProposalReply = oneshot::Sender<Result<Applied, RaftError>>;
/// Runs a read on the database (or tells it why it cannot) and answers its caller itself.
pub(crate) type ReadFn = Box<dyn FnOnce(Result<&ClusterDb, RaftError>) + Send>;

struct Pending<T> {
    reply: T,
    deadline: Instant,
}

/// A read waiting for raft to confirm its index, with what to send again if it stays silent.
struct PendingRead {
    reply: ReadFn,
    deadline: Instant,
    /// The read's request context, to ask again.
    ctx: Vec<u8>,
    /// When it was last asked.
    sent: Instant,
}

/// Everything the member owes an answer to.
#[derive(Default)]
pub(crate) struct Waiters {
    proposals: HashMap<u64, Pending<ProposalReply>>,
    /// Index a proposal was appended at while this member led: if another entry is applied
    /// there, leadership changed and the proposal was dropped.
    at_index: BTreeMap<u64, u64>,
    /// Reads waiting for raft to confirm a read index, by request number.
    reads: HashMap<u64, PendingRead>,
    /// Reads with a confirmed index, waiting for this member to apply up to it.
    ready_reads: Vec<(u64, ReadFn)>,
}

impl Waiters {
    pub fn add_proposal(&mut self, seq: u64, reply: ProposalReply, deadline: Instant) {
        self.proposals.insert(seq, Pending { reply, deadline });
    }

    /// The leader appended proposal `seq` at `index`.
    pub fn appended_at(&mut self, seq: u64, index: u64) {
        self.at_index.insert(index, seq);
    }

    /// Answers a proposal that failed before it reached the log.
    pub fn fail_proposal(&mut self, seq: u64, err: RaftError) {
        if let Some(p) = self.proposals.remove(&seq) {
            let _ = p.reply.send(Err(err));
        }
    }

    /// Entry `index` was applied; `mine` is the number of the proposal it carries if this
    /// member proposed it.
    pub fn applied(&mut self, index: u64, mine: Option<u64>, applied: impl FnOnce() -> Applied) {
        if let Some(seq) = self.at_index.remove(&index)
            && Some(seq) != mine
        {
            self.fail_proposal(seq, RaftError::Dropped);
        }
        if let Some(p) = mine.and_then(|seq| self.proposals.remove(&seq)) {
            let _ = p.reply.send(Ok(applied()));
        }
    }

    pub fn add_read(&mut self, seq: u64, f: ReadFn, deadline: Instant, ctx: Vec<u8>) {
        let sent = Instant::now();
        self.reads.insert(
            seq,
            PendingRead {
                reply: f,
                deadline,
                ctx,
                sent,
            },
        );
    }

    /// The contexts of reads not confirmed within `every`, to ask again. raft-rs drops a
    /// ReadIndex that reaches a leader before it has committed an entry of its own term (and
    /// one sent while there is no leader), without an answer: asking again is how such a read
    /// still completes once the leader is ready.
    pub fn reads_to_resend(&mut self, now: Instant, every: std::time::Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for r in self.reads.values_mut() {
            if now.duration_since(r.sent) >= every {
                r.sent = now;
                out.push(r.ctx.clone());
            }
        }
        out
    }

    /// Raft confirmed that read `seq` may be served once `index` is applied.
    pub fn read_index(&mut self, seq: u64, index: u64) {
        if let Some(p) = self.reads.remove(&seq) {
            self.ready_reads.push((index, p.reply));
        }
    }

    /// Serves every read whose index is applied.
    pub fn serve_reads(&mut self, applied: u64, db: &ClusterDb) {
        let (now, later) = std::mem::take(&mut self.ready_reads)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.ready_reads = later;
        let now: Vec<(u64, ReadFn)> = now;
        for (_, f) in now {
            f(Ok(db));
        }
    }

    /// Answers everything past its deadline with a timeout.
    pub fn expire(&mut self, now: Instant, timeout: std::time::Duration) {
        let late: Vec<u64> = (self.proposals.iter())
            .filter(|(_, p)| p.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in late {
            self.fail_proposal(seq, RaftError::Timeout(timeout));
        }
        self.at_index
            .retain(|_, seq| self.proposals.contains_key(seq));
        let late: Vec<u64> = (self.reads.iter())
            .filter(|(_, p)| p.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in late {
            if let Some(p) = self.reads.remove(&seq) {
                (p.reply)(Err(RaftError::Timeout(timeout)));
            }
        }
    }

    /// Answers everything: the member stops.
    pub fn stop(&mut self) {
        for (_, p) in self.proposals.drain() {
            let _ = p.reply.send(Err(RaftError::Stopped));
        }
        for (_, p) in self.reads.drain() {
            (p.reply)(Err(RaftError::Stopped));
        }
        for (_, f) in self.ready_reads.drain(..) {
            f(Err(RaftError::Stopped));
        }
    }
}

#[cfg(test)]
mod resend_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unconfirmed_reads_are_asked_again_once_per_period() {
        let mut w = Waiters::default();
        let t0 = Instant::now();
        w.add_read(1, Box::new(|_| {}), t0 + Duration::from_secs(5), vec![7]);
        let every = Duration::from_millis(200);
        assert!(w.reads_to_resend(t0, every).is_empty(), "not yet");
        assert_eq!(w.reads_to_resend(t0 + every * 2, every), vec![vec![7]]);
        assert!(
            w.reads_to_resend(t0 + every * 2, every).is_empty(),
            "once per period"
        );
        w.read_index(1, 10);
        assert!(
            w.reads_to_resend(t0 + every * 10, every).is_empty(),
            "a confirmed read is done"
        );
    }
}
