//! The resource DLL contract: one [`ResourceHandler`] per type, which opens one
//! [`ResourceInstance`] per resource, with the entry points of an MSCS resource DLL.
//!
//! ```text
//!  agent ──open(props)──▶ ResourceHandler ──▶ Box<dyn ResourceInstance>
//!                                                │ online / offline / terminate
//!                                                │ looks_alive / is_alive / close
//!                                                └─ pushes failures through FailureSink
//! ```
//!
//! The agent calls the entry points of one instance one at a time (never two at once on the same
//! instance) and bounds `online` and `offline` by the resource's pending timeout: when one runs
//! past it, the agent drops the future and calls `terminate`. A handler must therefore leave no
//! half-done state that `terminate` cannot clean up.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tokio::sync::mpsc;

use crate::schema::Properties;
use crate::typedef::TypeDef;

/// What a handler reports about a resource's health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Running as it should.
    Alive,
    /// Not running, or not serving: the reason says how it looked.
    Dead(String),
}

impl Health {
    /// Whether it is alive.
    pub fn is_alive(&self) -> bool {
        matches!(self, Health::Alive)
    }
}

/// A failure a handler noticed by itself (a watched child exited), pushed to the agent at once
/// instead of waiting for the next poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The resource.
    pub resource: String,
    /// What happened (`exited with status 3`).
    pub reason: String,
}

/// Where a handler pushes failures. Cheap to clone; sending never blocks and never fails
/// (a failure pushed after the agent stopped listening is dropped).
#[derive(Clone, Debug)]
pub struct FailureSink {
    resource: String,
    tx: mpsc::UnboundedSender<Failure>,
}

impl FailureSink {
    /// A sink for `resource` that sends into `tx`.
    pub fn new(resource: &str, tx: mpsc::UnboundedSender<Failure>) -> Self {
        FailureSink {
            resource: resource.to_string(),
            tx,
        }
    }

    /// Reports a failure of this sink's resource.
    pub fn fail(&self, reason: impl Into<String>) {
        let _ = self.tx.send(Failure {
            resource: self.resource.clone(),
            reason: reason.into(),
        });
    }
}

/// What an instance leaves on the machine while online, recorded by the agent in its state file
/// so that an agent that died and restarted can terminate the leftovers before it registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// Process groups the instance started (each is killed whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_groups: Vec<i32>,
    /// Addresses it added: (network namespace or "", interface, address/prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<(String, String, String)>,
    /// Commands that undo it, run with `sh -c` (for handlers whose resources live outside this
    /// process tree, like a Tmax node booted by tmboot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_commands: Vec<String>,
}

impl Footprint {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self.process_groups.is_empty()
            && self.addresses.is_empty()
            && self.cleanup_commands.is_empty()
    }
}

/// What `open` receives.
#[derive(Clone, Debug)]
pub struct OpenContext {
    /// The resource's name.
    pub resource: String,
    /// Its properties, as configured (the handler validates them against its schema).
    pub properties: Properties,
    /// A directory the instance may use for logs and state (exists).
    pub data_dir: PathBuf,
    /// Where to push failures noticed without a poll.
    pub failures: FailureSink,
}

/// Why an entry point failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Properties that do not fit the schema (from `open`).
    #[error("invalid properties: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidProperties(Vec<crate::schema::PropertyError>),
    /// No handler for a type name.
    #[error("unknown resource type {0:?}")]
    UnknownType(String),
    /// The entry point ran and failed.
    #[error("{entry} failed: {reason}")]
    Failed {
        /// The entry point (`online`).
        entry: &'static str,
        /// Why.
        reason: String,
    },
    /// An I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result of an entry point.
pub type Result<T> = std::result::Result<T, HandlerError>;

/// A resource type's code (the MSCS resource DLL). Registered by type name.
#[async_trait]
pub trait ResourceHandler: Send + Sync + std::fmt::Debug {
    /// The type this handler runs: name, schema, default timings.
    fn def(&self) -> &TypeDef;

    /// Opens an instance: validates the properties against the schema and prepares; no side
    /// effects on the machine (nothing started, nothing added). Errors name the property.
    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>>;

    /// Undoes what a dead agent left behind, from the footprint it recorded. Must not fail:
    /// anything already gone is fine. The default kills the process groups and runs the cleanup
    /// commands; handlers that add other things (addresses) extend it.
    async fn clean_up(&self, footprint: &Footprint) {
        crate::cleanup::default_clean_up(footprint).await;
    }
}

/// One resource's instance (the MSCS resource, between Open and Close).
#[async_trait]
pub trait ResourceInstance: Send + std::fmt::Debug {
    /// Brings the resource online and returns when it is (MSCS Online). Idempotent: online when
    /// already online succeeds without a second copy. May take long; the agent bounds it by the
    /// pending timeout and calls `terminate` when it runs out.
    async fn online(&mut self) -> Result<()>;

    /// Takes it offline gracefully (MSCS Offline). Idempotent: offline when offline succeeds.
    /// Bounded by the pending timeout like `online`.
    async fn offline(&mut self) -> Result<()>;

    /// Stops it at once, whatever state it is in (MSCS Terminate): after a hung `online`, when
    /// `offline` timed out, and when the lease runs out. Never fails and returns promptly (well
    /// within the timing profile's `terminate` budget).
    async fn terminate(&mut self);

    /// A cheap check, run often (MSCS LooksAlive). After `offline` or `terminate` it says Dead.
    async fn looks_alive(&mut self) -> Health;

    /// A thorough check, run less often (MSCS IsAlive).
    async fn is_alive(&mut self) -> Health;

    /// What it currently leaves on the machine (for the agent's state file).
    fn footprint(&self) -> Footprint;

    /// Releases the instance (MSCS Close). Called after it is offline or terminated.
    async fn close(&mut self) {}
}
