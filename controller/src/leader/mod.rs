//! What only the leader does: declare silent nodes Down once a majority of the members agree
//! (the liveness module's sweep), run the policy engine after each applied command and on its
//! timers, proposing what it decides, and publish each node's desired state (publisher.rs).
//!
//! ```text
//!  a tick (≤ 50 ms) ──▶ Liveness::sweep ──majority silent──▶ NodeDown
//!  the same tick ──▶ Liveness::sweep_witnesses ──raft progress──▶ a witness Up / Down
//!  applied commands ─┐
//!  plan's wake-ups ──┼──▶ plan(&db, now) ──▶ propose each command
//!  a 1 s tick ───────┘
//!  applied commands ──▶ publisher ──▶ DesiredBoard (one watch per node) ──▶ agent streams
//!  nodes waiting to be fenced ──▶ fencer ──▶ FenceRunner (fence agent, program) ──▶ FenceResult
//!  applied commands ──▶ alerts (which alert, what environment) ──▶ Alerter ──▶ AlertRunner
//! ```

pub mod alerter;
pub mod alerts;
pub mod fencer;
mod publisher;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use alerter::{AlertRunner, Alerter, Limits};
pub use alerts::{AlertCall, Sender};
pub use fencer::{Attempt, FenceRunner, NoAgents};
pub use publisher::{DesiredBoard, Published};

use crate::liveness::{Jury, Liveness, MemberWatch};
use crate::policy;
use crate::store::{Leadership, Store, drain};
use crate::time::Time;

/// What the leader has run outside its process: fence methods, and alert agents.
#[derive(Clone)]
pub struct Outside {
    /// Runs fence methods.
    pub fence: Arc<dyn FenceRunner>,
    /// Runs alert agents; `None`: no alert is ever run (in-process tests).
    pub alerts: Option<Alerter>,
}

impl std::fmt::Debug for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outside")
            .field("alerts", &self.alerts)
            .finish_non_exhaustive()
    }
}

/// Runs the leader's duties whenever this member leads, until `stop` turns true, asking the
/// other members in plain gRPC, running no fence agents ([`NoAgents`]) and no alert agents
/// (in-process tests).
pub async fn run<S: Store>(
    liveness: Liveness<S>,
    board: DesiredBoard,
    stop: watch::Receiver<bool>,
) {
    let dial = nonstop_pki::Dial::default();
    let outside = Outside {
        fence: Arc::new(NoAgents),
        alerts: None,
    };
    run_with(liveness, board, stop, dial, outside).await
}

/// [`run`], asking the other members as `dial` says (TLS, this member's own address), fencing
/// lost nodes and alerting through `outside` (the daemon's run fence and alert agents as
/// processes).
pub async fn run_with<S: Store>(
    liveness: Liveness<S>,
    board: DesiredBoard,
    mut stop: watch::Receiver<bool>,
    dial: nonstop_pki::Dial,
    outside: Outside,
) {
    let store = liveness.store().clone();
    let jury = Jury::new(liveness.witness().clone()).dialing(dial);
    let mut leadership = store.leadership();
    loop {
        let info = leadership.borrow_and_update().clone();
        if info.is_leader {
            info!(
                term = info.term,
                "leading: tracking heartbeats and running the policy"
            );
            tokio::select! {
                _ = lead(&store, &liveness, &jury, info) => {}
                _ = publisher::publish(&store, &board) => {}
                _ = fencer::run(&store, &outside.fence) => {}
                _ = alert(&store, outside.alerts.as_ref()) => {}
                _ = leadership.changed() => {}
                _ = stop.changed() => {}
            }
            board.clear();
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

/// The alerter for one term of leadership, if alerts run at all: never returns on its own.
async fn alert<S: Store>(store: &S, alerter: Option<&Alerter>) {
    match alerter {
        Some(a) => alerter::run(store, a).await,
        None => std::future::pending().await,
    }
}

/// One term of leadership: never returns on its own.
async fn lead<S: Store>(store: &S, liveness: &Liveness<S>, jury: &Jury, info: Leadership) {
    // A read can fail right after an election (the new leader has not committed in its term
    // yet): try again until it works; leadership changes end this function from outside.
    let timeout = loop {
        match store.read(|db| db.settings.timing.node_timeout).await {
            Ok(t) => break t.as_duration(),
            Err(e) => {
                warn!(%e, "cannot read the timing profile yet");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let mut applied = store.subscribe_applied();
    let mut tick = tokio::time::interval(Duration::from_millis(50).min(timeout / 4));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_plan = Instant::now();
    let mut members = MemberWatch::new(Instant::now());
    loop {
        let changed = tokio::select! {
            _ = tick.tick() => false,
            r = applied.recv() => match r {
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return std::future::pending().await;
                }
                // One plan covers every command applied meanwhile.
                _ => {
                    drain(&mut applied);
                    true
                }
            },
        };
        liveness.sweep(jury).await;
        liveness.sweep_witnesses(&mut members).await;
        if changed || Instant::now() >= next_plan {
            next_plan = run_policy(store).await;
        }
        debug!(term = info.term, "leader pass done");
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
