//! [`LogStorage`] on disk with redb: one file per member, every write fsynced
//! (`Durability::Immediate`) before raft is told it is persisted.
//!
//! The log after the latest snapshot is also kept in memory (it is bounded by
//! `snapshot_every`), so raft-rs's reads never touch the disk.
//!
//! At open, the file must be a redb database (its magic number first, then redb's own
//! integrity check, with any panic inside redb caught) and hold at least what the high-water
//! mark beside it says this member held (`mark.rs`); otherwise the open is refused with an
//! error naming the file and what to do. Every error names the file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protobuf::Message as _;
use raft::prelude::{Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
use redb::{Database, ReadableDatabase, TableDefinition};

use super::error::LogError;
use super::log_storage::LogStorage;
use super::mark::{self, Mark};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HARD_STATE: &str = "hard_state";
const SNAPSHOT: &str = "snapshot";
/// The applied index the stored snapshot covers (kept apart for operators reading the file).
const APPLIED: &str = "applied";
/// Index and term of the last entry dropped from the log (16 bytes).
const COMPACTED: &str = "compacted";

/// The first bytes of every redb file (redb's `MAGICNUMBER`).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// A member's raft state in `<dir>/raft.redb`, and its high-water mark in `<dir>/member.json`.
pub struct RedbLog {
    db: Database,
    path: String,
    dir: PathBuf,
    member: u64,
    /// The mark on disk, and when it was written (or found).
    mark: Option<Mark>,
    mark_at: Instant,
    /// Term and commit index of the HardState last written (what the file durably holds).
    durable: Option<(u64, u64)>,
    hard_state: HardState,
    snapshot: Snapshot,
    /// Index and term of the entry just before `entries` (dropped by compaction, or covered
    /// by a snapshot received from the leader).
    compacted: (u64, u64),
    /// The log after `compacted`, in order, as on disk. It may start before the snapshot's
    /// index: a few entries are kept so a member slightly behind catches up from the log.
    entries: Vec<Entry>,
}

impl std::fmt::Debug for RedbLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLog")
            .field("path", &self.path)
            .field("snapshot_index", &self.snapshot.get_metadata().index)
            .field("last_index", &self.last())
            .finish()
    }
}

