//! The agent's state file: what it has started, so that an agent that died and restarted can
//! terminate the leftovers before it registers (docs/design.md).
//!
//! One JSON object, resource name -> type and [`Footprint`], rewritten whole on every change:
//! written to a temporary file, fsynced, renamed over the old one, and the directory fsynced, so
//! a crash at any moment leaves either the old or the new file, never a torn one (a crash before
//! the rename may leave the temporary file, `.tmp` and six random characters, beside it).

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nonstop_contract::HandlerRef;
use nonstop_resource_types::Footprint;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{AgentError, Result};

/// One started resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Its type's name.
    pub type_name: String,
    /// The handler that runs the type (to find it again for `clean_up`).
    pub handler: HandlerRef,
    /// What it leaves on the machine.
    pub footprint: Footprint,
}

/// The file's content: started resources by name.
pub type StartedMap = BTreeMap<String, Started>;

/// The state file, shared by the agent's group tasks. Writes are serialized by a lock, so the
/// file always holds the latest map.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    map: Mutex<StartedMap>,
}

impl StateFile {
    /// A state file at `path` that starts empty (call after the leftovers are cleaned).
    pub fn new(path: PathBuf) -> Self {
        StateFile {
            path,
            map: Mutex::new(StartedMap::new()),
        }
    }

    /// Reads what a previous agent left in `path`; a missing file is an empty map.
    pub fn load(path: &Path) -> Result<StartedMap> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AgentError::StateFile {
                path: path.to_path_buf(),
                reason: format!("not a valid state file: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StartedMap::new()),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Records `resource` as started with `started`, or forgets it (`None`), and rewrites the
    /// file when that changed anything.
    pub async fn set(&self, resource: &str, started: Option<Started>) -> Result<()> {
        let mut map = self.map.lock().await;
        let changed = match started {
            Some(s) if !s.footprint.is_empty() => map
                .insert(resource.to_string(), s.clone())
                .is_none_or(|old| old != s),
            _ => map.remove(resource).is_some(),
        };
        if !changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&*map).map_err(|e| AgentError::StateFile {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let path = self.path.clone();
        // Hold the lock across the write: two writers must not reorder their renames.
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| AgentError::StateFile {
                path: self.path.clone(),
                reason: e.to_string(),
            })?
    }

    /// Writes an empty map (after the leftovers are cleaned).
    pub fn clear(&self) -> Result<()> {
        self.restart_with(StartedMap::new())
    }

    /// Starts this run's file with `left`, the leftovers of an earlier run not undone yet.
    pub fn restart_with(&self, left: StartedMap) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&left).map_err(|e| AgentError::StateFile {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &bytes)?;
        *self.map.try_lock().map_err(|_| AgentError::StateFile {
            path: self.path.clone(),
            reason: "in use while restarting".into(),
        })? = left;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file beside it (tempfile's `NamedTempFile`,
/// removed if anything fails), fsynced, renamed over `path`, then the directory fsynced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .permissions(Permissions::from_mode(0o666)) // less the umask, as File::create
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_error(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| io_error(path, e.error))?;
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn io_error(path: &Path, e: std::io::Error) -> AgentError {
    AgentError::StateFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(pgid: i32) -> Started {
        Started {
            type_name: "process".into(),
            handler: HandlerRef::Builtin("process".into()),
            footprint: Footprint {
                process_groups: vec![nonstop_resource_types::procs::ProcessGroup {
                    pgid,
                    start: Some(1),
                }],
                ..Footprint::default()
            },
        }
    }

    #[tokio::test]
    async fn records_and_forgets_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = StateFile::new(path.clone());
        file.set("a", Some(started(10))).await.unwrap();
        file.set("b", Some(started(20))).await.unwrap();
        file.set("a", None).await.unwrap();
        let back = StateFile::load(&path).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(back["b"].footprint.process_groups[0].pgid, 20);
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(
            files.len(),
            1,
            "no temporary file is left behind: {files:?}"
        );
    }

    #[tokio::test]
    async fn an_empty_footprint_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = StateFile::new(path.clone());
        let mut s = started(1);
        s.footprint = Footprint::default();
        file.set("a", Some(s)).await.unwrap();
        assert!(StateFile::load(&path).unwrap().is_empty());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_garbled_one_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(StateFile::load(&path).unwrap().is_empty());
        std::fs::write(&path, "{not json").unwrap();
        let err = StateFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("not a valid state file"),
            "{err}"
        );
    }
}
