//! An identity folder: `ca.pem` (the cluster CA), `cert.pem` and `key.pem`. Written whole or
//! not at all, never over files that are there, the key readable by its owner only.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{PkiError, Result};
use crate::issue::Issued;

/// The files of an identity folder, as read.
#[derive(Clone)]
pub struct Folder {
    /// The cluster CA's certificate.
    pub ca_pem: String,
    /// This identity's certificate (the CA's own in the CA folder).
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder").finish_non_exhaustive()
    }
}

const FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

impl Folder {
    /// Reads the folder `dir`; a missing file is named.
    pub fn read(dir: &Path) -> Result<Folder> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| PkiError::file(path, e))
        };
        Ok(Folder {
            ca_pem: read("ca.pem")?,
            cert_pem: read("cert.pem")?,
            key_pem: read("key.pem")?,
        })
    }

    /// The paths of the three files in `dir`.
    pub fn paths(dir: &Path) -> [PathBuf; 3] {
        FILES.map(|f| dir.join(f))
    }
}

/// Writes `issued` with the CA's certificate `ca_pem` into the folder `dir` (created, mode
/// 0700, if missing). Refuses, writing nothing, when any of the three files is there already.
pub fn write_folder(dir: &Path, ca_pem: &str, issued: &Issued) -> Result<()> {
    for path in Folder::paths(dir) {
        if path.exists() {
            return Err(PkiError::file(
                path,
                "exists already: choose another --out, or move it away first",
            ));
        }
    }
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::file(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| PkiError::file(dir, e))?;
    }
    // Every file is complete on disk before any takes its name.
    let contents = [
        (ca_pem, 0o644),
        (issued.cert_pem.as_str(), 0o644),
        (issued.key_pem.as_str(), 0o600),
    ];
    let mut staged = Vec::new();
    for (text, mode) in contents {
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| PkiError::file(dir, e))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| PkiError::file(tmp.path(), e))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| PkiError::file(tmp.path(), e))?;
        staged.push(tmp);
    }
    let mut placed: Vec<PathBuf> = Vec::new();
    for (tmp, path) in staged.into_iter().zip(Folder::paths(dir)) {
        if let Err(e) = tmp.persist_noclobber(&path) {
            // Someone else wrote there meanwhile: take back what was placed.
            for p in &placed {
                let _ = std::fs::remove_file(p);
            }
            return Err(PkiError::file(path, e.error));
        }
        placed.push(path);
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PkiError::file(dir, e))
}
