//! A cluster in one process, for `nonstop simulate` and the policy tests: the real database and
//! the real `plan`, with model agents that do at once what real agents would do (start and stop
//! resources in dependency order, restart by the shared restart rule, report every transition).
//! What it prints is what the cluster would do.
//!
//! ```text
//!  inject(event) ─▶ settle: loop { plan ─▶ apply ─▶ model agents act ─▶ apply reports }
//!                   until nothing changes; every event is kept in the transcript
//! ```

mod agent;
mod event;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use nonstop_resource_types::Millis;

use crate::config::{ClusterFile, to_ops};
use crate::db::{ApplyError, ClusterDb, Command, Event, Op};
use crate::policy::plan;
use crate::time::Time;

pub use event::{ParseEventError, SimEvent};
pub use render::JsonReport;

/// The most rounds one settle may take before the simulator calls the cluster unstable.
const MAX_ROUNDS: usize = 1000;

/// One line of the transcript: what happened, after which injected step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The step it followed (`start`, `fail node:osdb-serv`).
    pub step: String,
    /// The step's number (0 is the start).
    pub step_no: usize,
    /// The line a person reads.
    pub summary: String,
    /// The event itself.
    pub event: Event,
}

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
    #[error("the cluster did not settle after {MAX_ROUNDS} rounds during {0}")]
    Unstable(String),
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
    /// What really runs on each node (resource names), as the model agents keep it.
    running: BTreeMap<String, BTreeSet<String>>,
    step: String,
    step_no: usize,
}

impl Simulator {
    /// A cluster built from `file`, every node up, every group started where it belongs.
    pub fn start(file: &ClusterFile) -> Result<Self, SimError> {
        Self::start_without(file, &[])
    }

    /// Like `start`, but the nodes in `absent` are not heard from (they stay Joining).
    pub fn start_without(file: &ClusterFile, absent: &[String]) -> Result<Self, SimError> {
        let mut sim = Simulator {
            db: ClusterDb::new(),
            now: Time(1_000_000),
            transcript: Vec::new(),
            running: BTreeMap::new(),
            step: "start".into(),
            step_no: 0,
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

    /// Injects one event and lets the cluster settle.
    pub fn inject(&mut self, ev: &SimEvent) -> Result<(), SimError> {
        self.step = ev.to_string();
        self.step_no += 1;
        match ev {
            SimEvent::Advance(d) => self.now = self.now.plus(*d),
            SimEvent::FailNode(n) => {
                // The node is cut off: its agent's lease runs out and it stops everything.
                self.running.remove(n);
                let op = Op::NodeDown {
                    node: n.clone(),
                    reason: "simulated failure".into(),
                };
                self.apply(Command::liveness(self.now, op))?;
            }
            SimEvent::RecoverNode(n) => {
                self.apply(Command::liveness(self.now, Op::NodeUp { node: n.clone() }))?;
            }
            SimEvent::FailResource(r) => self.fail_resource(r)?,
            SimEvent::Operator(op) => {
                self.apply(Command::operator(self.now, "simulate", op.clone()))?;
            }
        }
        self.settle()
    }

    /// Where each group runs now (`None`: nowhere).
    pub fn placement(&self) -> BTreeMap<String, Option<String>> {
        self.db
            .groups
            .values()
            .map(|g| (g.spec.name.clone(), g.owner.clone()))
            .collect()
    }

    /// The resources running on each node right now, as the model agents see them.
    pub fn running(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.running
    }

    /// Runs plan and the agents until nothing changes.
    pub fn settle(&mut self) -> Result<(), SimError> {
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for cmd in plan(&self.db, self.now) {
                changed = true;
                self.apply(cmd)?;
            }
            changed |= self.agents_act()?;
            if !changed {
                return Ok(());
            }
        }
        Err(SimError::Unstable(self.step.clone()))
    }

    fn apply(&mut self, cmd: Command) -> Result<Vec<Event>, SimError> {
        let events = self.db.apply(cmd).map_err(|source| SimError::Rejected {
            step: self.step.clone(),
            source,
        })?;
        for e in &events {
            if let Some(summary) = e.summary() {
                self.transcript.push(Transition {
                    step: self.step.clone(),
                    step_no: self.step_no,
                    summary,
                    event: e.clone(),
                });
            }
        }
        Ok(events)
    }

    /// Lets time pass by `d` without other events (for windows and grace periods).
    pub fn advance(&mut self, d: Millis) -> Result<(), SimError> {
        self.inject(&SimEvent::Advance(d))
    }
}
