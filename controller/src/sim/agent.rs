//! Model agents: what runs on each node, and how each node's agent takes it toward its desired
//! state, as a real agent does (agent/src/group.rs, agent/src/lifecycle.rs), in simulated time.
//!
//! - Stops go dependents first, one after another: a resource is stopped once nothing that
//!   depends on it runs, and it runs until its stop completes (`Stop::done`). Starts take no
//!   time and go dependencies first.
//! - A failure: the resource is reported Failing, its dependents are stopped, then it is
//!   terminated; once that completes it is reported Failed, and the restart rule (the one the
//!   real agent uses, on the restarts the database counted) restarts it at once or gives up.
//! - A stop for a move is confirmed (`GroupStopped`) once nothing of the group runs, once per
//!   stop number, never again.
//! - A cut-off node (`fail node:N`) follows the last desired state it received; at the end of
//!   its lease it terminates everything at once and does nothing more until it is heard from
//!   again; what it reports waits in its outbox until then. The cluster declares it Down
//!   `node_timeout` after the failure.
//! - Reports are queued while the agents act and delivered when they have done all they can at
//!   this instant: a report of a passing state (Stopping, Failing, Failed on the way to a
//!   restart) that a later report of the same resource at the same instant supersedes is
//!   dropped, since it lasted no time. A delivered report may be lost (`Faults`).

use std::collections::{BTreeMap, BTreeSet};

use nonstop_contract::{DesiredGroup, Millis, ResourceState, RestartDecision, StopBound};

use super::{Loss, SimError, SimOptions, Simulator};
use crate::db::model::Liveness;
use crate::db::{ApplyError, Command, Op, RestartCount};
use crate::time::Time;

/// Why the leader declares a cut-off node Down.
const DOWN_REASON: &str = "simulated failure";
/// What a fenced resource is reported with.
const FENCED: &str = "lease expired: terminated (self-fenced)";
/// What a resource that gave up is reported with.
const GAVE_UP: &str = "restart limit reached";

/// How long stops take and which reports are lost.
#[derive(Debug)]
pub(super) struct Faults {
    latencies: Vec<Millis>,
    next_latency: usize,
    losses: Vec<bool>,
    next_loss: usize,
    /// Resource -> how many of its next reports are lost (`lose report:R`).
    reports: BTreeMap<String, usize>,
    /// Group -> how many of its next stop confirmations are lost (`lose stop:G`).
    stops: BTreeMap<String, usize>,
}

impl Faults {
    pub(super) fn new(o: SimOptions) -> Self {
        Faults {
            latencies: o.stop_latencies,
            next_latency: 0,
            losses: o.losses,
            next_loss: 0,
            reports: BTreeMap::new(),
            stops: BTreeMap::new(),
        }
    }

    /// How long the next stop takes, before its bound caps it.
    fn latency(&mut self) -> Millis {
        if self.latencies.is_empty() {
            return Millis(0);
        }
        let l = self.latencies[self.next_latency % self.latencies.len()];
        self.next_latency += 1;
        l
    }

    /// Whether `op`, sent by an agent, is lost on its way.
    fn lost(&mut self, op: &Op) -> bool {
        let armed = match op {
            Op::ReportResource { resource, .. } => self.reports.get_mut(resource),
            Op::GroupStopped { group, .. } => self.stops.get_mut(group),
            _ => None,
        };
        if let Some(n) = armed
            && *n > 0
        {
            *n -= 1;
            return true;
        }
        if self.losses.is_empty() {
            return false;
        }
        let lost = self.losses[self.next_loss % self.losses.len()];
        self.next_loss += 1;
        lost
    }
}

/// A report an agent made at this instant, not delivered yet.
#[derive(Debug)]
pub(super) struct Outgoing {
    node: String,
    op: Op,
}

/// One node's agent, besides what runs there (`Simulator::running`).
#[derive(Clone, Debug, Default)]
pub(super) struct ModelAgent {
    /// Stops under way, by resource.
    stopping: BTreeMap<String, Stop>,
    /// Resources that failed and are not being terminated yet (their dependents stop first),
    /// with what the restart rule decided.
    failing: BTreeMap<String, RestartDecision>,
    /// Restarts to report with the next start, by resource.
    restart: BTreeMap<String, RestartCount>,
    /// Resources the restart rule gave up on (until a new placement).
    given_up: BTreeSet<String>,
    /// The placement epoch followed, by group.
    seen: BTreeMap<String, u64>,
    /// The last stop number confirmed, by group.
    confirmed: BTreeMap<String, u64>,
    /// Cut off from the cluster.
    cut: Option<Cut>,
    /// Its lease ran out and it terminated everything: it acts again once heard from.
    fenced: bool,
    /// The last desired state received, group by group.
    desired: Vec<DesiredGroup>,
    /// Reports made while cut off, delivered when it is heard from again.
    outbox: Vec<Op>,
}

