//! The high-water mark beside a member's raft log (`member.json` in the log's directory): whose
//! log it is, and the highest term and commit index it durably held. At start, a log that
//! is missing, empty, holds no raft state, or holds less than the mark is refused: the member
//! lost or rolled back data it had acknowledged to the cluster (votes, entries), and raft is
//! only safe if it never forgets them. That is etcd's rule too: such a member is removed from
//! the cluster and added again with an empty data directory.
//!
//! The mark is written after the log (once the member has sent the acknowledgements of that
//! write, so that it never delays them), only when it moved on meaningfully (a new term at once,
//! a higher commit at most every [`MARK_EVERY`]), atomically (a temporary file, fsync, rename,
//! fsync of the directory). So it never claims more than the log holds, and a copy of the log
//! taken less than `MARK_EVERY` before the last commits of a term, with no election since, is
//! not told apart from the real one (docs/daemon.md).
//!
//! [`check`] is the decision alone; [`load`] and [`save`] are the file's I/O.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LogError;

/// The mark's file name, in the raft log's directory.
pub(crate) const FILE: &str = "member.json";
/// A higher commit index is written at most this often (a new term is written at once).
pub(crate) const MARK_EVERY: Duration = Duration::from_secs(1);

/// What a member's log held, durably, at some point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Mark {
    /// The member whose log it is.
    pub member: u64,
    /// Its highest term.
    pub term: u64,
    /// Its highest commit index.
    pub commit: u64,
}

/// What the raft log file holds at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    /// There is no file.
    Missing,
    /// The file is empty (0 bytes).
    Empty,
    /// A database with no raft state in it.
    New,
    /// Raft state with this term and commit index.
    Holds { term: u64, commit: u64 },
}

/// Whether member `member` may start on `log`, given the mark found beside it (`None`: no
/// mark, a member that never held raft state, or data from before marks were kept). The
/// error's text names the file at fault (`log_file` or `mark_file`) and what to do.
pub(crate) fn check(
    mark: Option<&Mark>,
    log: Log,
    member: u64,
    log_file: &Path,
    mark_file: &Path,
) -> Result<(), LogError> {
    let Some(mark) = mark else {
        return Ok(());
    };
    if mark.member != member {
        return Err(LogError::Refused {
            path: mark_file.display().to_string(),
            reason: format!(
                "this raft data is member {}'s, not member {member}'s (controller.id): start it \
                 with member {}'s configuration, or give member {member} an empty data dir",
                mark.member, mark.member
            ),
        });
    }
    let had = format!(
        "{} says this member held term {}, commit {}",
        FILE, mark.term, mark.commit
    );
    let what = match log {
        Log::Missing => "is missing".to_string(),
        Log::Empty => "is empty".to_string(),
        Log::New => "holds no raft state".to_string(),
        Log::Holds { term, commit } if term < mark.term || commit < mark.commit => {
            format!("holds term {term}, commit {commit}")
        }
        Log::Holds { .. } => return Ok(()),
    };
    let lost = match log {
        Log::Holds { .. } => "rolled back (an older copy?)",
        _ => "lost",
    };
    Err(LogError::Refused {
        path: log_file.display().to_string(),
        reason: format!(
            "it {what} but {had}: this member's data was {lost}, and a member that forgot its \
             votes and acknowledgements must not rejoin as itself. Remove it from the cluster \
             (nonstop member remove {member}) and add it again with an empty data dir (delete \
             {}, set controller.bootstrap: false, start it, then nonstop member add --id \
             {member} --address ADDRESS); see docs/daemon.md",
            log_file.parent().unwrap_or(Path::new(".")).display()
        ),
    })
}

/// Whether `next` is worth writing over `prev`, written `since` ago.
pub(crate) fn due(prev: Option<&Mark>, next: &Mark, since: Duration) -> bool {
    match prev {
        None => true,
        Some(p) => {
            p.member != next.member
                || next.term > p.term
                || (next.commit > p.commit && since >= MARK_EVERY)
        }
    }
}

/// The mark in `dir`, if there is one; an error names the file.
pub(crate) fn load(dir: &Path) -> Result<Option<Mark>, LogError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_err(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LogError::Refused {
            path: path.display().to_string(),
            reason: format!(
                "not a high-water mark ({e}): it guards the raft log beside it against being \
                 lost or rolled back; if that log is this member's latest, remove {FILE} (it is \
                 written again)"
            ),
        })
}

/// Writes `mark` in `dir` atomically and durably; an error names the file.
pub(crate) fn save(dir: &Path, mark: &Mark) -> Result<(), LogError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let text = serde_json::to_string(mark).expect("a mark serialises");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write().map_err(|e| file_err(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| file_err(&path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_err(dir, e))
}

fn file_err(path: &Path, source: std::io::Error) -> LogError {
    LogError::File {
        path: PathBuf::from(path).display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(term: u64, commit: u64) -> Mark {
        Mark {
            member: 1,
            term,
            commit,
        }
    }

    fn refused(mark: Option<&Mark>, log: Log, member: u64) -> Option<String> {
        let (l, m) = (
            Path::new("/d/raft/raft.redb"),
            Path::new("/d/raft/member.json"),
        );
        check(mark, log, member, l, m).err().map(|e| e.to_string())
    }

    #[test]
    fn i10_6_a_log_behind_its_mark_is_refused() {
        let m = mark(5, 100);
        for log in [Log::Missing, Log::Empty, Log::New] {
            let e = refused(Some(&m), log, 1).unwrap();
            assert!(e.starts_with("raft store /d/raft/raft.redb: it "), "{e}");
            assert!(
                e.contains("was lost") && e.contains("nonstop member remove 1"),
                "{e}"
            );
        }
        let behind = |term, commit| refused(Some(&m), Log::Holds { term, commit }, 1);
        let e = behind(5, 99).unwrap();
        assert!(
            e.contains("holds term 5, commit 99") && e.contains("rolled back"),
            "{e}"
        );
        assert!(behind(4, 200).unwrap().contains("rolled back"));
        assert_eq!(behind(5, 100), None);
        assert_eq!(behind(6, 100), None);
        // No mark: a member that never held raft state, or data from before marks.
        assert_eq!(refused(None, Log::Missing, 1), None);
        let other = refused(
            Some(&m),
            Log::Holds {
                term: 9,
                commit: 900,
            },
            2,
        )
        .unwrap();
        assert!(
            other.starts_with(
                "raft store /d/raft/member.json: this raft data is member 1's, not member 2's"
            ),
            "{other}"
        );
    }

    #[test]
    fn i10_6_the_mark_moves_on_a_new_term_at_once_and_on_commits_at_most_every_second() {
        let m = mark(5, 100);
        assert!(due(None, &m, Duration::ZERO));
        assert!(due(Some(&m), &mark(6, 100), Duration::ZERO));
        assert!(!due(Some(&m), &mark(5, 150), Duration::from_millis(999)));
        assert!(due(Some(&m), &mark(5, 150), MARK_EVERY));
        assert!(!due(Some(&m), &mark(5, 100), Duration::from_secs(60)));
    }

    #[test]
    fn i10_6_a_mark_survives_a_round_trip_and_garbage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        save(dir.path(), &mark(3, 7)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(mark(3, 7)));
        std::fs::write(dir.path().join(FILE), "{\"member\": 1").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("member.json: not a high-water mark"), "{e}");
    }
}
