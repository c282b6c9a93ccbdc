//! What the agent's tasks share (clock, reporter, state file, handlers, events), and
//! [`bounded`], the one way the agent runs a handler entry point: within a time limit, and
//! abandoned at once when the lease runs out.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nonstop_contract::DesiredResource;
use nonstop_resource_types::ResourceHandler;
use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::event::AgentEvent;
use crate::handlers::HandlerSource;
use crate::report::Reporter;
use crate::state_file::{Started, StateFile};

/// Shared by the agent loop and every group task.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: AgentConfig,
    /// The monotonic clock.
    pub clock: Clock,
    /// Where transitions go.
    pub reporter: Reporter,
    /// What the agent has started.
    pub state: StateFile,
    /// Handlers by type.
    pub handlers: Arc<dyn HandlerSource>,
    /// Local events.
    pub events: broadcast::Sender<AgentEvent>,
    /// The timing profile's terminate budget in milliseconds, as the members last said.
    pub terminate_ms: AtomicU64,
    /// Leftovers of an earlier run that could not be undone: not started again, and their
    /// groups confirm no stop, until they are.
    pub unclean: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Heartbeat round trips and handler call durations, for the daemon's metrics.
    pub metrics: crate::metrics::AgentMetrics,
}

impl std::fmt::Debug for dyn HandlerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandlerSource({:?})", self.type_names())
    }
}

impl Shared {
    /// The timing profile's terminate budget: what the agent cannot stop within it when the
    /// lease runs out, it kills (docs/design.md).
    pub fn terminate_budget(&self) -> Duration {
        Duration::from_millis(self.terminate_ms.load(Ordering::Relaxed).max(1))
    }

    /// Takes the budget a member said (zero: not said).
    pub fn set_terminate_budget(&self, ms: u64) {
        if ms > 0 {
            self.terminate_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// Replaces the set of leftovers not undone.
    pub fn set_unclean(&self, names: std::collections::BTreeSet<String>) {
        *self.unclean.lock().unwrap_or_else(|p| p.into_inner()) = names;
    }

    /// Whether `resource` has a leftover of an earlier run that is not undone.
    pub fn is_unclean(&self, resource: &str) -> bool {
        self.unclean
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(resource)
    }

    /// Publishes a local event (nobody listening is fine).
    pub fn event(&self, e: AgentEvent) {
        let _ = self.events.send(e);
    }

    /// The handler for a resource's type.
    pub fn handler_for(&self, spec: &DesiredResource) -> Option<Arc<dyn ResourceHandler>> {
        self.handlers.handler(&spec.type_name, &spec.handler)
    }

    /// Records what `resource` leaves on the machine (an empty footprint forgets it).
    pub async fn record(&self, resource: &str, started: Started) {
        if let Err(e) = self.state.set(resource, Some(started)).await {
            tracing::error!("{e}");
        }
    }

    /// Forgets `resource` in the state file.
    pub async fn forget(&self, resource: &str) {
        if let Err(e) = self.state.set(resource, None).await {
            tracing::error!("{e}");
        }
    }
}

/// How a bounded entry point ended.
#[derive(Debug)]
pub enum Bounded<T> {
    /// It returned.
    Done(T),
    /// It ran past its limit and was abandoned.
    TimedOut,
    /// The lease ran out first and it was abandoned.
    Fenced,
}

/// Runs `fut` for at most `limit`, abandoning it as soon as the lease (`lease`, true while valid)
/// runs out. Dropping the future is how the agent abandons an entry point; the handler contract
/// requires that `terminate` can clean up after that.
pub async fn bounded<T>(
    lease: &mut watch::Receiver<bool>,
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Bounded<T> {
    tokio::select! {
        biased;
        _ = lost(lease) => Bounded::Fenced,
        r = tokio::time::timeout(limit, fut) => match r {
            Ok(v) => Bounded::Done(v),
            Err(_) => Bounded::TimedOut,
        },
    }
}

/// Returns once the lease is not valid, or was lost since the task last looked (a loss and a
/// regain in between count, as in the group's `wait_lost`); the caller then fences.
async fn lost(lease: &mut watch::Receiver<bool>) {
    if !*lease.borrow() || lease.has_changed().unwrap_or(true) {
        return;
    }
    let _ = lease.changed().await;
}

/// Runs `fut` for at most `limit`, lease or not (for stopping things, which is always safe).
pub async fn limited<T>(limit: Duration, fut: impl Future<Output = T>) -> Bounded<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => Bounded::Done(v),
        Err(_) => Bounded::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lease lost and regained before the task looks (a daemon resumed after a stop) still
    /// abandons what the task was doing.
    #[tokio::test]
    async fn a_loss_regained_in_between_still_fences() {
        let (tx, mut rx) = watch::channel(true);
        tx.send_replace(false);
        tx.send_replace(true);
        let r = bounded(
            &mut rx,
            Duration::from_secs(5),
            std::future::pending::<()>(),
        )
        .await;
        assert!(matches!(r, Bounded::Fenced));
    }

    #[tokio::test]
    async fn a_lease_that_holds_lets_it_finish() {
        let (_tx, mut rx) = watch::channel(true);
        let r = bounded(&mut rx, Duration::from_secs(5), async { 7 }).await;
        assert!(matches!(r, Bounded::Done(7)));
        let (_tx, mut rx) = watch::channel(false);
        let r = bounded(
            &mut rx,
            Duration::from_secs(5),
            std::future::pending::<()>(),
        )
        .await;
        assert!(
            matches!(r, Bounded::Fenced),
            "an invalid lease fences at once"
        );
    }
}
