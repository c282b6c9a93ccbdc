//! Reading a cluster description from a file: a `cluster.yaml`, or a Tmax environment file,
//! told apart by content (a Tmax file's first section starts with `*`).

use std::path::Path;

use nonstop_controller::config::{self, ClusterFile, Diagnostic};

/// Loads and checks `path` as a cluster description; every error is located in the file.
pub fn load_cluster(path: &Path) -> Result<ClusterFile, Vec<Diagnostic>> {
    let text = config::read(path)?;
    let checked = config::check(&path.display().to_string(), &text)?;
    Ok(checked.file)
}
