//! raft-rs logs through slog; nonstop logs through `tracing`. This forwards one to the other.

/// A slog logger for member `id` whose records go to `tracing`.
pub fn logger(id: u64) -> slog::Logger {
    slog::Logger::root(tracing_slog::TracingSlogDrain, slog::o!("raft_id" => id))
}