#[derive(Clone, Copy, Debug)]
struct Cut {
    /// When its lease runs out.
    lease_end: Time,
    /// When the cluster declares it Down (`None`: done).
    down_at: Option<Time>,
}

#[derive(Clone, Debug)]
struct Stop {
    /// When it completes.
    done: Time,
    /// What the agent reports then.
    outcome: Outcome,
}

#[derive(Clone, Debug)]
enum Outcome {
    /// Taken offline as asked.
    Offline,
    /// Terminated after a failure; then restarted or given up.
    Failed(RestartDecision),
    /// Terminated because the lease ran out.
    Fenced,
    /// Its group left this node: no placement to report it under.
    Silent,
}

impl ModelAgent {
    /// When something of this agent is due next: a stop, its lease's end, its Down verdict.
    pub(super) fn next_due(&self) -> Option<Time> {
        let cut = self.cut.iter().flat_map(|c| {
            let lease = (!self.fenced).then_some(c.lease_end);
            lease.into_iter().chain(c.down_at)
        });
        self.stopping.values().map(|s| s.done).chain(cut).min()
    }

    /// The epoch the agent follows for the group holding `resource`, if it has it.
    fn epoch_of(&self, resource: &str) -> Option<u64> {
        self.desired
            .iter()
            .find(|g| g.resources.iter().any(|r| r.name == resource))
            .map(|g| g.epoch)
    }
}

impl Simulator {
    fn agent(&mut self, node: &str) -> &mut ModelAgent {
        self.agents.entry(node.to_string()).or_default()
    }

    fn is_running(&self, node: &str, r: &str) -> bool {
        self.running.get(node).is_some_and(|s| s.contains(r))
    }

    fn set_running(&mut self, node: &str, r: &str, on: bool) {
        let set = self.running.entry(node.to_string()).or_default();
        if on {
            set.insert(r.to_string());
        } else {
            set.remove(r);
        }
    }

    /// What is due at this instant besides stops: cut-off nodes whose lease ran out fence, and
    /// those whose silence reached `node_timeout` are declared Down.
    pub(super) fn fire_due(&mut self) -> Result<(), SimError> {
        let now = self.now;
        let cut: Vec<(String, Cut)> = self
            .agents
            .iter()
            .filter_map(|(n, a)| a.cut.map(|c| (n.clone(), c)))
            .collect();
        for (node, c) in cut {
            if c.lease_end <= now && !self.agents[&node].fenced {
                self.fence(&node);
            }
            if c.down_at.is_some_and(|t| t <= now) {
                if let Some(c) = self.agent(&node).cut.as_mut() {
                    c.down_at = None;
                }
                let op = Op::NodeDown {
                    node,
                    reason: DOWN_REASON.into(),
                };
                self.apply(Command::liveness(now, op))?;
            }
        }
        Ok(())
    }

    /// The lease ran out: every resource is terminated at once, each within its bound (a stop
    /// already under way ends by then too), and the agent waits to be heard from again.
    fn fence(&mut self, node: &str) {
        let running: Vec<String> = self
            .running
            .get(node)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for r in running {
            let done = self
                .now
                .plus(self.faults.latency().min(self.stop_bound(&r)));
            let a = self.agent(node);
            match a.stopping.get_mut(&r) {
                Some(s) => s.done = s.done.min(done),
                None => {
                    let outcome = Outcome::Fenced;
                    a.stopping.insert(r, Stop { done, outcome });
                }
            }
        }
        let a = self.agent(node);
        a.failing.clear();
        a.restart.clear();
        a.fenced = true;
    }

    /// The longest a stop of `resource` may take: its type's stop bound, or the profile's
    /// `terminate` budget for a type whose stop can be forced.
    fn stop_bound(&self, resource: &str) -> Millis {
        let terminate = self.db.settings.timing.terminate;
        let t = self
            .db
            .resources
            .get(resource)
            .and_then(|r| self.db.type_for_running(&r.spec.type_name));
        match t.map(|t| t.stop) {
            Some(StopBound::Within(d)) => d,
            _ => terminate,
        }
    }

