//! Why a raft request failed: errors a caller can act on (retry, go to the leader) kept apart
//! from fatal ones (the member's storage failed and it stopped).

use std::time::Duration;

/// A failed raft request.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// No leader is known yet (an election is under way): retry shortly.
    #[error("no raft leader is known yet; retry when one is elected")]
    NoLeader,
    /// This member does not take proposals (forwarding is off) and names the leader.
    #[error("this member is not the raft leader; the leader is member {leader} at {}",
        .address.as_deref().unwrap_or("an unknown address"))]
    NotLeader {
        /// The leader's raft id.
        leader: u64,
        /// The leader's transport address, if known.
        address: Option<String>,
    },
    /// The proposal was not committed (leadership changed before it was): it was not applied.
    #[error("the proposal was dropped before it was committed (leadership changed); retry it")]
    Dropped,
    /// No answer in time: the command may still be applied later.
    #[error("no answer within {0:?}; the command may or may not have been applied")]
    Timeout(Duration),
    /// The member is shut down (or crashed).
    #[error("raft member is stopped")]
    Stopped,
    /// A request with a bad argument; nothing changed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument or configuration field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// The member's storage failed: it stopped and must be restarted from its directory.
    #[error("fatal: {0}")]
    Fatal(#[from] LogError),
}

impl RaftError {
    /// True when the same request may succeed if sent again (now, to the leader, or later).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RaftError::NoLeader
                | RaftError::NotLeader { .. }
                | RaftError::Dropped
                | RaftError::Timeout(_)
        )
    }

    /// True when the member stopped and will not answer again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RaftError::Fatal(_) | RaftError::Stopped)
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        RaftError::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// A failure of the member's raft log (its redb file, or the high-water mark beside it).
/// Raft cannot go on without its log, so these are fatal for the member. (Their texts still
/// say "raft store PATH", as operators' notes and docs/daemon.md quote them.)
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The redb database failed.
    #[error("raft store {path}: {source}")]
    Redb {
        /// The database file.
        path: String,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// A stored record does not decode.
    #[error("raft store {path}: record {record}: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// The record (`entry 42`, `hard_state`).
        record: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A file beside the log (the high-water mark) could not be read or written.
    #[error("raft store {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The member's data cannot be used: lost, rolled back, another member's, or not a raft
    /// log at all. The reason says what to do.
    #[error("raft store {path}: {reason}")]
    Refused {
        /// The file at fault.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A snapshot's data does not decode.
    #[error("snapshot at index {index}: {reason}")]
    BadSnapshot {
        /// The snapshot's raft index.
        index: u64,
        /// Why.
        reason: String,
    },
}

/// Result of raft requests.
pub type Result<T, E = RaftError> = std::result::Result<T, E>;
