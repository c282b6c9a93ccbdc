//! The leader's alerter: turns every batch of applied events into alert calls (`alerts.rs`) and
//! runs them through an [`AlertRunner`], off the apply path.
//!
//! ```text
//!  while leading: subscribe_applied ──alert_calls(&db)──▶ Alerter::submit (never waits)
//!  daemon-wide:   one lane per alert: a bounded queue ──▶ at most `at_once` of its calls at a
//!                 time ──▶ AlertRunner::run (each within its alert's timeout; a failure or a
//!                 timeout is logged)
//! ```
//!
//! Nothing waits for an alert: the applied events come on a broadcast channel that never
//! blocks the member that sends them (a subscriber that falls behind loses the oldest, and says
//! how many), and calls go into their alert's bounded queue without waiting (a full queue drops
//! them, and says how many). Each alert has its own queue and workers, so a slow agent delays
//! only its own later calls. The queues and workers belong to the daemon, not to a term: calls
//! queued while this member led still run after it stops leading. Only the leader queues calls, for
//! the commands it applies while it knows it leads.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tracing::{debug, warn};

use super::alerts::{AlertCall, Sender, alert_calls, may_tell};
use super::fencer::Attempt;
use crate::db::EventKind;
use crate::store::Store;
use nonstop_contract::Millis;

/// Runs one alert call: the one place alerts touch the world.
#[async_trait]
pub trait AlertRunner: Send + Sync + 'static {
    /// Runs `call` once, within its timeout; says whether it succeeded, with its last line of
    /// output or why it failed.
    async fn run(&self, call: &AlertCall) -> Attempt;
}

/// How much the alerter holds and runs at once, per alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Calls of one alert waiting to run, at most; more are dropped.
    pub queue: usize,
    /// Calls of one alert running at once, at most.
    pub at_once: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue: 1000,
            at_once: 4,
        }
    }
}