    fn begin_stop(&mut self, node: &str, resource: &str, outcome: Outcome) {
        let done = self
            .now
            .plus(self.faults.latency().min(self.stop_bound(resource)));
        let stop = Stop { done, outcome };
        self.agent(node).stopping.insert(resource.to_string(), stop);
    }

    /// Every node's agent acts once; true if any did something.
    pub(super) fn agents_act(&mut self) -> Result<bool, SimError> {
        let nodes: BTreeSet<String> = self
            .db
            .nodes
            .keys()
            .chain(self.running.keys())
            .cloned()
            .collect();
        let mut acted = false;
        for node in nodes {
            acted |= self.complete_stops(&node);
            acted |= self.agent_step(&node);
        }
        Ok(acted)
    }

    /// Stops that are due complete, whatever the node's state: the resource no longer runs.
    fn complete_stops(&mut self, node: &str) -> bool {
        let now = self.now;
        let Some(a) = self.agents.get_mut(node) else {
            return false;
        };
        let due: Vec<(String, Outcome)> = a
            .stopping
            .iter()
            .filter(|(_, s)| s.done <= now)
            .map(|(r, s)| (r.clone(), s.outcome.clone()))
            .collect();
        for (r, outcome) in &due {
            self.agent(node).stopping.remove(r);
            self.set_running(node, r, false);
            let (state, gave_up, message) = match outcome {
                Outcome::Silent => continue,
                Outcome::Offline => (ResourceState::Offline, false, None),
                Outcome::Fenced => (ResourceState::Offline, false, Some(FENCED.to_string())),
                Outcome::Failed(RestartDecision::GiveUp { .. }) => {
                    self.agent(node).given_up.insert(r.clone());
                    (ResourceState::Failed, true, Some(GAVE_UP.to_string()))
                }
                Outcome::Failed(RestartDecision::Restart { attempt, limit, .. }) => {
                    let count = RestartCount {
                        attempt: *attempt,
                        limit: *limit,
                    };
                    self.agent(node).restart.insert(r.clone(), count);
                    (ResourceState::Failed, false, None)
                }
            };
            self.report(node, r, state, None, gave_up, message);
        }
        !due.is_empty()
    }

    /// One pass over the node's desired state: stops what must stop (dependents first), starts
    /// what may start (dependencies first), confirms a stop for a move.
    fn agent_step(&mut self, node: &str) -> bool {
        let up = self
            .db
            .nodes
            .get(node)
            .is_some_and(|n| n.liveness == Liveness::Up);
        let fresh = self.db.desired_for(node).groups;
        let a = self.agent(node);
        match (a.cut.is_some(), a.fenced) {
            // Fenced: nothing until it is heard from again.
            (_, true) => return false,
            // Cut off: it goes on with what it last received.
            (true, false) => {}
            (false, false) if up => a.desired = fresh,
            // Down or never heard from: it has no desired state to follow.
            (false, false) => return false,
        }
        let desired = a.desired.clone();
        // A new placement here starts afresh: give-ups and restart counts are forgotten.
        for g in &desired {
            if a.seen.get(&g.name).is_none_or(|e| *e < g.epoch) {
                a.seen.insert(g.name.clone(), g.epoch);
                for r in &g.resources {
                    a.given_up.remove(&r.name);
                    a.restart.remove(&r.name);
                }
            }
        }
        let mut acted = false;
        // What runs but is no longer this node's to run (its group left while the node was
        // away) is stopped, with no placement to report it under.
        let wanted: BTreeSet<&str> = desired
            .iter()
            .flat_map(|g| g.resources.iter().map(|r| r.name.as_str()))
            .collect();
        let strays: Vec<String> = self
            .running
            .get(node)
            .into_iter()
            .flatten()
            .filter(|r| {
                !wanted.contains(r.as_str()) && !self.agents[node].stopping.contains_key(*r)
            })
            .cloned()
            .collect();
        for r in strays {
            self.begin_stop(node, &r, Outcome::Silent);
            acted = true;
        }
        for g in &desired {
            let runs = |sim: &Simulator, r: &str| sim.is_running(node, r);
            let ok = self.should_run(node, g);
            for r in g.resources.iter().rev() {
                let dependents_run = g
                    .resources
                    .iter()
                    .any(|x| x.depends_on.contains(&r.name) && runs(self, &x.name));
                let stopping = self.agents[node].stopping.contains_key(&r.name);
                if runs(self, &r.name) && !stopping && !dependents_run && !ok.contains(&r.name) {
                    match self.agent(node).failing.remove(&r.name) {
                        Some(d) => self.begin_stop(node, &r.name, Outcome::Failed(d)),
                        None => {
                            self.begin_stop(node, &r.name, Outcome::Offline);
                            let pending = ResourceState::OfflinePending;
                            self.report(node, &r.name, pending, None, false, None);
                        }
                    }
                    acted = true;
                }
            }
            for r in &g.resources {
                if !runs(self, &r.name) && self.should_run(node, g).contains(&r.name) {
                    self.set_running(node, &r.name, true);
                    let restart = self.agent(node).restart.remove(&r.name);
                    self.report(node, &r.name, ResourceState::Online, restart, false, None);
                    acted = true;
                }
            }
            // Told to stop for a move, with nothing of the group running: confirm it, once.
            let nothing_runs = !g.resources.iter().any(|r| runs(self, &r.name));
            if let Some(stop) = g.stop
                && nothing_runs
                && self.agents[node].confirmed.get(&g.name) != Some(&stop)
            {
                self.agent(node).confirmed.insert(g.name.clone(), stop);
                let op = Op::GroupStopped {
                    node: node.into(),
                    group: g.name.clone(),
                    epoch: g.epoch,
                    stop,
                    mark: None,
                };
                self.outgoing.push(Outgoing {
                    node: node.into(),
                    op,
                });
                acted = true;
            }
        }
        acted
    }

