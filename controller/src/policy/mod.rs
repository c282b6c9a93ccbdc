//! The policy engine: `plan(&ClusterDb, now) -> Vec<Command>`, what the leader proposes after
//! each apply and on timers. Pure: no clock, no randomness, no I/O.
//!
//! Each group gets at most one decision per call, and every decision waits for the cluster to
//! act on it (an agent to stop or start something, a node to come or go) before the next one, so
//! planning again right after applying a plan yields nothing new.
//!
//! ```text
//!  held? ── yes ─▶ nothing (an operator clears it)
//!  moving? ─ yes ─▶ stopped on the old owner? ─▶ Place(destination)
//!  owner Down? ──▶ fail-over limit left? ─▶ Place(best owner) │ Hold
//!  unplaced? ────▶ Place(first owner that may take it; at first start wait for home)
//!  gave up? ─────▶ BeginMove(next owner) │ Hold
//!  owner can't host (paused, reconfigured)? ─▶ BeginMove(best owner)
//!  a better owner is back and fail-back allows? ─▶ BeginMove(it)
//! ```

mod group;
pub mod service;

use crate::db::{ClusterDb, Command};
use crate::time::Time;

pub use service::{Resolution, Route, RouteMode, resolve};

/// What the policy engine wants done now, one command per group at most, in group name order.
pub fn plan(db: &ClusterDb, now: Time) -> Vec<Command> {
    db.groups
        .values()
        .filter_map(|g| group::decide(db, g, now))
        .map(|op| Command::policy(now, op))
        .collect()
}

/// The earliest time after `now` at which `plan` could decide something new without any other
/// change: when a fail-back window opens, a failure is forgotten, or a first-start grace period
/// ends. The leader sets a timer for it; `None` means only a change can make plan act.
pub fn next_wakeup(db: &ClusterDb, now: Time) -> Option<Time> {
    db.groups
        .values()
        .filter_map(|g| group::wakeup(db, g, now))
        .min()
}
