//! The per-node agent of nonstop (the MSCS resource monitor): it follows the desired state the
//! controller leader sends, drives each resource's lifecycle through its `ResourceHandler`, holds
//! the lease that fences this node when the leader is lost, and reports every transition.
//!
//! ```text
//!   ControllerLink ──desired──▶ agent loop ──▶ one task per group ──▶ ResourceInstance
//!        ▲    ▲                  │ lease (pure)      │ lifecycle, restarts, checks
//!        │    └──heartbeat/ack───┘                   │
//!        └──────── reports ◀─────────────────────────┘   state file (leftovers)
//! ```
//!
//! Start one with [`Agent::start`]; [`local`] holds an in-process leader for tests and
//! single-node use, [`testing`] small handlers to drive it.

pub mod agent;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
mod feeds;
mod group;
pub mod grpc;
pub mod handlers;
pub mod lease;
pub mod leftovers;
mod lifecycle;
pub mod link;
pub mod local;
mod member_stream;
pub mod metrics;
pub mod report;
mod runtime;
pub mod shutdown;
mod slot;
pub mod state_file;
pub mod testing;

pub use agent::{Agent, AgentHandle};
pub use config::AgentConfig;
pub use error::{AgentError, Result};
pub use event::AgentEvent;
pub use handlers::{HandlerMap, HandlerSource};
pub use lease::Lease;
pub use link::{ControllerLink, Heartbeat, HeartbeatAck, Registered, Registration};
