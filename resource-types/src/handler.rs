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
use nonstop_contract::schema::Properties;
use nonstop_contract::typedef::TypeDef;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tokio::sync::mpsc;

use crate::procs::ProcessGroup;

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
    /// Only part of the resource failed (one copy of a multi-instance program) and the rest
    /// still runs: `online` replaces what failed without stopping the rest.
    pub partial: bool,
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
        self.send(reason.into(), false);
    }

    /// Reports that part of the resource failed while the rest runs (see [`Failure::partial`]).
    pub fn fail_partial(&self, reason: impl Into<String>) {
        self.send(reason.into(), true);
    }

    fn send(&self, reason: String, partial: bool) {
        let _ = self.tx.send(Failure {
            resource: self.resource.clone(),
            reason,
            partial,
        });
    }
}

/// What an instance leaves on the machine, recorded by the agent in its state file so that the
/// node's watchdog (when the agent cannot act) and an agent that died and restarted can undo it.
/// The agent records an instance's [`ResourceInstance::intent`] before `online` runs and its
/// footprint after every transition; an entry is forgotten once its footprint is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// Process groups the instance started, each with its leader's start time: a group is killed
    /// only while its leader is still that process (`procs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_groups: Vec<ProcessGroup>,
    /// The marker in the environment of every program the instance starts (`procs`): what
    /// carries it is killed whatever its number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// The boot its processes were started on; on another boot none of them can be running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// Addresses it added: (network namespace or "", interface, address/prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<(String, String, String)>,
    /// Commands that undo it, run with `sh -c` (for handlers whose resources live outside this
    /// process tree, like a Tmax node booted by tmboot), each bounded by its type's stop bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_commands: Vec<String>,
    /// The user and group (uid, gid) the cleanup commands run as; `None`: as the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<(u32, u32)>,
}

impl Footprint {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self.process_groups.is_empty()
            && self.marker.is_none()
            && self.addresses.is_empty()
            && self.cleanup_commands.is_empty()
    }

    /// A footprint of processes marked with `marker`, started on this boot.
    pub fn marked(marker: &str) -> Self {
        Footprint {
            marker: Some(marker.to_string()),
            boot_id: crate::procs::boot_id(),
            ..Footprint::default()
        }
    }

    /// Its processes, for [`crate::procs::kill_all`].
    pub fn processes(&self) -> crate::procs::Processes<'_> {
        crate::procs::Processes {
            groups: &self.process_groups,
            marker: self.marker.as_deref(),
            boot: self.boot_id.as_deref(),
        }
    }

    /// Everything `self` or `other` records (what a start in progress may leave).
    pub fn union(&self, other: &Footprint) -> Footprint {
        fn merge<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
            let mut v = a.to_vec();
            v.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            v
        }
        Footprint {
            process_groups: merge(&self.process_groups, &other.process_groups),
            marker: self.marker.clone().or_else(|| other.marker.clone()),
            boot_id: self.boot_id.clone().or_else(|| other.boot_id.clone()),
            addresses: merge(&self.addresses, &other.addresses),
            cleanup_commands: merge(&self.cleanup_commands, &other.cleanup_commands),
            run_as: self.run_as.or(other.run_as),
        }
    }
}

/// What [`ResourceInstance::reconfigure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconfigured {
    /// The new values are in force; nothing was restarted.
    Applied,
    /// This instance cannot take them while it runs: restart it.
    NeedsRestart,
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
    /// The marker every program the instance starts must carry in its environment
    /// ([`crate::procs::MARKER_VAR`], set by [`crate::action::mark`]), so that what it started
    /// can be found and killed by the marker alone.
    pub marker: String,
}

/// Why an entry point failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Properties that do not fit the schema (from `open`).
    #[error("invalid properties: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidProperties(Vec<nonstop_contract::schema::PropertyError>),
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

    /// Undoes what a dead agent left behind, from the footprint it recorded, apart from its
    /// processes, which the caller has killed already (`procs::kill_all`, once for every
    /// footprint). Must not fail: anything already gone is fine. The default runs the cleanup
    /// commands, each bounded by the type's stop bound; handlers that add other things
    /// (addresses) extend it.
    async fn clean_up(&self, footprint: &Footprint) {
        crate::cleanup::run_commands(footprint, self.def().stop.limit()).await;
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

    /// What it currently leaves on the machine (for the agent's state file); empty once it is
    /// offline or terminated.
    fn footprint(&self) -> Footprint;

    /// What `online` may leave on the machine, known before it runs (the marker its programs
    /// will carry, the address it will add, the command that undoes it). The agent records it
    /// before calling `online`, so that a start interrupted at any instant (the daemon stopped
    /// or killed) can still be undone.
    fn intent(&self) -> Footprint {
        self.footprint()
    }

    /// Takes new property values without a restart, when every property that changed is
    /// marked `restart: false` in the schema. Returns `Applied` when the instance uses the new
    /// values from now on, `NeedsRestart` when it cannot (the agent then restarts it, as for a
    /// property marked `restart`). The default cannot.
    async fn reconfigure(&mut self, properties: &Properties) -> Result<Reconfigured> {
        let _ = properties;
        Ok(Reconfigured::NeedsRestart)
    }

    /// Releases the instance (MSCS Close). Called after it is offline or terminated.
    async fn close(&mut self) {}
}
