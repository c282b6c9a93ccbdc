//! Reading a cluster description from a file: a `cluster.yaml`, or a Tmax environment file,
//! told apart by content (a Tmax file's first section line starts with `*`).

use std::path::Path;

use super::output::tell;
use nonstop::tmax::{self, Severity};
use nonstop_controller::config::{self, ClusterFile, Diagnostic};

/// Loads and checks `path` as a cluster description; every error is located in the file.
/// Tmax warnings are printed to standard error and do not stop the load.
pub fn load_cluster(path: &Path) -> Result<ClusterFile, Vec<Diagnostic>> {
    let text = config::read(path)?;
    if !is_tmax(&text) {
        let name = path.display().to_string();
        let file = config::check(&name, &text)?.file;
        let agents = super::fence_agents::check(&name, &text, &file);
        return if agents.is_empty() {
            Ok(file)
        } else {
            Err(agents)
        };
    }
    let errors = |fs: Vec<tmax::Finding>| {
        fs.into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.diag)
            .collect::<Vec<_>>()
    };
    let (file, warnings) = tmax::import_path(path).map_err(errors)?;
    for w in warnings {
        tell!("{w}");
    }
    Ok(file)
}

/// Whether the text is a Tmax environment file: its first line that is neither blank nor a
/// comment starts a section (`*DOMAIN`, `*NODE`, ...).
fn is_tmax(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('*'))
}
