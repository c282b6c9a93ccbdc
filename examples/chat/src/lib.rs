//! The paper's application: a TCP chat server whose private property `MaxUser` (at most 10)
//! bounds how many users it serves, and a chat client that reconnects when the server moves to
//! another node. nonstop runs the server as a `process` resource; the client follows the
//! server's (virtual) address.

pub mod client;
pub mod server;

/// The most users a chat server may be configured for (the paper's MaxUser limit).
pub const MAX_USER_LIMIT: u32 = 10;

/// A bad setting.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// MaxUser outside 1..=10.
    #[error("MaxUser {0} is out of range: use 1 to {MAX_USER_LIMIT}")]
    MaxUser(i64),
    /// A socket error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