impl RedbLog {
    /// Opens (or creates) member `member`'s log in `dir`, loading what it holds. Refuses,
    /// naming the file and saying what to do, a file that is not a sound redb database, and a
    /// log that is missing, empty or behind the high-water mark beside it (lost or rolled
    /// back: see `mark.rs`). A refused open changes nothing.
    pub fn open(dir: &Path, member: u64) -> Result<Self, LogError> {
        let file = dir.join("raft.redb");
        let mark_file = dir.join(mark::FILE);
        let path = file.display().to_string();
        let found = mark::load(dir)?;
        let log = match std::fs::metadata(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => mark::Log::Missing,
            Err(e) => return Err(io_err(&path, e)),
            Ok(m) if m.len() == 0 => mark::Log::Empty,
            Ok(_) => {
                check_magic(&file, member)?;
                mark::Log::New
            }
        };
        if log != mark::Log::New {
            // Refused before anything is created in its place.
            mark::check(found.as_ref(), log, member, &file, &mark_file)?;
        }
        std::fs::create_dir_all(dir).map_err(|e| io_err(&dir.display().to_string(), e))?;
        let db = open_db(&file, member)?;
        let mut opened = RedbLog {
            db,
            path: path.clone(),
            dir: dir.to_path_buf(),
            member,
            mark: found,
            mark_at: Instant::now(),
            durable: None,
            hard_state: HardState::default(),
            snapshot: Snapshot::default(),
            compacted: (0, 0),
            entries: Vec::new(),
        };
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| opened.load()));
        loaded.map_err(|p| {
            damaged(
                &path,
                member,
                &format!("redb panicked reading it: {}", panic_text(&p)),
            )
        })??;
        let log = match opened.is_new() {
            true => mark::Log::New,
            false => mark::Log::Holds {
                term: opened.hard_state.term,
                commit: opened.hard_state.commit,
            },
        };
        mark::check(found.as_ref(), log, member, &file, &mark_file)?;
        if !opened.is_new() {
            opened.durable = Some((opened.hard_state.term, opened.hard_state.commit));
        }
        Ok(opened)
    }

    /// Writes the high-water mark if the durable state moved on enough (see `mark.rs`).
    fn maybe_mark(&mut self) -> Result<(), LogError> {
        let Some((term, commit)) = self.durable else {
            return Ok(());
        };
        let next = Mark {
            member: self.member,
            term,
            commit,
        };
        if mark::due(self.mark.as_ref(), &next, self.mark_at.elapsed()) {
            mark::save(&self.dir, &next)?;
            self.mark = Some(next);
            self.mark_at = Instant::now();
        }
        Ok(())
    }

    fn load(&mut self) -> Result<(), LogError> {
        let txn = self.db.begin_read().map_err(|e| self.redb_err(e))?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(self.redb_err(e)),
        };
        if let Some(v) = meta.get(HARD_STATE).map_err(|e| self.redb_err(e))? {
            self.hard_state = self.decode(HARD_STATE, v.value())?;
        }
        if let Some(v) = meta.get(SNAPSHOT).map_err(|e| self.redb_err(e))? {
            self.snapshot = self.decode(SNAPSHOT, v.value())?;
            // What a snapshot holds was committed, whatever commit index reached the disk.
            let index = self.snapshot.get_metadata().index;
            self.hard_state.commit = self.hard_state.commit.max(index);
        }
        if let Some(v) = meta.get(COMPACTED).map_err(|e| self.redb_err(e))? {
            self.compacted = decode_pair(v.value()).ok_or_else(|| LogError::Corrupt {
                path: self.path.clone(),
                record: COMPACTED.into(),
                reason: format!("{} bytes, not 16", v.value().len()),
            })?;
        }
        let table = txn.open_table(ENTRIES).map_err(|e| self.redb_err(e))?;
        let rows = table
            .range(self.compacted.0 + 1..)
            .map_err(|e| self.redb_err(e))?;
        for row in rows {
            let (k, v) = row.map_err(|e| self.redb_err(e))?;
            let entry = self.decode(&format!("entry {}", k.value()), v.value())?;
            self.entries.push(entry);
        }
        Ok(())
    }

    fn decode<M: protobuf::Message>(&self, record: &str, bytes: &[u8]) -> Result<M, LogError> {
        M::parse_from_bytes(bytes).map_err(|e| LogError::Corrupt {
            path: self.path.clone(),
            record: record.to_string(),
            reason: e.to_string(),
        })
    }

    fn redb_err(&self, e: impl Into<redb::Error>) -> LogError {
        LogError::Redb {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    fn snap_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    fn first(&self) -> u64 {
        self.compacted.0 + 1
    }

    fn last(&self) -> u64 {
        self.entries.last().map_or(self.compacted.0, |e| e.index)
    }

    /// Writes in one durable transaction (redb's default durability is Immediate: fsync).
    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<u64, &[u8]>, &mut redb::Table<&str, &[u8]>) -> redb::Result,
    ) -> Result<(), LogError> {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// Writes in one transaction of the given durability. `Durability::None` is only for what
    /// raft does not need durable (a commit index alone): it reaches the disk with the next
    /// durable write, and a crash before that loses nothing raft relies on.
    fn write_with(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&mut redb::Table<u64, &[u8]>, &mut redb::Table<&str, &[u8]>) -> redb::Result,
    ) -> Result<(), LogError> {
        let mut txn = self.db.begin_write().map_err(|e| self.redb_err(e))?;
        txn.set_durability(durability)
            .map_err(|e| self.redb_err(redb::Error::from(e)))?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| self.redb_err(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.redb_err(e))?;
            f(&mut entries, &mut meta).map_err(|e| self.redb_err(e))?;
        }
        txn.commit().map_err(|e| self.redb_err(e))
    }

    /// Applies a received snapshot and new entries to the in-memory mirror (after the disk).
    fn mirror(&mut self, snapshot: Option<&Snapshot>, entries: &[Entry], hs: Option<&HardState>) {
        if let Some(s) = snapshot {
            self.snapshot = s.clone();
            self.entries.clear();
            let meta = s.get_metadata();
            self.compacted = (meta.index, meta.term);
            self.hard_state.term = self.hard_state.term.max(meta.term);
            self.hard_state.commit = meta.index;
        }
        if let Some(first) = entries.first() {
            let keep = self.entries.partition_point(|e| e.index < first.index);
            self.entries.truncate(keep);
            self.entries.extend_from_slice(entries);
        }
        if let Some(hs) = hs {
            self.hard_state = hs.clone();
        }
    }
}

