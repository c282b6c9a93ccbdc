//! What only the leader does: declare silent nodes Down once a majority of the members agree
//! (witness.rs, jury.rs), and run the policy engine after each applied command and on its
//! timers, proposing what it decides.
//!
//! ```text
//!  agents' heartbeats ──▶ every member's Witness
//!  leader's Witness ──silent past node_timeout──▶ Jury asks the voters ──majority──▶ NodeDown
//!  applied commands ─┐
//!  plan's wake-ups ──┼──▶ plan(&db, now) ──▶ propose each command
//!  a 1 s tick ───────┘
//! ```

mod jury;
mod shared;
mod witness;

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use jury::{Jury, Tally};
pub use shared::SharedWitness;
pub use witness::{Verdict, Witness};

use crate::db::model::Liveness as NodeLiveness;
use crate::db::{Command, Op};
use crate::policy;
use crate::store::{Leadership, Store};
use crate::time::Time;

/// A member's witness, starting now, that keeps its suspicions in memory only (tests).
pub fn witness() -> SharedWitness {
    SharedWitness::new(None)
}

/// Runs the leader's duties whenever this member leads, until `stop` turns true.
pub async fn run<S: Store>(store: S, witness: SharedWitness, stop: watch::Receiver<bool>) {
    run_from(store, witness, stop, None).await
}

/// [`run`], asking the other members from `local` (this member's own address).
pub async fn run_from<S: Store>(
    store: S,
    witness: SharedWitness,
    mut stop: watch::Receiver<bool>,
    local: Option<std::net::IpAddr>,
) {
    let jury = Jury::new(witness.clone()).from_address(local);
    let mut leadership = store.leadership();
    loop {
        let info = leadership.borrow_and_update().clone();
        if info.is_leader {
            info!(
                term = info.term,
                "leading: tracking heartbeats and running the policy"
            );
            tokio::select! {
                _ = lead(&store, &witness, &jury, info) => {}
                _ = leadership.changed() => {}
                _ = stop.changed() => {}
            }
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

/// One term of leadership: never returns on its own.
async fn lead<S: Store>(store: &S, witness: &SharedWitness, jury: &Jury, info: Leadership) {
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
    let mut applied = store.subscribe_applied();
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
        declare_silent_nodes(store, witness, jury).await;
        if changed || Instant::now() >= next_plan {
            next_plan = run_policy(store).await;
        }
        debug!(term = info.term, "leader pass done");
    }
}

/// Proposes NodeDown for every Up node that this member has not heard from for the node
/// timeout and that a majority of the voting members find silent too.
async fn declare_silent_nodes<S: Store>(store: &S, witness: &SharedWitness, jury: &Jury) {
    // This member's applied state is enough: every NodeDown still needs the members' verdict,
    // and one for a node already Down changes nothing. No quorum round every tick.
    let Ok((timeout, lease, up)) = store
        .read_local(|db| {
            let t = &db.settings.timing;
            let up: Vec<String> = db
                .nodes
                .values()
                .filter(|n| n.liveness == NodeLiveness::Up)
                .map(|n| n.spec.name.clone())
                .collect();
            (t.node_timeout.as_duration(), t.lease.as_duration(), up)
        })
        .await
    else {
        return;
    };
    let now = Instant::now();
    let candidates: Vec<(String, Duration)> = {
        let w = witness.lock();
        up.into_iter()
            .filter(|n| w.looks_silent(n, now, timeout))
            .map(|n| {
                let s = w.silence(&n, now);
                (n, s)
            })
            .collect()
    };
    for (node, silence) in candidates {
        let Some(tally) = jury.ask(store, &node, timeout, lease).await else {
            continue;
        };
        if !tally.is_down() {
            debug!(%node, ?tally, "silent here, not for a majority of the members");
            continue;
        }
        let reason = format!(
            "no heartbeat for {} ms ({} of {} members agree)",
            silence.as_millis(),
            tally.silent,
            tally.voters
        );
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