    /// The resources of `g` that should run on `node` now: wanted online, neither failed nor
    /// given up, and all they depend on runs (not being stopped) and should run. `g` lists
    /// dependencies first.
    fn should_run(&self, node: &str, g: &DesiredGroup) -> BTreeSet<String> {
        let a = self.agents.get(node);
        let stopping = |r: &str| a.is_some_and(|a| a.stopping.contains_key(r));
        let failed =
            |r: &str| a.is_some_and(|a| a.failing.contains_key(r) || a.given_up.contains(r));
        let mut ok = BTreeSet::new();
        for r in &g.resources {
            let deps = r
                .depends_on
                .iter()
                .all(|d| ok.contains(d) && self.is_running(node, d) && !stopping(d));
            if r.online && deps && !failed(&r.name) {
                ok.insert(r.name.clone());
            }
        }
        ok
    }

    /// A node fails. One that is Up is cut off (module docs); one that holds no lease (never
    /// heard from, or Down already) is declared Down at once.
    pub(super) fn fail_node(&mut self, node: &str) -> Result<(), SimError> {
        let Some(n) = self.db.nodes.get(node) else {
            return Err(self.rejected(ApplyError::NotFound {
                kind: "node",
                name: node.into(),
            }));
        };
        if n.liveness != Liveness::Up {
            let op = Op::NodeDown {
                node: node.into(),
                reason: DOWN_REASON.into(),
            };
            return self.apply(Command::liveness(self.now, op)).map(|_| ());
        }
        if self.agents.get(node).is_some_and(|a| a.cut.is_some()) {
            return Err(self.refused("node", node, "it has failed already"));
        }
        let timing = &self.db.settings.timing;
        let cut = Cut {
            lease_end: self.now.plus(timing.lease),
            down_at: Some(self.now.plus(timing.node_timeout)),
        };
        let desired = self.db.desired_for(node).groups;
        let a = self.agent(node);
        a.cut = Some(cut);
        a.desired = desired;
        Ok(())
    }

    /// A node is heard from again: it is Up, follows its desired state afresh, and what it
    /// reported while cut off arrives now, in order.
    pub(super) fn recover_node(&mut self, node: &str) -> Result<(), SimError> {
        self.apply(Command::liveness(
            self.now,
            Op::NodeUp {
                node: node.to_string(),
            },
        ))?;
        let a = self.agent(node);
        a.cut = None;
        a.fenced = false;
        let outbox = std::mem::take(&mut a.outbox);
        for op in outbox {
            self.send(node, op)?;
        }
        Ok(())
    }

