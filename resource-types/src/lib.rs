//! The contract between nonstop and the things it keeps running: property schemas and their
//! validation, per-resource timings and the restart rule (shared by the controller, which
//! validates configuration, and the agent, which restarts resources), the built-in types and
//! the registry that finds a handler for a type.
//!
//! This crate stays light: the controller depends on it for schemas only.

pub mod action;
pub mod builtin;
pub mod cleanup;
pub mod conformance;
pub mod desired;
pub mod exec;
pub mod extend;
pub mod handler;
pub mod ip_address;
pub mod millis;
pub mod ocf;
pub mod process;
pub mod procs;
pub mod registry;
pub mod runas;
pub mod schema;
pub mod spawner;
mod sys;
pub mod timing;
pub mod tmax_node;
pub mod typedef;
pub mod wire;

pub use desired::{
    AgentReport, DesiredGroup, DesiredNode, DesiredResource, GroupStopped, ResourceReport,
    ResourceState, RestartCount,
};
pub use handler::{
    FailureSink, Footprint, HandlerError, Health, OpenContext, Reconfigured, ResourceHandler,
    ResourceInstance,
};
pub use millis::{Millis, MillisRange};
pub use registry::{Registry, RegistryConfig};
pub use schema::{
    Bound, Format, Properties, PropertyError, PropertyKind, PropertySpec, Schema, Value,
    check_host_port, split_key_value,
};
pub use timing::{RestartDecision, RestartMode, RestartPolicy, Timings};
pub use typedef::{HandlerRef, StopBound, TypeDef};
