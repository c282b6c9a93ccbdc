//! A member's [`Witness`] as the agent service and the leader share it, with its suspicions kept
//! in a file so that a restarted member still refuses the nodes it promised to refuse.
//!
//! The file holds `{node: wall-clock ms until}`, rewritten (temporary file, fsync, rename) when a
//! node is newly suspected or its suspicion grows by more than half its length; that is before
//! the verdict is answered. Read back at start, with wall-clock time, the only clock that
//! survives a restart; a suspicion whose end has passed is dropped.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::witness::{Verdict, Witness};

/// This member's view of the agents' heartbeats, shared by the agent service and the leader.
#[derive(Clone, Debug)]
pub struct SharedWitness {
    view: Arc<Mutex<Witness>>,
    file: Option<Arc<PathBuf>>,
    /// Suspicion ends as last written (wall-clock ms).
    written: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl SharedWitness {
    /// A witness starting now; with `file`, it reads the suspicions a previous run left there
    /// and keeps new ones in it.
    pub fn new(file: Option<PathBuf>) -> Self {
        let now = Instant::now();
        let mut view = Witness::new(now);
        let mut written = BTreeMap::new();
        if let Some(path) = &file {
            let wall = wall_ms();
            for (node, until) in load(path) {
                if until > wall {
                    view.restore(&node, Duration::from_millis(until - wall), now);
                    written.insert(node, until);
                }
            }
        }
        SharedWitness {
            view: Arc::new(Mutex::new(view)),
            file: file.map(Arc::new),
            written: Arc::new(Mutex::new(written)),
        }
    }

    /// The witness, locked.
    pub fn lock(&self) -> MutexGuard<'_, Witness> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Witness::verdict`], with a new or grown suspicion written to the file before it
    /// returns.
    pub fn verdict(&self, node: &str, node_timeout: Duration, lease: Duration) -> Verdict {
        let now = Instant::now();
        let (verdict, suspicions) = {
            let mut w = self.lock();
            let v = w.verdict(node, now, node_timeout, lease);
            (v, w.suspicions(now))
        };
        if matches!(verdict, Verdict::Silent(_)) {
            self.persist(node, suspicions, node_timeout);
        }
        verdict
    }

    /// [`Witness::suspect`], written to the file before it returns.
    pub fn suspect(&self, node: &str, node_timeout: Duration) {
        let now = Instant::now();
        let suspicions = {
            let mut w = self.lock();
            w.suspect(node, now, node_timeout);
            w.suspicions(now)
        };
        self.persist(node, suspicions, node_timeout);
    }

    fn persist(&self, node: &str, suspicions: Vec<(String, Duration)>, node_timeout: Duration) {
        let Some(path) = &self.file else { return };
        let wall = wall_ms();
        let ends: BTreeMap<String, u64> = suspicions
            .into_iter()
            .map(|(n, left)| (n, wall + left.as_millis() as u64))
            .collect();
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let grown = match (written.get(node), ends.get(node)) {
            (Some(old), Some(new)) => new.saturating_sub(*old) > node_timeout.as_millis() as u64,
            (None, Some(_)) => true,
            _ => false,
        };
        if !grown {
            return;
        }
        match save(path, &ends) {
            Ok(()) => *written = ends,
            Err(e) => warn!(path = %path.display(), %e, "cannot keep the suspicions"),
        }
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn load(path: &Path) -> BTreeMap<String, u64> {
    let Ok(bytes) = std::fs::read(path) else {
        return BTreeMap::new();
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        warn!(path = %path.display(), %e, "unreadable suspicions file: ignored");
        BTreeMap::new()
    })
}

/// Writes the file through a temporary file beside it (tempfile's `NamedTempFile`, removed if
/// anything fails), fsynced, renamed over it, then the directory fsynced.
fn save(path: &Path, ends: &BTreeMap<String, u64>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .permissions(Permissions::from_mode(0o666)) // less the umask, as File::create
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec(ends).map_err(std::io::Error::other)?)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(300);
    const LEASE: Duration = Duration::from_millis(100);

    #[test]
    fn a_restarted_member_keeps_refusing_the_nodes_it_suspected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("suspicions.json");
        let w = SharedWitness::new(Some(path.clone()));
        std::thread::sleep(TIMEOUT);
        assert!(matches!(w.verdict("a", TIMEOUT, LEASE), Verdict::Silent(_)));
        drop(w);
        let again = SharedWitness::new(Some(path.clone()));
        let refused = again.lock().heard("a", Instant::now(), LEASE, true);
        assert!(refused.is_err(), "the suspicion survived the restart");
        assert!(again.lock().heard("b", Instant::now(), LEASE, true).is_ok());
    }

    #[test]
    fn a_garbled_file_is_ignored_and_nothing_is_suspected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("suspicions.json");
        std::fs::write(&path, "{not json").unwrap();
        let w = SharedWitness::new(Some(path));
        assert!(w.lock().heard("a", Instant::now(), LEASE, true).is_ok());
    }
}
