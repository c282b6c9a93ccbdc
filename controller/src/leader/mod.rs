//! What only the leader does: track agents' heartbeats and declare silent nodes Down, and run
//! the policy engine after each applied command and on its timers, proposing what it decides.
//!
//! ```text
//!  agents' heartbeats ──▶ Liveness ──silent past node_timeout──▶ propose NodeDown
//!  applied commands ─┐
//!  plan's wake-ups ──┼──▶ plan(&db, now) ──▶ propose each command
//!  a 1 s tick ───────┘
//! ```

mod liveness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use liveness::Liveness;

use crate::db::model::Liveness as NodeLiveness;
use crate::db::{Command, Op};
use crate::policy;
use crate::store::{LeaderInfo, Store};
use crate::time::Time;

/// The leader's heartbeat view, shared with the agent service. `None` while not leading.
pub type SharedLiveness = Arc<Mutex<Option<Liveness>>>;

/// Runs the leader's duties whenever this member leads, until `stop` turns true.
pub async fn run<S: Store>(store: S, liveness: SharedLiveness, mut stop: watch::Receiver<bool>) {
    let mut leadership = store.leadership();
    loop {
        let info = leadership.borrow_and_update().clone();
        if info.is_leader {
            info!(
                term = info.term,
                "leading: tracking heartbeats and running the policy"
            );
            tokio::select! {
                _ = lead(&store, &liveness, info) => {}
                _ = leadership.changed() => {}
                _ = stop.changed() => {}
            }
            *lock(&liveness) = None;
        } else {
            tokio::select! {
                r = leadership.changed() => if r.is_err() { return },
                _ = stop.changed() => {}
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

fn lock(l: &SharedLiveness) -> std::sync::MutexGuard<'_, Option<Liveness>> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// One term of leadership: never returns on its own.
async fn lead<S: Store>(store: &S, liveness: &SharedLiveness, info: LeaderInfo) {
    // A read can fail right after an election (the new leader has not committed in its term
    // yet): try again until it works; leadership changes end this function from outside.
    let timeout = loop {
        match store.read(|db| db.settings.timing.node_timeout).await {
            Ok(t) => break t.as_duration(),
            Err(e) => {
                warn!(%e, "cannot read the timing profile yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    *lock(liveness) = Some(Liveness::new(Instant::now(), timeout));
    let mut applied = store.applied();
    let mut tick = tokio::time::interval(Duration::from_millis(50).min(timeout / 4));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_plan = Instant::now();
    loop {
        let changed = tokio::select! {
            _ = tick.tick() => false,
            r = applied.recv() => match r {
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return std::future::pending().await;
                }
                _ => true,
            },
        };
        declare_silent_nodes(store, liveness).await;
        if changed || Instant::now() >= next_plan {
            next_plan = run_policy(store).await;
        }
        debug!(term = info.term, "leader pass done");
    }
}

/// Proposes NodeDown for every Up node whose agent has been silent past the node timeout.
async fn declare_silent_nodes<S: Store>(store: &S, liveness: &SharedLiveness) {
    let Ok(up) = store
        .read(|db| {
            let timeout = db.settings.timing.node_timeout.as_duration();
            let up: Vec<String> = db
                .nodes
                .values()
                .filter(|n| n.liveness == NodeLiveness::Up)
                .map(|n| n.spec.name.clone())
                .collect();
            (timeout, up)
        })
        .await
    else {
        return;
    };
    let now = Instant::now();
    let silent: Vec<(String, Duration)> = {
        let mut guard = lock(liveness);
        let Some(l) = guard.as_mut() else { return };
        l.set_timeout(up.0);
        up.1.into_iter()
            .filter(|n| l.is_silent(n, now))
            .map(|n| {
                let s = l.silence(&n, now);
                (n, s)
            })
            .collect()
    };
    for (node, silence) in silent {
        let reason = format!("no heartbeat for {} ms", silence.as_millis());
        warn!(%node, %reason, "declaring node Down");
        let cmd = Command::liveness(Time::now(), Op::NodeDown { node, reason });
        if let Err(e) = store.propose(cmd).await {
            warn!(%e, "could not declare a node Down");
        }
    }
}

/// Plans and proposes; returns when plan should run again without any change (its next
/// wake-up, or in a second at the latest).
async fn run_policy<S: Store>(store: &S) -> Instant {
    let now = Time::now();
    let Ok((commands, wake)) = store
        .read(move |db| (policy::plan(db, now), policy::next_wakeup(db, now)))
        .await
    else {
        return Instant::now() + Duration::from_millis(100);
    };
    for cmd in commands {
        let line = cmd.op.to_string();
        match store.propose(cmd).await {
            Ok(c) => match c.result {
                Ok(_) => info!(decision = %line, revision = c.revision, "policy"),
                Err(e) => debug!(decision = %line, %e, "policy decision no longer applies"),
            },
            Err(e) => warn!(decision = %line, %e, "could not propose"),
        }
    }
    let second = Instant::now() + Duration::from_secs(1);
    match wake {
        Some(t) => second.min(Instant::now() + Duration::from_millis(t.0.saturating_sub(now.0))),
        None => second,
    }
}
