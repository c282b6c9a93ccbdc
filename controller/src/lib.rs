//! The brain of nonstop: the cluster database and the pure decisions made on it.
//!
//! ```text
//!  operator / agent / liveness ──Command──▶ db::ClusterDb::apply ──Vec<Event>──▶ watchers
//!                                               ▲            │
//!                                    Commands   │            ▼
//!                              policy::plan(&ClusterDb, now) (pure, run by the leader)
//! ```
//!
//! Nothing in `db` or `policy` reads a clock, draws a random number or does I/O: time comes in
//! as an argument, so every member applies the same commands to the same state, and
//! `nonstop simulate` shows exactly what the leader would do.

pub mod config;
pub mod db;
pub mod leader;
pub mod liveness;
pub mod metrics;
pub mod policy;
pub mod raft;
pub mod server;
pub mod sim;
pub mod store;
pub mod time;

pub use db::{ApplyError, ClusterDb, Command, Event, Op, Origin};
pub use time::Time;