impl LogStorage for RedbLog {
    fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), LogError> {
        let mut hs = hard_state
            .cloned()
            .unwrap_or_else(|| self.hard_state.clone());
        if let Some(s) = snapshot {
            let meta = s.get_metadata();
            hs.term = hs.term.max(meta.term);
            hs.commit = hs.commit.max(meta.index);
        }
        let first_new = entries.first().map(|e| e.index);
        // Raft needs the term, the vote and the entries on disk before it answers; a commit
        // index alone it can learn again from the leader (etcd's raft calls this MustSync).
        // Such a write skips the fsync, which would otherwise sit between a quorum's
        // acknowledgement and the leader applying the entry.
        let must_sync = snapshot.is_some()
            || !entries.is_empty()
            || hs.term != self.hard_state.term
            || hs.vote != self.hard_state.vote;
        let durability = match must_sync {
            true => redb::Durability::Immediate,
            false => redb::Durability::None,
        };
        self.write_with(durability, |ents, meta| {
            if let Some(s) = snapshot {
                let m = s.get_metadata();
                ents.retain(|_, _| false)?;
                meta.insert(SNAPSHOT, s.write_to_bytes().unwrap_or_default().as_slice())?;
                meta.insert(APPLIED, m.index.to_be_bytes().as_slice())?;
                meta.insert(COMPACTED, encode_pair(m.index, m.term).as_slice())?;
            }
            if let Some(first) = first_new {
                ents.retain_in(first.., |_, _| false)?;
            }
            for e in entries {
                ents.insert(e.index, e.write_to_bytes().unwrap_or_default().as_slice())?;
            }
            meta.insert(
                HARD_STATE,
                hs.write_to_bytes().unwrap_or_default().as_slice(),
            )?;
            Ok(())
        })?;
        self.mirror(snapshot, entries, Some(&hs));
        // The high-water mark only ever names what is on disk.
        if must_sync {
            self.durable = Some((hs.term, hs.commit));
        }
        Ok(())
    }

    fn persisted(&mut self) -> Result<(), LogError> {
        self.maybe_mark()
    }

    fn set_commit(&mut self, commit: u64) {
        self.hard_state.commit = self.hard_state.commit.max(commit);
    }

    fn save_snapshot(&mut self, snapshot: Snapshot, keep: u64) -> Result<(), LogError> {
        let index = snapshot.get_metadata().index;
        let to = index
            .saturating_sub(keep)
            .max(self.compacted.0)
            .min(self.last());
        let compacted = match raft::Storage::term(self, to) {
            Ok(term) => (to, term),
            Err(_) => self.compacted,
        };
        let bytes = snapshot.write_to_bytes().unwrap_or_default();
        // The HardState goes with it: its commit index may so far have been written without
        // an fsync, and a snapshot on disk ahead of the commit index on disk would be a log
        // raft-rs refuses to open (applied beyond committed).
        let hs = self.hard_state.clone();
        self.write(|ents, meta| {
            ents.retain_in(..=compacted.0, |_, _| false)?;
            meta.insert(
                HARD_STATE,
                hs.write_to_bytes().unwrap_or_default().as_slice(),
            )?;
            meta.insert(SNAPSHOT, bytes.as_slice())?;
            meta.insert(APPLIED, index.to_be_bytes().as_slice())?;
            meta.insert(COMPACTED, encode_pair(compacted.0, compacted.1).as_slice())?;
            Ok(())
        })?;
        self.entries.retain(|e| e.index > compacted.0);
        self.compacted = compacted;
        self.snapshot = snapshot;
        self.durable = Some((hs.term, hs.commit));
        Ok(())
    }

    fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn is_new(&self) -> bool {
        self.snap_index() == 0 && self.entries.is_empty() && self.hard_state == HardState::default()
    }
}

impl raft::Storage for RedbLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let conf_state = self.snapshot.get_metadata().get_conf_state().clone();
        Ok(RaftState::new(self.hard_state.clone(), conf_state))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.first()) as usize;
        let hi = (high - self.first()) as usize;
        let mut ents = self.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut ents, max_size.into());
        Ok(ents)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.compacted.0 {
            return Ok(self.compacted.1);
        }
        if idx < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entries[(idx - self.first()) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snap_index() < request_index || self.snap_index() == 0 {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}

impl Drop for RedbLog {
    /// A log closed normally writes the mark of what it holds, if that moved on since the
    /// last one (not after a panic: the state in memory may be what panicked). A failed write
    /// only leaves an older mark, which never refuses a sound log.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some((term, commit)) = self.durable {
            let now = Mark {
                member: self.member,
                term,
                commit,
            };
            if self.mark != Some(now) {
                let _ = mark::save(&self.dir, &now);
            }
        }
    }
}

fn io_err(path: &str, source: std::io::Error) -> LogError {
    LogError::File {
        path: path.to_string(),
        source,
    }
}

/// The refusal of a file that is damaged or not a raft log: what was found, what to do.
fn damaged(path: &str, member: u64, what: &str) -> LogError {
    LogError::Refused {
        path: path.to_string(),
        reason: format!(
            "{what}: the file is damaged or not this member's raft log. If it is and this \
             member has been part of a cluster, remove it from the cluster (nonstop member \
             remove {member}) and add it again with an empty data dir; see docs/daemon.md"
        ),
    }
}

