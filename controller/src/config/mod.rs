//! `cluster.yaml`: the declarative description of a cluster, its checking, and its translation
//! into the commands that make a cluster database match it.
//!
//! - [`load_str`] / [`load_path`]: text to [`ClusterFile`] (syntax, field names, value types).
//! - [`check`]: everything else, every error at once, each at its line and column.
//! - [`to_ops`]: the commands that build the file's cluster in an empty database.
//! - [`diff()`]: the commands that turn a live database's configuration into the file's.

mod check;
mod diagnostic;
mod diff;
pub mod file;
mod load;
mod ops;
pub mod positions;

pub use check::{Checked, check, check_file, check_file_with, check_with, discovered_here};
pub use diagnostic::{Diagnostic, escape_controls};
pub use diff::{Diff, DiffError, diff};

pub use file::ClusterFile;
pub use load::{load_path, load_str, read};
pub use ops::{ConfigError, to_ops};