    /// A resource fails on its owner: reported Failing; the restart rule decides now, and the
    /// agent acts on it as the cluster reacts (dependents stop first, then it is terminated).
    pub(super) fn fail_resource(&mut self, name: &str) -> Result<(), SimError> {
        let Some(r) = self.db.resources.get(name) else {
            return Err(self.refused("resource", name, "no such resource"));
        };
        let g = &self.db.groups[&r.spec.group];
        let node = match &g.owner {
            Some(n) if self.is_running(n, name) => n.clone(),
            _ => return Err(self.refused("resource", name, "it is not running anywhere")),
        };
        let a = self.agents.get(&node);
        if a.is_some_and(|a| a.cut.is_some()) {
            return Err(self.refused("resource", name, "its node is cut off"));
        }
        if a.is_some_and(|a| a.stopping.contains_key(name) || a.failing.contains_key(name)) {
            return Err(self.refused("resource", name, "it is being stopped"));
        }
        let history: Vec<u64> = r.restarts.iter().map(|t| t.0).collect();
        let decision = r.timings.restart.decide(&history, self.now.0);
        self.agent(&node).failing.insert(name.to_string(), decision);
        self.report(&node, name, ResourceState::Failing, None, false, None);
        Ok(())
    }

    /// The next report or stop confirmation of `what` is lost.
    pub(super) fn arm_loss(&mut self, what: &Loss) -> Result<(), SimError> {
        match what {
            Loss::Report(r) if self.db.resources.contains_key(r) => {
                *self.faults.reports.entry(r.clone()).or_default() += 1;
            }
            Loss::Stop(g) if self.db.groups.contains_key(g) => {
                *self.faults.stops.entry(g.clone()).or_default() += 1;
            }
            Loss::Report(r) => {
                return Err(self.rejected(ApplyError::NotFound {
                    kind: "resource",
                    name: r.clone(),
                }));
            }
            Loss::Stop(g) => {
                return Err(self.rejected(ApplyError::NotFound {
                    kind: "group",
                    name: g.clone(),
                }));
            }
        }
        Ok(())
    }

    fn refused(&self, kind: &str, name: &str, reason: &str) -> SimError {
        self.rejected(ApplyError::Refused {
            subject: format!("{kind} {name:?}"),
            reason: reason.into(),
        })
    }

    /// Queues a report on `resource` under the epoch its agent follows (none: nothing to report
    /// it under).
    fn report(
        &mut self,
        node: &str,
        resource: &str,
        state: ResourceState,
        restart: Option<RestartCount>,
        gave_up: bool,
        message: Option<String>,
    ) {
        let Some(epoch) = self.agent(node).epoch_of(resource) else {
            return;
        };
        let op = Op::ReportResource {
            node: node.into(),
            resource: resource.into(),
            epoch,
            state,
            restart,
            gave_up,
            message,
            reported_at: None,
            mark: None,
        };
        self.outgoing.push(Outgoing {
            node: node.into(),
            op,
        });
    }

    /// Delivers what the agents queued at this instant (module docs); true if there was any.
    pub(super) fn deliver(&mut self) -> Result<bool, SimError> {
        let queued = std::mem::take(&mut self.outgoing);
        if queued.is_empty() {
            return Ok(false);
        }
        let mut kept: Vec<&Outgoing> = Vec::new();
        for (i, o) in queued.iter().enumerate() {
            let superseded = passing(&o.op)
                && queued[i + 1..].iter().any(|later| {
                    later.node == o.node && resource_of(&later.op) == resource_of(&o.op)
                });
            if !superseded {
                kept.push(o);
            }
        }
        for o in kept {
            match self.agents.get_mut(&o.node) {
                Some(a) if a.cut.is_some() => a.outbox.push(o.op.clone()),
                _ => self.send(&o.node, o.op.clone())?,
            }
        }
        Ok(true)
    }

    /// Sends one report or confirmation to the leader, which may lose it; one about a placement
    /// or move that is no longer current is history, dropped as the leader drops it.
    fn send(&mut self, node: &str, op: Op) -> Result<(), SimError> {
        if self.faults.lost(&op) {
            return Ok(());
        }
        match self.apply(Command::agent(self.now, node, op)) {
            Err(SimError::Rejected {
                source: ApplyError::Stale { .. } | ApplyError::StaleStop { .. },
                ..
            }) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// Whether `op` reports a state a resource passes through (Stopping, Failing, or Failed on the
/// way to a restart) rather than one it rests in.
fn passing(op: &Op) -> bool {
    match op {
        Op::ReportResource { state, gave_up, .. } => matches!(
            (state, gave_up),
            (ResourceState::OfflinePending | ResourceState::Failing, _)
                | (ResourceState::Failed, false)
        ),
        _ => false,
    }
}

fn resource_of(op: &Op) -> Option<&str> {
    match op {
        Op::ReportResource { resource, .. } => Some(resource),
        _ => None,
    }
}
