//! The agent's main loop: it cleans up what a previous run left, registers, heartbeats, holds
//! the lease, and hands each group's desired state to that group's task.
//!
//! ```text
//!  start ─▶ clean leftovers (state file) ─▶ register ─▶ loop:
//!     heartbeat acks ──▶ Lease (pure) ──▶ lease watch (true/false) ──▶ every group task
//!     lease expiry timer ─▶ false: groups terminate everything; desired stream dropped
//!     regained ─▶ subscribe again: act only on desired state received after that
//!     desired item ─▶ GroupCmd::Desired to each group; groups not named ─▶ GroupCmd::Remove
//!     shutdown ─▶ GroupCmd::Stop to every group (graceful offline), then end
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use nonstop_contract::DesiredNode;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::event::AgentEvent;
use crate::feeds::{Tagged, follow_desired, heartbeats};
use crate::group::{Group, GroupCmd};
use crate::handlers::HandlerSource;
use crate::lease::{Lease, LeaseChange};
use crate::link::{ControllerLink, HeartbeatAck, Registration};
use crate::report::{self, Reporter};
use crate::runtime::Shared;
use crate::shutdown::{self, Shutdown, ShutdownSender};
use crate::state_file::StateFile;
use crate::{AgentError, Result};

/// Starts agents.
#[derive(Debug)]
pub struct Agent;

impl Agent {
    /// Starts an agent on the current tokio runtime: it cleans up leftovers of an earlier run,
    /// registers through `link`, and follows the desired state with the handlers of `handlers`.
    /// Fails only on an unusable configuration.
    pub fn start(
        config: AgentConfig,
        link: Arc<dyn ControllerLink>,
        handlers: Arc<dyn HandlerSource>,
    ) -> Result<AgentHandle> {
        config.check()?;
        let (reporter, reports_rx) = Reporter::new();
        let (events, _) = broadcast::channel(1024);
        let metrics = crate::metrics::AgentMetrics::default();
        let shared = Arc::new(Shared {
            state: StateFile::new(config.state_file()),
            terminate_ms: std::sync::atomic::AtomicU64::new(config.terminate.as_millis() as u64),
            unclean: Default::default(),
            metrics: metrics.clone(),
            config,
            clock: Clock::new(),
            reporter: reporter.clone(),
            handlers,
            events: events.clone(),
        });
        let (stop_tx, stop_rx) = shutdown::channel();
        let (lease_tx, _) = watch::channel(false);
        let (deadline_tx, _) = watch::channel(None);
        let main = MainLoop {
            shared,
            link,
            lease: Lease::new(),
            lease_tx,
            deadline_tx: deadline_tx.clone(),
            leader_term: 0,
            groups: HashMap::new(),
            tasks: JoinSet::new(),
            generation: 0,
            desired_task: None,
            heartbeat_task: None,
            heartbeat_every: Duration::ZERO,
            ack_tx: None,
        };
        let task = tokio::spawn(main.run(stop_rx, reports_rx));
        Ok(AgentHandle {
            stop: stop_tx,
            task,
            deadline: deadline_tx,
            events,
            reports: reporter.local(),
            metrics,
        })
    }
}

/// A running agent: watch it, stop it.
#[derive(Debug)]
pub struct AgentHandle {
    stop: ShutdownSender,
    task: JoinHandle<()>,
    deadline: watch::Sender<Option<tokio::time::Instant>>,
    events: broadcast::Sender<AgentEvent>,
    reports: broadcast::Sender<nonstop_contract::ResourceReport>,
    metrics: crate::metrics::AgentMetrics,
}

impl AgentHandle {
    /// The agent's metrics (heartbeat round trips, handler call durations), to register with
    /// the daemon's Prometheus registry.
    pub fn metrics(&self) -> &crate::metrics::AgentMetrics {
        &self.metrics
    }

    /// The agent's events from now on.
    pub fn events(&self) -> broadcast::Receiver<AgentEvent> {
        self.events.subscribe()
    }

    /// When the lease runs out (`None`: never granted, or the agent stopped with nothing
    /// running). A watchdog outside the agent's process fences the node at that instant if the
    /// agent cannot (docs/design.md, step 8: a stopped or hung daemon).
    pub fn lease_deadline(&self) -> watch::Receiver<Option<tokio::time::Instant>> {
        self.deadline.subscribe()
    }

    /// Every resource report from now on (the same ones the leader gets).
    pub fn reports(&self) -> broadcast::Receiver<nonstop_contract::ResourceReport> {
        self.reports.subscribe()
    }

    /// Stops gracefully: every group takes its resources offline (dependents first), reports
    /// are flushed (for at most a few seconds), then the agent ends.
    pub async fn shutdown(self) -> Result<()> {
        self.stop.send();
        self.task.await.map_err(|_| AgentError::Stopped)
    }

