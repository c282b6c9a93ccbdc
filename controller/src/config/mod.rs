//! `cluster.yaml`: the declarative description of a cluster, and its translation into the
//! commands that make a cluster database match it.

mod diagnostic;
pub mod file;
mod ops;

pub use diagnostic::Diagnostic;
pub use file::ClusterFile;
pub use ops::{ConfigError, to_ops};
