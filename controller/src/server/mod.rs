//! tonic glue: the gRPC services of a controller member over its [`crate::store::Store`].
//!
//! ```text
//!  operators ──ClusterService (cluster.rs, apply.rs, members.rs)──▶ Store::read / Store::propose
//!                                                      └──▶ Store::member_view / add / remove / transfer
//!  agents ────AgentService (agent.rs)──▶ every member's Witness (leases) + Store::propose(reports)
//!                                    ◀── desired state, again after every applied command
//! ```
//! Errors become gRPC status codes in one place (status.rs).

mod agent;
mod apply;
pub mod auth;
mod cluster;
mod convert;
pub mod event_log;
mod history;
mod members;
pub mod status;
mod tokens;
mod transport;

pub use agent::AgentApi;
pub use auth::{Caller, CertBook, Guard, Need, Refusals, guard};
pub use cluster::ClusterApi;
pub use convert::handler as handler_name;
pub use history::History;
pub use tokens::{StoreTokens, TOKEN_PREFIX, TokenCheck};
pub use transport::{loopback_only, member_address};
