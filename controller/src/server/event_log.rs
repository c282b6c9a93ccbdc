//! A member's event history on disk (`DATA_DIR/events.redb`), so that `nonstop events` still
//! shows what happened after the member restarts, whatever its raft log kept.
//!
//! Each member writes the events it applies, keyed by revision (the raft index, the same on
//! every member) and their place in that command, as JSON. Bounded: at most [`KEEP_EVENTS`]
//! events and none older than [`KEEP_AGE`] (by the events' cluster time); the oldest go first.
//! The history is a convenience, never in the way of the cluster: a file that cannot be opened
//! is moved aside and started afresh, and a write that fails is logged and skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::db::Event;
use crate::time::Time;

/// Events by (revision, place in the command).
const EVENTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("events");

/// At most this many events are kept.
pub const KEEP_EVENTS: u64 = 100_000;

/// No event older than this is kept (30 days).
pub const KEEP_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// A revision's events.
pub type Revisioned = (u64, Event);

/// Why a file could not be opened.
#[derive(Debug)]
enum Failed {
    /// It is not a sound database: set it aside.
    Damaged(String),
    /// In use, or unreadable: leave it.
    Other(String),
}

/// The file.
#[derive(Debug)]
pub struct EventLog {
    db: Database,
    path: PathBuf,
}

impl EventLog {
    /// Opens (or creates) the history at `path`. A file that is not a sound redb database is
    /// renamed to `PATH.damaged` (replacing an earlier one) and a new one started; a file that
    /// cannot be opened for another reason (in use, unreadable) is left alone and there is no
    /// history on disk. The error says which, for the log.
    pub fn open(path: &Path) -> (Option<EventLog>, Option<String>) {
        match Self::open_plain(path) {
            Ok(log) => (Some(log), None),
            Err(Failed::Other(e)) => (None, Some(format!("{}: {e}", path.display()))),
            Err(Failed::Damaged(first)) => {
                let aside = path.with_extension("redb.damaged");
                let moved = std::fs::rename(path, &aside);
                let why = format!(
                    "{}: {first}; {}",
                    path.display(),
                    match moved {
                        Ok(()) => format!("moved to {}, starting a new history", aside.display()),
                        Err(e) => format!("cannot move it aside ({e})"),
                    }
                );
                match Self::open_plain(path) {
                    Ok(log) => (Some(log), Some(why)),
                    Err(Failed::Damaged(e) | Failed::Other(e)) => {
                        (None, Some(format!("{why}; no history on disk: {e}")))
                    }
                }
            }
        }
    }

    fn open_plain(path: &Path) -> Result<EventLog, Failed> {
        use redb::{DatabaseError, StorageError};
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Failed::Other(e.to_string()))?;
        }
        // redb panics on some damaged files; such a file is one that cannot be opened.
        let opened = std::panic::catch_unwind(|| Database::create(path));
        let db = match opened {
            Ok(Ok(db)) => db,
            // In use, or the disk says no (permissions, full): nothing wrong with the file.
            // (redb reports a file that is not a redb database as invalid data.)
            Ok(Err(
                e @ (DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch),
            )) => {
                return Err(Failed::Other(e.to_string()));
            }
            Ok(Err(DatabaseError::Storage(StorageError::Io(e))))
                if e.kind() != std::io::ErrorKind::InvalidData =>
            {
                return Err(Failed::Other(e.to_string()));
            }
            Ok(Err(e)) => return Err(Failed::Damaged(e.to_string())),
            Err(_) => return Err(Failed::Damaged("redb panicked opening it".into())),
        };
        let log = EventLog {
            db,
            path: path.to_path_buf(),
        };
        let damaged = |e: &dyn std::fmt::Display| Failed::Damaged(e.to_string());
        let txn = log.db.begin_write().map_err(|e| damaged(&e))?;
        txn.open_table(EVENTS).map_err(|e| damaged(&e))?;
        txn.commit().map_err(|e| damaged(&e))?;
        Ok(log)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last revision written (0: none).
    pub fn last_revision(&self) -> Result<u64, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        let last = t.last().map_err(|e| e.to_string())?;
        Ok(last.map_or(0, |(k, _)| k.value().0))
    }

    /// The most recent events, at most `max`, of whole commands only (a command that would
    /// cross `max` is left out with all before it), oldest first.
    pub fn recent(&self, max: usize) -> Result<Vec<Revisioned>, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        let mut out: Vec<Revisioned> = Vec::new();
        for row in t.iter().map_err(|e| e.to_string())?.rev() {
            let (k, v) = row.map_err(|e| e.to_string())?;
            let (rev, _) = k.value();
            if out.len() >= max && out.last().is_some_and(|(r, _)| *r != rev) {
                break;
            }
            match serde_json::from_slice::<Event>(v.value()) {
                Ok(e) => out.push((rev, e)),
                Err(e) => tracing::warn!("event history: revision {rev} unreadable: {e}"),
            }
        }
        // Whole commands only: drop a partial oldest one.
        if out.len() > max
            && let Some(&(oldest, _)) = out.last()
        {
            out.retain(|(r, _)| *r != oldest);
        }
        out.reverse();
        Ok(out)
    }

    /// The events with `after < revision < before`, oldest first.
    pub fn between(&self, after: u64, before: u64) -> Result<Vec<Revisioned>, String> {
        if before <= after.saturating_add(1) {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let rows = t
            .range((after + 1, 0)..(before, 0))
            .map_err(|e| e.to_string())?;
        for row in rows {
            let (k, v) = row.map_err(|e| e.to_string())?;
            let (rev, _) = k.value();
            match serde_json::from_slice::<Event>(v.value()) {
                Ok(e) => out.push((rev, e)),
                Err(e) => tracing::warn!("event history: revision {rev} unreadable: {e}"),
            }
        }
        Ok(out)
    }

    /// Writes commands' events in one transaction (each `(revision, events)`), then drops what
    /// is past the bounds. Revisions already written are skipped.
    pub fn append(&self, batch: &[(u64, Vec<Event>)], now: Time) -> Result<(), String> {
        let last = self.last_revision()?;
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
            for (rev, events) in batch.iter().filter(|(r, _)| *r > last) {
                for (i, e) in events.iter().enumerate() {
                    let json = serde_json::to_vec(e).map_err(|e| e.to_string())?;
                    t.insert((*rev, i as u32), json.as_slice())
                        .map_err(|e| e.to_string())?;
                }
            }
            prune(&mut t, KEEP_EVENTS, oldest_kept(now))?;
        }
        txn.commit().map_err(|e| e.to_string())
    }

    /// How many events it holds.
    pub fn len(&self) -> Result<u64, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        t.len().map_err(|e| e.to_string())
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> Result<bool, String> {
        self.len().map(|n| n == 0)
    }
}

