//! Why a command was rejected. A rejected command changes nothing.

/// A rejected command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The thing a command is about does not exist.
    #[error("unknown {kind} {name:?}")]
    NotFound {
        /// What kind of thing (`node`).
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A reference to something that does not exist.
    #[error("{subject}: {field} names unknown {kind} {name:?}")]
    Unknown {
        /// The thing being changed (`group "SOCKET_GROUP"`).
        subject: String,
        /// The field holding the reference (`owners`).
        field: String,
        /// What kind of thing it names (`node`).
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A field with a bad value.
    #[error("{subject}: {field}: {reason}")]
    Invalid {
        /// The thing being changed.
        subject: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A well-formed command that the current state does not allow.
    #[error("{subject}: {reason}")]
    Refused {
        /// The thing being changed.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Dependencies that would form a cycle.
    #[error("dependency cycle: {}", .path.join(" -> "))]
    DependencyCycle {
        /// The cycle, first resource repeated at the end.
        path: Vec<String>,
    },
    /// A report from an agent about a placement that is no longer current.
    #[error(
        "stale report on resource {resource:?} from node {node:?}: epoch {epoch}, current {current}"
    )]
    Stale {
        /// The resource.
        resource: String,
        /// The reporting node.
        node: String,
        /// The epoch the report is for.
        epoch: u64,
        /// The group's current epoch.
        current: u64,
    },
    /// A report the leader applied already: its agent sent the batch again.
    #[error("report {seq} of node {node:?} (run {incarnation}) was applied already (last {last})")]
    Duplicate {
        /// The reporting node.
        node: String,
        /// The agent's run.
        incarnation: u64,
        /// The report's place in that run.
        seq: u64,
        /// The last report applied from that run.
        last: u64,
    },
    /// A stop confirmation for a move that is not the group's current one.
    #[error(
        "stale stop confirmation for group {group:?} from node {node:?}: move {stop}, current {current:?}"
    )]
    StaleStop {
        /// The group.
        group: String,
        /// The confirming node.
        node: String,
        /// The move it confirms.
        stop: u64,
        /// The group's current move, if any.
        current: Option<u64>,
    },
    /// A watchdog's word about a daemon run that is not the node's current one.
    #[error(
        "node {node:?}: run {incarnation:016x} is not its current daemon run ({current:016x}): \
         a newer one registered since, or this one never did"
    )]
    StaleIncarnation {
        /// The node.
        node: String,
        /// The run the word is about.
        incarnation: u64,
        /// The node's current run (0: none registered with a number).
        current: u64,
    },
    /// One change of a batch failed, so none was applied.
    #[error("change {index} of {total} ({op}): {source}")]
    InBatch {
        /// 1-based position in the batch.
        index: usize,
        /// Size of the batch.
        total: usize,
        /// The change, in one line.
        op: String,
        /// Why it failed.
        #[source]
        source: Box<ApplyError>,
    },
}

/// Result of applying a command.
pub type Result<T> = std::result::Result<T, ApplyError>;

pub(crate) fn subject(kind: &str, name: &str) -> String {
    format!("{kind} {name:?}")
}

pub(crate) fn unknown(subject: String, field: &str, kind: &'static str, name: &str) -> ApplyError {
    ApplyError::Unknown {
        subject,
        field: field.to_string(),
        kind,
        name: name.to_string(),
    }
}

pub(crate) fn invalid(subject: String, field: &str, reason: impl Into<String>) -> ApplyError {
    ApplyError::Invalid {
        subject,
        field: field.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn refused(subject: String, reason: impl Into<String>) -> ApplyError {
    ApplyError::Refused {
        subject,
        reason: reason.into(),
    }
}

pub(crate) fn not_found(kind: &'static str, name: &str) -> ApplyError {
    ApplyError::NotFound {
        kind,
        name: name.to_string(),
    }
}
