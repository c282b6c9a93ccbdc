//! `LogStorage`: where a member keeps its raft log, HardState and latest snapshot.
//!
//! raft-rs reads through its own [`raft::Storage`] trait; the member's Ready loop writes
//! through this one. The durable applied index is the latest snapshot's index: the snapshot
//! holds the database as of that index, written in the same transaction, so a restarted member
//! restores the snapshot and replays the committed entries after it, and comes back with exactly
//! the state it had.

use raft::prelude::{ConfState, Entry, HardState, Snapshot};

use super::codec;
use super::error::LogError;
use super::types::Members;
use crate::db::ClusterDb;

/// Durable raft state of one member.
///
/// Every method that writes returns only when the write is durable (fsynced): raft may send an
/// acknowledgement right after. A failed write is fatal for the member (it stops; restarting
/// from the directory recovers the last durable state). Methods are called from the one task
/// that owns the member and may block for the duration of an fsync.
///
/// Related types: [`raft::Storage`] (the read side raft-rs uses), [`Snapshot`],
/// [`super::RedbLog`] (the implementation on disk).
pub trait LogStorage: raft::Storage + Send + 'static {
    /// Makes one Ready's writes durable together: a snapshot received from the leader (it
    /// replaces the whole log), new entries (replacing any conflicting suffix of the log), and
    /// the HardState. Each part is optional.
    fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), LogError>;

    /// Called once the member has sent the acknowledgements of what [`LogStorage::persist`]
    /// wrote: work that must follow the write but need not delay them (the [`super::RedbLog`]
    /// writes its high-water mark here). An error stops the member, as a failed write does.
    fn persisted(&mut self) -> Result<(), LogError> {
        Ok(())
    }

    /// Records a higher commit index. It may become durable only with the next write: a lower
    /// commit index after a crash is safe, raft learns it again.
    fn set_commit(&mut self, commit: u64);

    /// Saves a snapshot of the database at its index (which must be applied) and drops the log
    /// entries it covers but the last `keep` (a member slightly behind then catches up from
    /// the log instead of receiving the whole database), durably and in one transaction.
    fn save_snapshot(&mut self, snapshot: Snapshot, keep: u64) -> Result<(), LogError>;

    /// The latest snapshot (index 0 and empty data when there is none).
    fn latest_snapshot(&self) -> &Snapshot;

    /// True when the log holds no raft state at all (a fresh directory).
    fn is_new(&self) -> bool;

    /// Makes a fresh log the first state of a new cluster: a snapshot at index 1, term 1 of
    /// an empty database with `members` as the voters.
    fn bootstrap(&mut self, members: &Members) -> Result<(), LogError> {
        let mut snap = Snapshot {
            data: codec::encode_snapshot(members, &ClusterDb::new()).into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = 1;
        meta.term = 1;
        meta.set_conf_state(ConfState::from((members.keys().copied(), [])));
        let hs = HardState {
            term: 1,
            commit: 1,
            ..Default::default()
        };
        self.persist(Some(&snap), &[], Some(&hs))?;
        // A bootstrap snapshot is also the latest one a lagging member can be sent.
        self.save_snapshot(snap, 0)
    }
}
