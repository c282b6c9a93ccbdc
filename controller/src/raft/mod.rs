//! The cluster database replicated with raft (tikv's raft-rs), on disk with redb, between
//! controller members over gRPC.
//!
//! ```text
//!  RaftNode (handle.rs, clone) ──Request──▶ member task (node.rs): owns RawNode + ClusterDb
//!        ▲  answers (oneshot)                 │ tick / step / propose / read_index
//!        │                                    ▼
//!        └───────── waiters.rs ◀── Ready loop (ready.rs) ──▶ LogStorage (log_storage.rs),
//!                                             │                on disk: RedbLog (redb_log.rs)
//!                                             │ messages
//!                                             ▼
//!       Transport (transport.rs): gRPC client streams (grpc.rs), in-process (local_transport.rs)
//!                                             │
//!            peer's RaftService (grpc.rs) ──▶ peer's RaftNode::step
//! ```
//!
//! The types the callers and these files share (members, a proposal's answer, leadership, a
//! member's status, why it stopped) live in `types.rs`, which imports no other file of raft/;
//! no two files of raft/ import each other, directly or through a third.
//!
//! Every message from a peer is checked before raft-rs sees it (`validate.rs`): raft-rs panics
//! on fields no correct member sends, and a member drops those instead. Beside the log, a
//! high-water mark (`mark.rs`) makes a member refuse to start on a log that was lost or rolled
//! back. A member that stops by itself says why (`RaftNode::exited`); its daemon then exits.
//!
//! A command is applied by every member in log order (`ClusterDb::apply`, deterministic); the
//! member that proposed it answers its caller with the result. A committed command the
//! database rejects is still committed: it changed nothing, and the caller gets the
//! `ApplyError`.

mod codec;
mod config;
mod error;
pub mod grpc;
mod handle;
mod local_transport;
mod log_storage;
pub mod log_suite;
mod logger;
mod mark;
mod node;
mod ready;
mod redb_log;
mod transport;
mod types;
mod validate;
mod waiters;

pub use codec::EntryContext;
pub use config::RaftConfig;
pub use error::{LogError, RaftError, Result};
pub use handle::RaftNode;
pub use local_transport::LocalTransport;
pub use log_storage::LogStorage;
pub use redb_log::RedbLog;
pub use transport::Transport;
pub use types::{
    Applied, AppliedEvents, Exit, Leadership, Members, Progress, ProgressState, RaftStatus, Role,
};
