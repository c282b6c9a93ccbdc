//! The agent's errors: one enum, each message naming the thing it is about.

use std::path::PathBuf;

/// What can go wrong in the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The link to the controller failed (the agent retries; see `ControllerLink`).
    #[error("controller link: {0}")]
    Link(String),
    /// The leader sent a desired state with a field that cannot be right (named in the error):
    /// the agent refuses it and keeps following the desired state it had.
    #[error("desired state refused: {0}")]
    DesiredRefused(#[from] nonstop_contract::wire::WireError),
    /// The state file could not be read or written.
    #[error("state file {}: {reason}", .path.display())]
    StateFile {
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("agent config: field {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The agent has stopped.
    #[error("agent has stopped")]
    Stopped,
}

/// Result of agent operations.
pub type Result<T> = std::result::Result<T, AgentError>;
