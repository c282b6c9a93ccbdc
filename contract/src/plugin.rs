//! What the controller knows of plug-in types without running them: how long an `exec`
//! plug-in's or an OCF agent's stop may take, and which OCF provider and agent names it
//! accepts. The handlers that run them (nonstop-resource-types, `exec.rs` and `ocf.rs`) keep
//! these same bounds and check the same names.

/// `exec` plug-ins (docs/plugins.md).
pub mod exec {
    use std::time::Duration;

    /// The longest a plug-in's terminate takes: `terminate`, then `offline`, then killing what
    /// carries the marker.
    pub const STOP_BOUND: Duration = Duration::from_secs(21);
}

/// OCF resource agents (docs/resource-types.md).
pub mod ocf {
    use std::time::Duration;

    /// The longest an OCF terminate takes: its stop, then killing what carries the marker.
    pub const STOP_BOUND: Duration = Duration::from_secs(21);

    /// Whether `s` can name a provider folder or an agent file: one file name, inside
    /// `resource.d` (not empty, no `/`, not `.` or `..`). The controller checks it when a type
    /// is applied, the handler again before it runs anything.
    pub fn clean_name(s: &str) -> bool {
        !s.is_empty() && !s.contains('/') && s != "." && s != ".."
    }
}