/// The time before which events are dropped.
fn oldest_kept(now: Time) -> Time {
    Time(now.0.saturating_sub(KEEP_AGE.as_millis() as u64))
}

/// Drops the oldest events while there are more than `keep`, or while the oldest is older
/// than `oldest`.
fn prune(t: &mut redb::Table<(u64, u32), &[u8]>, keep: u64, oldest: Time) -> Result<(), String> {
    loop {
        let len = t.len().map_err(|e| e.to_string())?;
        let Some((_, v)) = t.first().map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let old = serde_json::from_slice::<Event>(v.value()).map_or(true, |e| e.at < oldest);
        drop(v);
        if len <= keep && !old {
            return Ok(());
        }
        t.pop_first().map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::EventKind;

    fn ev(at: u64, n: u64) -> Event {
        Event {
            at: Time(at),
            kind: EventKind::ConfigChanged {
                change: format!("+ node n{n}"),
            },
        }
    }

    #[test]
    fn what_is_written_is_read_back_after_reopening_in_order_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let (log, why) = EventLog::open(&path);
        assert!(why.is_none());
        let log = log.unwrap();
        let now = Time(1_000_000);
        log.append(&[(3, vec![ev(1, 1), ev(1, 2)]), (7, vec![ev(2, 3)])], now)
            .unwrap();
        // A replay of revision 7 (a restarted member re-applying its log) adds nothing.
        log.append(&[(7, vec![ev(2, 3)]), (9, vec![ev(3, 4)])], now)
            .unwrap();
        drop(log);
        let log = EventLog::open(&path).0.unwrap();
        assert_eq!(log.last_revision().unwrap(), 9);
        let all = log.between(0, u64::MAX).unwrap();
        let revs: Vec<u64> = all.iter().map(|(r, _)| *r).collect();
        assert_eq!(revs, [3, 3, 7, 9]);
        assert_eq!(all[1].1, ev(1, 2));
        assert_eq!(log.between(3, 9).unwrap().len(), 1, "only revision 7");
        // The most recent, whole commands only: 2 events would split revision 3.
        let recent: Vec<u64> = log.recent(2).unwrap().iter().map(|(r, _)| *r).collect();
        assert_eq!(recent, [7, 9]);
        assert_eq!(log.recent(10).unwrap().len(), 4);
    }

    #[test]
    fn the_oldest_go_first_past_the_count_or_the_age() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(&dir.path().join("e.redb")).0.unwrap();
        let day = 24 * 3600 * 1000;
        let now = Time(100 * day);
        // One older than 30 days, one just inside.
        log.append(
            &[(1, vec![ev(69 * day, 1)]), (2, vec![ev(71 * day, 2)])],
            now,
        )
        .unwrap();
        let left: Vec<u64> = (log.between(0, u64::MAX).unwrap().iter())
            .map(|(r, _)| *r)
            .collect();
        assert_eq!(left, [2]);
        let txn = log.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(EVENTS).unwrap();
            for r in 3..10 {
                t.insert(
                    (r, 0),
                    serde_json::to_vec(&ev(99 * day, r)).unwrap().as_slice(),
                )
                .unwrap();
            }
            prune(&mut t, 5, oldest_kept(now)).unwrap();
        }
        txn.commit().unwrap();
        let left: Vec<u64> = (log.between(0, u64::MAX).unwrap().iter())
            .map(|(r, _)| *r)
            .collect();
        assert_eq!(left, [5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_file_in_use_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let first = EventLog::open(&path).0.unwrap();
        first.append(&[(1, vec![ev(1, 1)])], Time(2)).unwrap();
        let (second, why) = EventLog::open(&path);
        assert!(second.is_none());
        assert!(why.unwrap().contains("already open"));
        assert!(!dir.path().join("events.redb.damaged").exists());
        assert_eq!(first.len().unwrap(), 1, "nothing was moved or lost");
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_a_new_history_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        std::fs::write(&path, b"not a database at all, just bytes").unwrap();
        let (log, why) = EventLog::open(&path);
        let why = why.expect("it says what happened");
        assert!(why.contains("events.redb.damaged"), "{why}");
        let log = log.expect("a new history");
        assert!(log.is_empty().unwrap());
        assert!(dir.path().join("events.redb.damaged").exists());
    }
}
