//! A cache of OCF agents' meta-data on disk, shared by the daemons of one machine (as
//! Pacemaker's executor keeps agents' meta-data once read). Running `meta-data` sources the
//! agent's shell library and takes tens of milliseconds per agent: a Debian machine with
//! resource-agents has about 140 agents, seconds of CPU for every daemon start otherwise.
//!
//! An entry is `<dir>/<provider>/<agent>.xml`: a first line with the key, then the agent's
//! output. The key is what the output depends on: the agent file (path, size, modification
//! time, inode) and the OCF shell library it sources (size and modification time). An
//! upgraded package changes the key, so the entry is read again; an entry that does not match
//! is ignored and replaced. Entries are written whole (a temporary file renamed), so a reader
//! never sees half of one; readers in several daemons at once serialise on `<dir>/.lock` so
//! that one reads an agent and the others find it cached.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The cache in directory `dir`.
#[derive(Clone, Debug)]
pub struct MetaCache {
    dir: PathBuf,
}

/// A file's size and modification time (nanoseconds), which change when it is rewritten.
fn stamp(m: &std::fs::Metadata) -> String {
    let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    format!("{} {mtime}", m.len())
}

/// What an entry's output depends on, as one line: the agent (its path, stamp and inode) and
/// the OCF shell library it sources.
fn key(root: &Path, agent: &Path) -> Option<String> {
    let m = std::fs::metadata(agent).ok()?;
    let lib = std::fs::metadata(root.join("lib/heartbeat/ocf-shellfuncs"))
        .map_or_else(|_| "-".into(), |l| stamp(&l));
    Some(format!(
        "v1 {} {} {} {} {lib}",
        root.display(),
        agent.display(),
        stamp(&m),
        m.ino()
    ))
}

impl MetaCache {
    /// A cache in `dir` (made when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        MetaCache { dir: dir.into() }
    }

    fn entry(&self, provider: &str, agent: &str) -> PathBuf {
        self.dir.join(provider).join(format!("{agent}.xml"))
    }

    /// The output cached for agent `provider`/`agent` at `path`, if it is still current.
    pub fn get(&self, root: &Path, provider: &str, agent: &str, path: &Path) -> Option<String> {
        let want = key(root, path)?;
        let text = std::fs::read_to_string(self.entry(provider, agent)).ok()?;
        let (have, output) = text.split_once('\n')?;
        (have == want).then(|| output.to_string())
    }

    /// Keeps `output` for agent `provider`/`agent` at `path`.
    pub fn put(
        &self,
        root: &Path,
        provider: &str,
        agent: &str,
        path: &Path,
        output: &str,
    ) -> std::io::Result<()> {
        let Some(k) = key(root, path) else {
            return Ok(());
        };
        let dir = self.dir.join(provider);
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(k.as_bytes())?;
        tmp.write_all(b"\n")?;
        tmp.write_all(output.as_bytes())?;
        tmp.persist(self.entry(provider, agent))
            .map(drop)
            .map_err(|e| e.error)
    }

    /// Holds the cache for this process until the guard is dropped; `None` while another
    /// process (a daemon filling the cache) holds it.
    pub fn try_lock(&self) -> std::io::Result<Option<nix::fcntl::Flock<std::fs::File>>> {
        std::fs::create_dir_all(&self.dir)?;
        let file = (std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true))
        .open(self.dir.join(".lock"))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(guard) => Ok(Some(guard)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }

    /// As [`MetaCache::try_lock`], waiting (without blocking a thread) while another process
    /// holds it.
    pub async fn lock(&self) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
        loop {
            if let Some(guard) = self.try_lock()? {
                return Ok(guard);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(root: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = root.join("resource.d/test");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("A");
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn an_entry_is_found_until_the_agent_or_its_library_changes() {
        let root = tempfile::tempdir().unwrap();
        let cache = MetaCache::new(root.path().join("cache"));
        let path = agent(root.path(), "#!/bin/sh\n");
        let r = root.path();
        assert_eq!(cache.get(r, "test", "A", &path), None);
        cache
            .put(r, "test", "A", &path, "<xml>\n1\n</xml>\n")
            .unwrap();
        assert_eq!(
            cache.get(r, "test", "A", &path).as_deref(),
            Some("<xml>\n1\n</xml>\n")
        );
        // The package upgraded the agent: a new file (a new inode, size or time).
        std::fs::remove_file(&path).unwrap();
        let path = agent(r, "#!/bin/sh\n# version 2\n");
        assert_eq!(cache.get(r, "test", "A", &path), None);
        cache.put(r, "test", "A", &path, "<xml>2</xml>").unwrap();
        assert_eq!(
            cache.get(r, "test", "A", &path).as_deref(),
            Some("<xml>2</xml>")
        );
        // Its shell library changed.
        let lib = r.join("lib/heartbeat");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("ocf-shellfuncs"), "# new\n").unwrap();
        assert_eq!(cache.get(r, "test", "A", &path), None);
    }

    #[test]
    fn a_damaged_entry_is_a_miss() {
        let root = tempfile::tempdir().unwrap();
        let cache = MetaCache::new(root.path().join("cache"));
        let path = agent(root.path(), "#!/bin/sh\n");
        let entry = cache.entry("test", "A");
        std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
        for junk in ["", "no newline", "v1 other key\n<xml/>"] {
            std::fs::write(&entry, junk).unwrap();
            assert_eq!(cache.get(root.path(), "test", "A", &path), None, "{junk:?}");
        }
    }
}
