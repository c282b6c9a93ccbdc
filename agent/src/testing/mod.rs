//! Small handlers to drive the agent with, in tests and benchmarks: [`ScriptedHandler`], an
//! in-memory resource a test can make hang, fail or die, and [`SleepHandler`], a real `sleep`
//! process in its own process group, watched so that its exit is pushed at once; and
//! [`SleepAgent`], the agent the benchmarks start.
//!
//! They are not the built-in types (resource-types has those); they keep the agent's tests
//! independent of them.

mod bench;
mod scripted;
mod sleep;
mod wait;

pub use bench::{SleepAgent, size_arg};
pub use scripted::{Behaviour, ScriptedHandler};
pub use sleep::{ProcessRecord, SleepHandler};
pub use wait::{desired_group, desired_resource, next_matching, until};
