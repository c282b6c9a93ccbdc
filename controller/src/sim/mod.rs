//! A cluster in one process, for `nonstop simulate` and the policy tests: the real database and
//! the real `plan`, with model agents (agent.rs) that act as real agents do, in simulated time:
//! they start and stop resources in dependency order, restart by the shared restart rule,
//! confirm a stop for a move once nothing of the group runs, and terminate everything when their
//! lease runs out. What it prints is what the cluster would do.
//!
//! ```text
//!  inject(event) ─▶ react: loop { plan ─▶ apply ─▶ model agents act ─▶ their reports applied }
//!                          until nothing changes at this instant
//!                ─▶ settle: while something is under way, move the clock to the instant it is
//!                          due and react there
//! ```
//!
//! What takes time, and what does not:
//! - Starting a resource takes none. Stopping one (offline, terminate after a failure, the fence
//!   at the end of a lease) takes the next of [`SimOptions::stop_latencies`], never more than its
//!   type's stop bound (the profile's `terminate` for a type whose stop can be forced): until
//!   then it still runs, and it counts in [`Simulator::running`].
//! - A failed node (`fail node:N` on an Up node) is cut off: it hears nothing more and what its
//!   agent reports waits until it is heard from again (`recover node:N`). Its agent goes on with
//!   the last desired state it received until its lease runs out, `lease` after the failure (the
//!   last grant came from a heartbeat sent just then, the latest it can run), and then
//!   terminates everything at once, each resource within its bound (docs/design.md, step 4). The
//!   cluster declares it Down `node_timeout` after the failure (the earliest it may, step 3).
//! - [`Simulator::settle`], which runs after every injected event, moves the clock through what
//!   is under way: stops completing, leases running out, Down verdicts, and the end of the stop
//!   wait of a group on a Down node (the leader wakes up for it). It does not jump to the
//!   leader's other timers (fail-back windows, fail-over and restart windows, the startup grace):
//!   `advance` passes those, waking up at each as the leader does.
//! - Reports made at one instant about one resource reach the leader as one, the last state: no
//!   time passes between them (so a stop that takes no time shows as its outcome alone).
//! - A report or a stop confirmation can be lost (`lose report:R`, `lose stop:G`, or
//!   [`SimOptions::losses`]), and the model agent does not send it again. This is harsher than a
//!   real agent, which retries a batch until the leader has committed it (agent/src/report.rs):
//!   it stands for the worst a network and a change of leader could do, and the invariants must
//!   hold through it. Liveness is not claimed there: after a lost stop confirmation the group
//!   stays moving until its owner is Down or an operator moves it again (a new stop number).

mod agent;
mod event;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use nonstop_contract::Millis;

use crate::config::{ClusterFile, to_ops};
use crate::db::model::Liveness;
use crate::db::{ApplyError, ClusterDb, Command, Event, Op};
use crate::policy::{next_wakeup, plan};
use crate::time::Time;

pub use event::{Loss, ParseEventError, SimEvent};
pub use render::{JsonReport, clock, span};

/// The most rounds one instant may take before the simulator calls the cluster unstable.
const MAX_ROUNDS: usize = 1000;
/// The most instants one settle may pass through before the simulator calls it unstable.
const MAX_INSTANTS: usize = 10_000;

/// One line of the transcript: what happened, after which injected step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The step it followed (`start`, `fail node:osdb-serv`).
    pub step: String,
    /// The step's number (0 is the start).
    pub step_no: usize,
    /// The line a person reads.
    pub summary: String,
    /// The event itself (its `at` is when it happened).
    pub event: Event,
}

/// An injected step and when it was injected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The step (`start`, `fail node:osdb-serv`).
    pub name: String,
    /// When it was injected.
    pub at: Time,
}

/// How the model agents deviate from instant, perfect agents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// How long each stop takes, taken in turn (and again from the first when all are used),
    /// each capped by the stopped resource's type's stop bound. Empty: every stop is instant.
    pub stop_latencies: Vec<Millis>,
    /// Which reports and stop confirmations are lost, taken in turn over everything the agents
    /// send (and again from the first): `true` loses that one. Empty: none is lost, but for the
    /// `lose` events.
    pub losses: Vec<bool>,
}

impl SimOptions {
    /// Every stop takes `latency` (within its type's bound), no report is lost.
    pub fn stop_latency(latency: Millis) -> Self {
        SimOptions {
            stop_latencies: vec![latency],
            losses: Vec::new(),
        }
    }
}

/// A check run at the end of every instant the simulator passes through.
pub type Watch = fn(&Simulator) -> Result<(), String>;