    /// Ends the agent at once without stopping anything, as if its process were killed: what
    /// it started keeps running and stays in the state file for the next start to clean up.
    pub async fn abandon(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The main loop's state (one task owns it).
struct MainLoop {
    shared: Arc<Shared>,
    link: Arc<dyn ControllerLink>,
    lease: Lease,
    lease_tx: watch::Sender<bool>,
    /// The highest leader term the acknowledgements named.
    leader_term: u64,
    /// The lease's end, published for the watchdog.
    deadline_tx: watch::Sender<Option<tokio::time::Instant>>,
    groups: HashMap<String, mpsc::UnboundedSender<GroupCmd>>,
    /// Every task the loop spawned; dropping it (abandon) aborts them all.
    tasks: JoinSet<()>,
    /// Counts desired-state subscriptions, so items of an abandoned one are told apart.
    generation: u64,
    desired_task: Option<AbortHandle>,
    heartbeat_task: Option<AbortHandle>,
    /// The heartbeat interval in force.
    heartbeat_every: Duration,
    /// Where heartbeat acknowledgements go (set once registered).
    ack_tx: Option<mpsc::UnboundedSender<HeartbeatAck>>,
}

impl MainLoop {
    async fn run(
        mut self,
        mut stop: Shutdown,
        reports: mpsc::UnboundedReceiver<nonstop_contract::AgentReport>,
    ) {
        let retry = self.shared.config.retry;
        self.tasks.spawn(report::forward(
            self.link.clone(),
            reports,
            retry,
            self.shared.config.incarnation,
        ));
        self.clean_leftovers().await;
        let Some(heartbeat) = self.register(&mut stop).await else {
            return;
        };
        let (ack_tx, mut acks) = mpsc::unbounded_channel();
        self.ack_tx = Some(ack_tx);
        self.beat(heartbeat);
        let (desired_tx, mut desired) = mpsc::unbounded_channel::<Tagged>();
        loop {
            let expiry = self
                .lease
                .expires_ms()
                .map(|ms| self.shared.clock.instant(ms));
            let valid = *self.lease_tx.borrow();
            tokio::select! {
                biased;
                _ = stop.recv() => break,
                _ = sleep_until_opt(expiry), if valid => self.lease_lost(),
                Some(ack) = acks.recv() => self.acknowledged(ack, &desired_tx),
                Some((generation, d)) = desired.recv() => {
                    if valid && generation == self.generation {
                        self.dispatch(d);
                    }
                }
            }
        }
        self.stop_groups().await;
    }

    /// (Re)starts the heartbeat task at `every`.
    fn beat(&mut self, every: Duration) {
        let Some(ack_tx) = self.ack_tx.clone() else {
            return;
        };
        if let Some(t) = self.heartbeat_task.take() {
            t.abort();
        }
        self.heartbeat_every = every;
        let lease = self.lease_tx.subscribe();
        let beat = heartbeats(self.shared.clone(), self.link.clone(), every, lease, ack_tx);
        self.heartbeat_task = Some(self.tasks.spawn(beat));
    }

    /// Terminates what an earlier run left. What it could not undo stays in the state file (so
    /// that the watchdog still knows of it) and is tried again until it is undone; until then
    /// the groups holding it confirm no stop.
    async fn clean_leftovers(&mut self) {
        let path = self.shared.config.state_file();
        let leftovers = StateFile::load(&path).unwrap_or_else(|e| {
            tracing::error!("{e}; starting with no leftovers");
            Default::default()
        });
        let left = crate::leftovers::clean_up(&leftovers, self.shared.handlers.as_ref()).await;
        if let Err(e) = self.shared.state.restart_with(left.clone()) {
            tracing::error!("{e}");
        }
        if !left.is_empty() {
            let names: Vec<&String> = left.keys().collect();
            tracing::error!(
                ?names,
                "leftovers not undone: they block their groups' moves"
            );
            self.shared.set_unclean(left.keys().cloned().collect());
            self.tasks
                .spawn(crate::leftovers::retry(self.shared.clone(), left));
        }
        let names: Vec<String> = leftovers.into_keys().collect();
        self.shared.event(AgentEvent::LeftoversCleaned(names));
    }

    /// Registers, retrying until it works; `None` when told to stop first.
    async fn register(&mut self, stop: &mut Shutdown) -> Option<Duration> {
        let registration = Registration {
            node: self.shared.config.node.clone(),
            types: self.shared.handlers.type_names(),
            incarnation: self.shared.config.incarnation,
            address: self.shared.config.address.clone(),
        };
        loop {
            tokio::select! {
                _ = stop.recv() => return None,
                r = self.link.register(registration.clone()) => match r {
                    Ok(reply) => {
                        self.shared.event(AgentEvent::Registered);
                        self.shared.set_terminate_budget(reply.terminate.0);
                        // A leader that names no pace leaves the configured one.
                        return Some(match reply.heartbeat.0 {
                            0 => self.shared.config.heartbeat,
                            ms => Duration::from_millis(ms),
                        });
                    }
                    Err(e) => tracing::warn!("registration failed, retrying: {e}"),
                },
            }
            tokio::time::sleep(self.shared.config.retry).await;
        }
    }

    fn acknowledged(&mut self, ack: HeartbeatAck, desired_tx: &mpsc::UnboundedSender<Tagged>) {
        // A timing profile changed at run time reaches the agent here: the heartbeat keeps up
        // with the lease the members now grant, and the terminate budget with the profile.
        if let Some(t) = ack.terminate {
            self.shared.set_terminate_budget(t.0);
        }
        if let Some(h) = ack.heartbeat.filter(|h| h.0 > 0)
            && h.as_duration() != self.heartbeat_every
        {
            tracing::info!(
                heartbeat_ms = h.0,
                "the timing profile changed: new heartbeat pace"
            );
            self.beat(h.as_duration());
        }
        let now = self.shared.clock.now_ms();
        (self.shared.metrics).heartbeat(ack.member, now.saturating_sub(ack.sent_ms));
        let change = self.lease.acknowledged(&ack, now);
        let until = self
            .lease
            .expires_ms()
            .map(|ms| self.shared.clock.instant(ms));
        self.deadline_tx
            .send_if_modified(|d| std::mem::replace(d, until) != until);
        let new_leader = self.newer_leader(&ack);
        if change == LeaseChange::Regained {
            self.lease_tx.send_replace(true);
            self.shared.event(AgentEvent::LeaseRegained);
            self.subscribe(desired_tx.clone());
        } else if new_leader && *self.lease_tx.borrow() {
            // The stream may hang on a leader that stopped without closing it: the members
            // name the new one, and the lease holds, so nothing else would make us ask again.
            tracing::info!("a new leader: subscribing to its desired state");
            self.subscribe(desired_tx.clone());
        }
    }

    /// Whether `ack` names a leader of a later term than any before (not counting the first).
    fn newer_leader(&mut self, ack: &HeartbeatAck) -> bool {
        let Some((term, _)) = &ack.leader else {
            return false;
        };
        if *term <= self.leader_term {
            return false;
        }
        let known = self.leader_term > 0;
        self.leader_term = *term;
        known
    }

    /// The lease ran out: every group terminates its resources; the desired stream is dropped,
    /// so nothing received before the lease is regained is acted on.
    fn lease_lost(&mut self) {
        tracing::error!("lease expired: terminating every resource");
        self.lease_tx.send_replace(false);
        if let Some(t) = self.desired_task.take() {
            t.abort();
        }
        self.generation += 1;
        self.shared.event(AgentEvent::LeaseLost);
    }

    /// Starts a fresh subscription to the desired state.
    fn subscribe(&mut self, tx: mpsc::UnboundedSender<Tagged>) {
        if let Some(t) = self.desired_task.take() {
            t.abort();
        }
        self.generation += 1;
        let (link, shared, generation) = (self.link.clone(), self.shared.clone(), self.generation);
        let handle = self
            .tasks
            .spawn(follow_desired(link, shared, generation, tx));
        self.desired_task = Some(handle);
    }

    /// Hands each group its desired state; groups no longer named are removed.
    fn dispatch(&mut self, d: DesiredNode) {
        if d.node != self.shared.config.node {
            self.shared.event(AgentEvent::WrongNode(d.node));
            return;
        }
        self.shared.handlers.learn(&d.types);
        let named: BTreeMap<String, _> =
            d.groups.into_iter().map(|g| (g.name.clone(), g)).collect();
        for (name, tx) in &self.groups {
            if !named.contains_key(name) {
                let _ = tx.send(GroupCmd::Remove);
            }
        }
        for (name, group) in named {
            let tx = self.group(&name);
            let _ = tx.send(GroupCmd::Desired(group));
        }
    }

    /// The command channel of group `name`, starting its task if needed.
    fn group(&mut self, name: &str) -> mpsc::UnboundedSender<GroupCmd> {
        if let Some(tx) = self.groups.get(name) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let lease = (self.lease_tx.subscribe(), self.deadline_tx.subscribe());
        self.tasks
            .spawn(Group::run(self.shared.clone(), name.to_string(), lease, rx));
        self.groups.insert(name.to_string(), tx.clone());
        tx
    }

    /// Graceful stop: every group takes its resources offline (concurrently), then reports are
    /// flushed for at most a few seconds.
    async fn stop_groups(mut self) {
        let mut waits = Vec::new();
        for tx in self.groups.values() {
            let (done, wait) = oneshot::channel();
            if tx.send(GroupCmd::Stop(done)).is_ok() {
                waits.push(wait);
            }
        }
        futures::future::join_all(waits).await;
        self.groups.clear();
        // Everything is offline: nothing left for a watchdog to fence.
        self.deadline_tx.send_replace(None);
        for t in [self.desired_task.take(), self.heartbeat_task.take()]
            .into_iter()
            .flatten()
        {
            t.abort();
        }
        // The report forwarder ends once every reporter (held through `shared`) is gone.
        drop(self.shared);
        let flush = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(3), flush)
            .await
            .is_err()
        {
            tracing::warn!("reports not all delivered before shutdown");
        }
    }
}

/// Sleeps until `at`, or forever when there is none.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}
