//! The contract between nonstop's controller and its agents, as plain data and pure functions:
//! property schemas and their one validation routine, resource type definitions (the built-in
//! ones as data, and what the controller knows of plug-in types without running them), per-
//! resource timings and the restart rule, the desired state a node must run and the reports its
//! agent sends back, and their conversions to and from the wire.
//!
//! Both sides use these types, so they can never disagree on their meaning. This crate touches
//! nothing of the system: the handlers that run resources (processes, addresses, OCF agents,
//! plug-ins) are in nonstop-resource-types, which the agent depends on and the controller does
//! not.

pub mod builtin;
pub mod desired;
pub mod millis;
pub mod names;
pub mod plugin;
pub mod schema;
pub mod timing;
pub mod typedef;
pub mod wire;

pub use desired::{
    AgentReport, DesiredGroup, DesiredNode, DesiredResource, GroupStopped, ReportMark,
    ResourceReport, ResourceState, RestartCount,
};
pub use millis::{Millis, MillisRange};
pub use schema::{
    Bound, Format, Properties, PropertyError, PropertyKind, PropertySpec, Schema, Value,
    check_host_port, split_key_value,
};
pub use timing::{RestartDecision, RestartMode, RestartPolicy, Timings};
pub use typedef::{HandlerRef, StopBound, TypeDef};