/// Why a simulation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration did not load.
    #[error("configuration: {0}")]
    Config(String),
    /// An injected event was rejected (an unknown node, say).
    #[error("{step}: {source}")]
    Rejected {
        /// The step.
        step: String,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// plan and the agents kept changing things without end: a bug.
    #[error("the cluster did not settle during {0}")]
    Unstable(String),
    /// The watch set with [`Simulator::watch`] failed at some instant.
    #[error("{step}, at {at}: {what}")]
    Violated {
        /// The step during which it failed.
        step: String,
        /// When.
        at: Time,
        /// What the watch said.
        what: String,
    },
}

/// A simulated cluster.
#[derive(Debug)]
pub struct Simulator {
    /// The cluster database.
    pub db: ClusterDb,
    /// Cluster time now.
    pub now: Time,
    /// Everything that happened, in order.
    pub transcript: Vec<Transition>,
    /// Every step injected, by number (0 is the start).
    pub steps: Vec<Step>,
    /// What really runs on each node (resource names), as the model agents keep it; a resource
    /// being stopped runs until its stop completes.
    running: BTreeMap<String, BTreeSet<String>>,
    /// The rest of each node's model agent.
    agents: BTreeMap<String, agent::ModelAgent>,
    /// Latencies, losses, and the losses asked for by `lose` events.
    faults: agent::Faults,
    /// Reports made at this instant, not delivered yet (agent.rs).
    outgoing: Vec<agent::Outgoing>,
    watch: Option<Watch>,
}

impl Simulator {
    /// A cluster built from `file`, every node up, every group started where it belongs.
    pub fn start(file: &ClusterFile) -> Result<Self, SimError> {
        Self::start_with(file, &[], SimOptions::default())
    }

    /// Like `start`, but the nodes in `absent` are not heard from (they stay Joining).
    pub fn start_without(file: &ClusterFile, absent: &[String]) -> Result<Self, SimError> {
        Self::start_with(file, absent, SimOptions::default())
    }

    /// Like `start_without`, with model agents that take time to stop and lose reports.
    pub fn start_with(
        file: &ClusterFile,
        absent: &[String],
        options: SimOptions,
    ) -> Result<Self, SimError> {
        let now = Time(1_000_000);
        let mut sim = Simulator {
            db: ClusterDb::new(),
            now,
            transcript: Vec::new(),
            steps: vec![Step {
                name: "start".into(),
                at: now,
            }],
            running: BTreeMap::new(),
            agents: BTreeMap::new(),
            faults: agent::Faults::new(options),
            outgoing: Vec::new(),
            watch: None,
        };
        let ops = to_ops(file).map_err(|e| SimError::Config(e.to_string()))?;
        sim.db
            .apply(Command::operator(sim.now, "simulate", Op::Batch(ops)))
            .map_err(|e| SimError::Config(e.to_string()))?;
        let nodes: Vec<String> = sim.db.nodes.keys().cloned().collect();
        for n in nodes.into_iter().filter(|n| !absent.contains(n)) {
            sim.apply(Command::liveness(sim.now, Op::NodeUp { node: n }))?;
        }
        sim.settle()?;
        Ok(sim)
    }

    /// Runs `watch` at the end of every instant from now on (and once now); the first failure
    /// ends the simulation with [`SimError::Violated`].
    pub fn watch(&mut self, watch: Watch) -> Result<(), SimError> {
        self.watch = Some(watch);
        self.check_watch()
    }

    /// Injects one event and lets the cluster settle: time passes while something is under way.
    pub fn inject(&mut self, ev: &SimEvent) -> Result<(), SimError> {
        self.inject_at_once(ev)?;
        self.settle()
    }

    /// Injects one event and lets the cluster react at this instant only (for `advance`: at
    /// every instant up to its end); what takes longer is left under way, for the next event to
    /// race with.
    pub fn inject_at_once(&mut self, ev: &SimEvent) -> Result<(), SimError> {
        self.steps.push(Step {
            name: ev.to_string(),
            at: self.now,
        });
        match ev {
            SimEvent::Advance(d) => {
                let until = self.now.plus(*d);
                while self.run_until(until)? {}
                return Ok(());
            }
            SimEvent::FailNode(n) => self.fail_node(n)?,
            SimEvent::RecoverNode(n) => self.recover_node(n)?,
            SimEvent::FailResource(r) => self.fail_resource(r)?,
            SimEvent::Lose(what) => self.arm_loss(what)?,
            SimEvent::Operator(op) => {
                self.apply(Command::operator(self.now, "simulate", op.clone()))?;
            }
        }
        self.react()
    }

    /// Lets time pass until nothing is under way.
    pub fn settle(&mut self) -> Result<(), SimError> {
        self.react()?;
        for _ in 0..MAX_INSTANTS {
            if !self.step()? {
                return Ok(());
            }
        }
        Err(SimError::Unstable(self.step_name()))
    }

