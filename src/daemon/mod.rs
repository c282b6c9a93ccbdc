//! `nonstop run`: one node's daemon with its roles.
//!
//! ```text
//!  listen (gRPC, loopback until TLS) ─┬─ ClusterService  ─┐
//!                                     ├─ AgentService    ─┼─ RaftStore ─ RaftNode (redb log)
//!                                     ├─ RaftTransport   ─┘      │
//!                                     └─ health, reflection      └─ leader duties (liveness,
//!                                                                   policy loop, bootstrap)
//!  agent role: Agent ──GrpcLink──▶ the leader's AgentService; handlers from the Registry
//! ```

pub mod config;
mod roles;

pub use roles::run;
