//! `nonstop run`: one node's daemon with its roles.
//!
//! ```text
//!  listen (gRPC, mutual TLS) ─────────┬─ ClusterService  ─┐
//!                                     ├─ AgentService    ─┼─ RaftStore ─ RaftNode (redb log)
//!                                     ├─ RaftTransport   ─┘      │
//!                                     └─ health, reflection      └─ leader duties (liveness,
//!                                                                   policy loop, bootstrap)
//!  agent role: Agent ──GrpcLink──▶ the leader's AgentService; handlers from the Registry
//! ```

pub mod config;
pub mod dashboard;
pub mod drill;
mod http;
pub mod logging;
pub mod metrics;
pub(crate) mod roles;
mod systemd;

pub use roles::run;