/// The daemon's alert queues and their workers, one lane per alert (so that a slow agent delays
/// only its own calls); cheap to clone.
#[derive(Clone)]
pub struct Alerter {
    runner: Arc<dyn AlertRunner>,
    sender: Sender,
    limits: Limits,
    lanes: Arc<Mutex<HashMap<String, mpsc::Sender<AlertCall>>>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field("sender", &self.sender)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Alerter {
    /// An alerter whose workers (started on the current tokio runtime as alerts first need
    /// them) run calls through `runner` for as long as the runtime lives.
    pub fn start(runner: Arc<dyn AlertRunner>, sender: Sender, limits: Limits) -> Alerter {
        Alerter {
            runner,
            sender,
            limits,
            lanes: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// Who the alerts are from.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Queues `calls` in their alerts' lanes without waiting; those that do not fit are
    /// dropped, with one warning per alert naming how many. Returns how many were dropped.
    pub fn submit(&self, calls: Vec<AlertCall>) -> usize {
        let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
        {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            for call in calls {
                let lane = lanes
                    .entry(call.alert.clone())
                    .or_insert_with(|| self.lane());
                if let Err(e) = lane.try_send(call) {
                    let call = match e {
                        mpsc::error::TrySendError::Full(c)
                        | mpsc::error::TrySendError::Closed(c) => c,
                    };
                    *dropped.entry(call.alert).or_default() += 1;
                }
            }
        }
        let mut all = 0;
        for (alert, n) in dropped {
            all += n;
            let total = self.dropped.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            warn!(
                alert = %alert,
                dropped = n,
                total,
                queue = self.limits.queue,
                "alert queue full: dropped {n} call(s) of alert {alert} ({total} of all alerts \
                 since the daemon started)"
            );
        }
        all
    }

    /// A new lane: its queue, and its worker.
    fn lane(&self) -> mpsc::Sender<AlertCall> {
        let (tx, rx) = mpsc::channel(self.limits.queue.max(1));
        tokio::spawn(work(rx, self.runner.clone(), self.limits.at_once.max(1)));
        tx
    }
}

/// Takes a lane's calls off its queue and runs each on a task of its own, at most `at_once` at
/// a time.
async fn work(mut rx: mpsc::Receiver<AlertCall>, runner: Arc<dyn AlertRunner>, at_once: usize) {
    let slots = Arc::new(Semaphore::new(at_once));
    while let Some(call) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let runner = runner.clone();
        tokio::spawn(async move {
            run_one(&*runner, &call).await;
            drop(slot);
        });
    }
}

/// Runs one call and logs how it ended: a failure or a timeout as a warning naming the alert,
/// the exit code and the last line of output.
async fn run_one(runner: &dyn AlertRunner, call: &AlertCall) {
    let started = Instant::now();
    let a = runner.run(call).await;
    let took = Millis(started.elapsed().as_millis() as u64);
    if a.ok {
        debug!(
            alert = %call.alert,
            recipient = %call.recipient,
            kind = %call.kind,
            sequence = call.sequence,
            took = %took,
            "alert sent"
        );
    } else {
        warn!(
            alert = %call.alert,
            path = %call.path,
            recipient = %call.recipient,
            kind = %call.kind,
            sequence = call.sequence,
            took = %took,
            detail = %a.detail,
            "alert agent failed"
        );
    }
}

/// Queues the alerts of every command applied while this member leads: never returns on its
/// own (the leader's duties end it when the term ends).
pub async fn run<S: Store>(store: &S, alerter: &Alerter) {
    let mut applied = store.subscribe_applied();
    // Whether any alert is configured, once known: read with the first command that may tell
    // something, and again after each change of the settings, so that a cluster without alerts
    // costs its raft loop no read at all.
    let mut configured: Option<bool> = None;
    loop {
        let a = match applied.recv().await {
            Ok(a) => a,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                warn!(
                    missed = n,
                    "the alerter fell behind the applied commands: the alerts of {n} of them \
                     are lost"
                );
                configured = None;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        };
        if a.events.iter().any(|e| changes_settings(&e.kind)) {
            configured = None;
        }
        if configured == Some(false) || !a.events.iter().any(|e| may_tell(&e.kind)) {
            continue;
        }
        let sender = alerter.sender().clone();
        let read = store.read_local(move |db| {
            let any = !db.settings.alerts.is_empty();
            (any, alert_calls(db, &a, &sender))
        });
        match read.await {
            Ok((any, calls)) => {
                configured = Some(any);
                alerter.submit(calls);
            }
            Err(e) => warn!(%e, "cannot read the alerts: the alerts of a command are lost"),
        }
    }
}

/// Whether an event is a change of the settings, where the alerts are kept.
fn changes_settings(kind: &EventKind) -> bool {
    matches!(kind, EventKind::ConfigChanged { change } if change == "~ settings")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::model::AlertKind;
    use std::time::Duration;

    /// A runner that holds every call of alert `log` until told to go on, and records what it
    /// ran.
    struct Held {
        gate: tokio::sync::Semaphore,
        running: AtomicU64,
        most: AtomicU64,
        ran: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl AlertRunner for Held {
        async fn run(&self, call: &AlertCall) -> Attempt {
            if call.alert == "log" {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                self.gate.acquire().await.unwrap().forget();
                self.running.fetch_sub(1, Ordering::SeqCst);
            }
            self.ran.lock().unwrap().push(call.sequence);
            Attempt {
                ok: call.sequence.is_multiple_of(2),
                detail: "exit code 1: no pager".into(),
            }
        }
    }

    fn call(sequence: u64) -> AlertCall {
        AlertCall {
            alert: "log".into(),
            path: "/bin/true".into(),
            recipient: String::new(),
            timeout: Millis(1000),
            kind: AlertKind::Node,
            sequence,
            env: Vec::new(),
        }
    }

    fn held() -> Arc<Held> {
        Arc::new(Held {
            gate: tokio::sync::Semaphore::new(0),
            running: AtomicU64::new(0),
            most: AtomicU64::new(0),
            ran: Mutex::default(),
        })
    }

    fn sender() -> Sender {
        Sender {
            version: "0".into(),
            node: "n".into(),
        }
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(5), "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Calls that hang do not hold up `submit`, nor another alert's calls; no more than
    /// `at_once` of an alert's calls run together; what does not fit in its queue is dropped and
    /// counted; the rest run once let go.
    #[tokio::test]
    async fn a_hung_agent_never_blocks_submit_and_a_full_queue_drops_what_does_not_fit() {
        let runner = held();
        let limits = Limits {
            queue: 3,
            at_once: 2,
        };
        let alerter = Alerter::start(runner.clone(), sender(), limits);
        // Two run (and hang); the worker takes a third off the queue and waits for a slot with
        // it; three more wait in the queue; the rest are dropped.
        let started = Instant::now();
        assert_eq!(alerter.submit((0..3).map(call).collect()), 0);
        until("two calls running", || {
            runner.running.load(Ordering::SeqCst) == 2
        })
        .await;
        let capacity = || alerter.lanes.lock().unwrap()["log"].capacity();
        until("the third taken off the queue", || capacity() == 3).await;
        let dropped = alerter.submit((3..10).map(call).collect());
        assert!(started.elapsed() < Duration::from_secs(1), "submit waited");
        assert_eq!(dropped, 4, "7 submitted, 3 queued");
        assert_eq!(alerter.dropped.load(Ordering::SeqCst), 4);
        // Another alert's calls run meanwhile: they have a lane of their own.
        let mut other = call(100);
        other.alert = "pager".into();
        assert_eq!(alerter.submit(vec![other]), 0);
        until("the other alert's call ran", || {
            runner.ran.lock().unwrap().contains(&100)
        })
        .await;
        runner.ran.lock().unwrap().clear();
        runner.gate.add_permits(100);
        until("every queued call ran", || {
            runner.ran.lock().unwrap().len() == 6
        })
        .await;
        assert_eq!(runner.most.load(Ordering::SeqCst), 2, "at most two at once");
        let mut ran = runner.ran.lock().unwrap().clone();
        ran.sort();
        assert_eq!(ran, [0, 1, 2, 3, 4, 5]);
    }

    /// A runner that records the calls it is given.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<AlertCall>>);

    #[async_trait]
    impl AlertRunner for Recorder {
        async fn run(&self, call: &AlertCall) -> Attempt {
            self.0.lock().unwrap().push(call.clone());
            Attempt {
                ok: true,
                detail: String::new(),
            }
        }
    }

    /// The term's loop: a command applied on the store becomes the calls its alerts ask for,
    /// run by the runner; nothing runs before alerts are configured, and they are run as soon
    /// as they are.
    #[tokio::test]
    async fn applied_commands_become_calls_once_alerts_are_configured() {
        use crate::db::model::{AlertSpec, NodeSpec, Settings};
        use crate::db::{ClusterDb, Command, Op};
        use crate::store::LocalStore;
        use crate::time::Time;

        let store = LocalStore::new(ClusterDb::new(), "127.0.0.1:1");
        let propose = |op| store.propose(Command::policy(Time::now(), op));
        let nodes = ["n1", "n2"].map(|n| {
            Op::PutNode(NodeSpec {
                name: n.into(),
                ..NodeSpec::default()
            })
        });
        propose(Op::Batch(nodes.to_vec())).await.unwrap();
        let runner = Arc::new(Recorder::default());
        let alerter = Alerter::start(runner.clone(), sender(), Limits::default());
        let term = tokio::spawn({
            let (store, alerter) = (store.clone(), alerter.clone());
            async move { run(&store, &alerter).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        propose(Op::NodeUp { node: "n1".into() }).await.unwrap();
        // The loop reads the alerts when it takes the command: let it take this one first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let settings = Settings {
            alerts: vec![AlertSpec {
                name: "log".into(),
                path: "/bin/true".into(),
                recipients: vec!["a".into(), "b".into()],
                ..AlertSpec::default()
            }],
            ..Settings::default()
        };
        propose(Op::SetSettings(settings)).await.unwrap();
        let up = propose(Op::NodeUp { node: "n2".into() }).await.unwrap();
        until("two calls", || runner.0.lock().unwrap().len() == 2).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let calls = runner.0.lock().unwrap().clone();
        let got: Vec<(&str, AlertKind, u64)> = calls
            .iter()
            .map(|c| (c.recipient.as_str(), c.kind, c.sequence))
            .collect();
        let seq = up.revision * 1_000_000;
        assert_eq!(
            got,
            [("a", AlertKind::Node, seq), ("b", AlertKind::Node, seq)],
            "only n2's coming up is told: n1's came before any alert"
        );
        term.abort();
    }
}
