//! nonstop's resource handlers: the contract every handler keeps (`ResourceHandler`, the MSCS
//! entry points), the built-in types' handlers (`process`, `ip-address`, `tmax-node`), OCF
//! agents and `exec` plug-ins, the registry that finds a handler for a type, the processes they
//! start (spawner, markers, process groups), and the conformance suite.
//!
//! The agent runs these; the controller never does. What both agree on (schemas, type
//! definitions, timings, the desired state, the reports) is in nonstop-contract, which this
//! crate builds on.

pub mod action;
pub mod cleanup;
pub mod conformance;
pub mod exec;
pub mod extend;
pub mod handler;
pub mod ip_address;
pub mod ocf;
pub mod process;
pub mod procs;
pub mod registry;
pub mod runas;
pub mod spawner;
mod sys;
pub mod tmax_node;

pub use handler::{
    FailureSink, Footprint, HandlerError, Health, OpenContext, Reconfigured, ResourceHandler,
    ResourceInstance,
};
pub use registry::{Registry, RegistryConfig};
