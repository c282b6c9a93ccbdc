//! The leader's fencer: runs the fence method of every node the database says is waiting to be
//! fenced (`FenceState::Pending`), and proposes each attempt's outcome (`Op::FenceResult`).
//!
//! ```text
//!  every 200 ms, and when a node goes Down ──▶ due(&db, now) ──▶ one task per node (at most)
//!      task: FenceRunner::run(method, node) ── bounded by the method's timeout ──▶ FenceResult
//! ```
//!
//! Which member runs it: the leader, which is never the lost node (a lost member cannot lead a
//! majority). A leader that changes in the middle of an attempt leaves it to finish or time out;
//! the new leader finds the node still Pending (the old result, if it commits at all, is
//! applied once: a result for another loss of the node, or for a node no longer Pending, is
//! refused) and runs the method again. Fence actions are idempotent (`off` of a node that is
//! off succeeds), so running one twice is harmless; never running it is what must not happen.
//! Failed attempts are retried after 1 s, 2 s, 4 s ... up to a minute.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{info, warn};

use crate::db::EventKind;
use crate::db::model::{FenceMethod, FenceOutcome, FenceState, NodeState};
use crate::db::{ClusterDb, Command, Op};
use crate::store::Store;
use crate::time::Time;
use nonstop_contract::Millis;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Millis = Millis(60_000);

/// Runs a fence method against a node: the one place fencing touches the world.
#[async_trait]
pub trait FenceRunner: Send + Sync + 'static {
    /// Runs `method` against `node` once, within the method's timeout; says whether the node is
    /// fenced, with the method's last line of output or why it failed.
    async fn run(&self, node: &str, method: &FenceMethod) -> Attempt;
}

/// One attempt, as a runner reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Whether the node is fenced.
    pub ok: bool,
    /// The last line of output, or why it failed.
    pub detail: String,
}

/// How long to wait after `attempts` failed attempts before the next.
pub fn backoff(attempts: u32) -> Millis {
    match attempts {
        0 => Millis(0),
        n => Millis(
            1000u64
                .saturating_mul(1 << (n - 1).min(16))
                .min(MAX_BACKOFF.0),
        ),
    }
}

/// A node to fence now: its name, the Down it answers, and its method (a node without one is
/// never due: only an operator's confirmation will do for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The node.
    pub node: String,
    /// When it was declared Down (`FenceState::Pending::since`).
    pub since: Time,
    /// Its method.
    pub method: FenceMethod,
}

/// The nodes whose next attempt is due at `now`. Pure.
pub fn due(db: &ClusterDb, now: Time) -> Vec<Due> {
    db.nodes
        .values()
        .filter_map(|n| {
            let FenceState::Pending {
                since,
                attempts,
                last_at,
                ..
            } = &n.fence
            else {
                return None;
            };
            let method = n.spec.fence.as_ref().filter(|m| m.runs())?;
            let next = last_at.unwrap_or(*since).plus(backoff(*attempts));
            (now >= next).then(|| Due {
                node: n.spec.name.clone(),
                since: *since,
                method: method.clone(),
            })
        })
        .collect()
}

/// Runs the fencer for one term of leadership: never returns on its own.
pub async fn run<S: Store>(store: &S, runner: &Arc<dyn FenceRunner>) {
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut applied = store.subscribe_applied();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = applied.recv() => {
                use tokio::sync::broadcast::error::RecvError;
                // At once when a node goes Down; anything else waits for the tick, so that
                // every write does not cost a linearizable read.
                let down = match r {
                    Err(RecvError::Closed) => return std::future::pending().await,
                    Err(RecvError::Lagged(_)) => true,
                    Ok(a) => a.events.iter().any(|e| is_down(&e.kind)),
                };
                if !down {
                    continue;
                }
            }
        }
        let now = Time::now();
        let Ok(due) = store.read(move |db| due(db, now)).await else {
            continue;
        };
        for d in due {
            if !lock(&running).insert(d.node.clone()) {
                continue;
            }
            let (store, runner, running) = (store.clone(), runner.clone(), running.clone());
            tokio::spawn(async move {
                attempt(&store, &*runner, &d).await;
                lock(&running).remove(&d.node);
            });
        }
    }
}

/// Whether an event is a node going Down.
fn is_down(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::NodeState {
            to: NodeState::Down,
            ..
        }
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One attempt at fencing `d.node`, and its outcome proposed.
async fn attempt<S: Store>(store: &S, runner: &dyn FenceRunner, d: &Due) {
    let what = d.method.describe();
    info!(node = %d.node, method = %what, action = d.method.action.as_str(), "fencing");
    let started = Instant::now();
    let a = runner.run(&d.node, &d.method).await;
    let took = Millis(started.elapsed().as_millis() as u64);
    if a.ok {
        info!(node = %d.node, method = %what, took = %took, detail = %a.detail, "fenced");
    } else {
        warn!(node = %d.node, method = %what, took = %took, detail = %a.detail, "fencing failed");
    }
    let op = Op::FenceResult(FenceOutcome {
        node: d.node.clone(),
        since: d.since,
        method: what,
        ok: a.ok,
        took,
        detail: a.detail,
    });
    match store.propose(Command::policy(Time::now(), op)).await {
        Ok(c) => {
            if let Err(e) = c.result {
                info!(node = %d.node, %e, "fencing result no longer applies");
            }
        }
        // Not leading any more: the next leader runs it again.
        Err(e) => warn!(node = %d.node, %e, "could not record the fencing result"),
    }
}

/// The runner of a controller that runs no fence agents itself (in-process tests, tools that
/// embed the controller): every attempt fails, saying so, and the node waits as after any
/// failed fence, until an admin confirms it. The daemon runs them for real (its `fencing`
/// module).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAgents;

#[async_trait]
impl FenceRunner for NoAgents {
    async fn run(&self, _node: &str, method: &FenceMethod) -> Attempt {
        Attempt {
            ok: false,
            detail: format!(
                "this controller runs no fence agents ({} not run)",
                method.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_back_off_to_a_minute() {
        let waits: Vec<u64> = (0..10).map(|n| backoff(n).0).collect();
        assert_eq!(
            waits,
            [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