/// Refuses a file that does not start with redb's magic number (redb may panic on one).
fn check_magic(file: &Path, member: u64) -> Result<(), LogError> {
    use std::io::Read as _;
    let path = file.display().to_string();
    let mut head = [0u8; REDB_MAGIC.len()];
    let read = std::fs::File::open(file).and_then(|mut f| {
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    });
    match read {
        Ok(n) if n == head.len() && head == REDB_MAGIC => Ok(()),
        Ok(_) => Err(damaged(
            &path,
            member,
            "not a redb database (it does not start as one)",
        )),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// Opens (or creates) the database with redb's integrity check, which reports a damaged file
/// as corrupted where a plain open may panic; a panic is caught all the same.
fn open_db(file: &Path, member: u64) -> Result<Database, LogError> {
    let path = file.display().to_string();
    let opened = std::panic::catch_unwind(|| {
        let mut b = Database::builder();
        b.set_check_integrity_on_open(true);
        b.create(file)
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)))) => {
            Err(damaged(&path, member, &format!("corrupted ({why})")))
        }
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Err(damaged(&path, member, &format!("cut short ({e})")))
        }
        Ok(Err(e)) => Err(LogError::Redb {
            path,
            source: e.into(),
        }),
        Err(p) => Err(damaged(
            &path,
            member,
            &format!("redb panicked opening it: {}", panic_text(&p)),
        )),
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    (p.downcast_ref::<String>().cloned())
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

fn encode_pair(a: u64, b: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

fn decode_pair(bytes: &[u8]) -> Option<(u64, u64)> {
    let a = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let b = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_log_passes_the_log_suite() {
        let dir = tempfile::tempdir().unwrap();
        super::super::log_suite::run_all(dir.path(), |d| RedbLog::open(d, 1).unwrap());
    }

    #[test]
    fn a_corrupt_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbLog::open(dir.path(), 1).unwrap();
        s.write(|_, meta| {
            meta.insert(COMPACTED, [1u8, 2, 3].as_slice())?;
            Ok(())
        })
        .unwrap();
        drop(s);
        let err = RedbLog::open(dir.path(), 1).unwrap_err().to_string();
        assert!(
            err.contains("record compacted") && err.contains("raft.redb"),
            "{err}"
        );
    }

    const CRASH_CHILD: &str = "NONSTOP_REDB_CRASH_CHILD";

    /// The child's part of the test below: entries on disk, then a commit index written
    /// without an fsync and a later one only in memory (a light ready's), a snapshot at that
    /// index, and an exit that skips every destructor (as a kill would: redb's clean close
    /// never runs).
    fn write_then_die(dir: &Path) -> ! {
        let mut s = RedbLog::open(dir, 1).unwrap();
        s.bootstrap(&[(1, "a:1".to_string())].into()).unwrap();
        let ents: Vec<Entry> = (2..=6)
            .map(|index| Entry {
                index,
                term: 2,
                ..Default::default()
            })
            .collect();
        let mut hs = HardState {
            term: 2,
            vote: 1,
            commit: 1,
            ..Default::default()
        };
        s.persist(None, &ents, Some(&hs)).unwrap();
        hs.commit = 3;
        s.persist(None, &[], Some(&hs)).unwrap();
        // As the Ready loop does with a light ready's commit index: memory only.
        s.set_commit(6);
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 6;
        snap.mut_metadata().term = 2;
        snap.mut_metadata().mut_conf_state().voters = vec![1];
        s.save_snapshot(snap, 0).unwrap();
        std::process::exit(0)
    }

    /// A commit index alone is written without an fsync, or (from a light ready) not at all,
    /// so a crash may lose it; a snapshot saved at that index must not then be ahead of the
    /// commit index on disk, or raft-rs refuses to start ("applied is out of range") and the
    /// member cannot come back.
    #[test]
    fn a_snapshot_never_outruns_the_commit_index_on_disk_after_a_crash() {
        if let Some(dir) = std::env::var_os(CRASH_CHILD) {
            write_then_die(Path::new(&dir));
        }
        let dir = tempfile::tempdir().unwrap();
        let me = std::env::current_exe().unwrap();
        let status = std::process::Command::new(me)
            .args([
                "--exact",
                "raft::redb_log::tests::a_snapshot_never_outruns_the_commit_index_on_disk_after_a_crash",
                "--nocapture",
            ])
            .env(CRASH_CHILD, dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "the child failed: {status}");
        let s = RedbLog::open(dir.path(), 1).unwrap();
        let applied = s.latest_snapshot().get_metadata().index;
        assert_eq!(applied, 6);
        let state = raft::Storage::initial_state(&s).unwrap();
        assert!(
            state.hard_state.commit >= applied,
            "commit {} on disk behind the snapshot at {applied}",
            state.hard_state.commit
        );
        let cfg = raft::Config {
            id: 1,
            applied,
            ..Default::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        raft::RawNode::new(&cfg, s, &logger).expect("raft opens the log");
    }
}