    /// Moves the clock to the next instant at which something under way is due (a stop
    /// completes, a cut-off node's lease runs out or it is declared Down, a group's stop wait
    /// ends) and reacts there: false when nothing is under way.
    pub fn step(&mut self) -> Result<bool, SimError> {
        match self.next_due() {
            Some(t) => {
                self.now = t;
                self.react()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Moves the clock to the next instant something is due, the leader's own timers included
    /// (fail-back windows, fail-over windows, startup grace), if it comes by `until`, and reacts
    /// there: true. Otherwise moves it to `until` and reacts there: false.
    pub fn run_until(&mut self, until: Time) -> Result<bool, SimError> {
        let due = [self.next_due(), next_wakeup(&self.db, self.now)]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= until);
        self.now = due.unwrap_or(until).max(self.now);
        self.react()?;
        Ok(due.is_some())
    }

    /// Lets time pass by `d` (for windows and grace periods), then settles.
    pub fn advance(&mut self, d: Millis) -> Result<(), SimError> {
        self.inject(&SimEvent::Advance(d))
    }

    /// Where each group runs now (`None`: nowhere).
    pub fn placement(&self) -> BTreeMap<String, Option<String>> {
        self.db
            .groups
            .values()
            .map(|g| (g.spec.name.clone(), g.owner.clone()))
            .collect()
    }

    /// The resources running on each node right now, as the model agents see them (those being
    /// stopped included).
    pub fn running(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.running
    }

    /// Whether anything is under way (a stop, a lease, a Down verdict, a stop wait).
    pub fn busy(&self) -> bool {
        self.next_due().is_some()
    }

    /// At this instant: what is due happens, then plan and the agents act until nothing changes.
    fn react(&mut self) -> Result<(), SimError> {
        self.fire_due()?;
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for cmd in plan(&self.db, self.now) {
                changed = true;
                self.apply(cmd)?;
            }
            for _ in 0..MAX_ROUNDS {
                if !self.agents_act()? {
                    break;
                }
                changed = true;
            }
            changed |= self.deliver()?;
            if !changed {
                return self.check_watch();
            }
        }
        Err(SimError::Unstable(self.step_name()))
    }

    /// The next instant at which something under way is due, if any.
    fn next_due(&self) -> Option<Time> {
        let stop_waits = self.db.groups.values().filter_map(|g| {
            let n = self.db.nodes.get(g.owner.as_deref()?)?;
            (n.liveness == Liveness::Down).then(|| n.since.plus(self.db.stop_wait(g)))
        });
        self.agents
            .values()
            .filter_map(|a| a.next_due())
            .chain(stop_waits)
            .filter(|t| *t > self.now)
            .min()
    }

    fn check_watch(&self) -> Result<(), SimError> {
        match self.watch.map(|w| w(self)) {
            Some(Err(what)) => Err(SimError::Violated {
                step: self.step_name(),
                at: self.now,
                what,
            }),
            _ => Ok(()),
        }
    }

    fn step_name(&self) -> String {
        self.steps
            .last()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn rejected(&self, source: ApplyError) -> SimError {
        SimError::Rejected {
            step: self.step_name(),
            source,
        }
    }

    fn apply(&mut self, cmd: Command) -> Result<Vec<Event>, SimError> {
        let down = match &cmd.op {
            Op::NodeDown { node, .. } => Some(node.clone()),
            _ => None,
        };
        let mut events = self.record(cmd)?;
        if let Some(node) = down {
            events.extend(self.fence_simulated(&node)?);
        }
        Ok(events)
    }

    /// A node declared Down that is to be fenced by a method is fenced at once: the simulation
    /// assumes its fence agent succeeds (the transcript says so). Without a method (only an
    /// operator's confirmation would do) it stays waiting, as the cluster would.
    fn fence_simulated(&mut self, node: &str) -> Result<Vec<Event>, SimError> {
        let Some(n) = self.db.nodes.get(node) else {
            return Ok(Vec::new());
        };
        let (crate::db::model::FenceState::Pending { since, .. }, Some(m)) =
            (&n.fence, n.spec.fence.as_ref().filter(|m| m.runs()))
        else {
            return Ok(Vec::new());
        };
        let outcome = crate::db::model::FenceOutcome {
            node: node.to_string(),
            since: *since,
            method: format!("{} (simulated)", m.describe()),
            ok: true,
            took: nonstop_contract::Millis(0),
            detail: "simulated: assumed to succeed".into(),
        };
        self.record(Command::policy(self.now, Op::FenceResult(outcome)))
    }

    fn record(&mut self, cmd: Command) -> Result<Vec<Event>, SimError> {
        let events = self.db.apply(cmd).map_err(|e| self.rejected(e))?;
        let step_no = self.steps.len() - 1;
        for e in &events {
            if let Some(summary) = e.summary() {
                self.transcript.push(Transition {
                    step: self.step_name(),
                    step_no,
                    summary,
                    event: e.clone(),
                });
            }
        }
        Ok(events)
    }
}
