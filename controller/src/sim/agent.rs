//! Model agents: each Up node takes its resources toward its desired state in dependency order
//! and reports every transition, as a real agent would, but at once.

use nonstop_resource_types::{ResourceState, RestartDecision};

use super::{SimError, Simulator};
use crate::db::model::Liveness;
use crate::db::{ApplyError, Command, Op, RestartCount};

impl Simulator {
    /// Every Up node's agent acts; true if any did something.
    pub(super) fn agents_act(&mut self) -> Result<bool, SimError> {
        let up: Vec<String> = self
            .db
            .nodes
            .values()
            .filter(|n| n.liveness == Liveness::Up)
            .map(|n| n.spec.name.clone())
            .collect();
        let mut acted = false;
        for node in up {
            acted |= self.agent_step(&node)?;
        }
        Ok(acted)
    }

    /// Stops what must stop (dependents first), then starts what may start (dependencies
    /// first), one pass over the node's desired state.
    fn agent_step(&mut self, node: &str) -> Result<bool, SimError> {
        let desired = self.db.desired_for(node);
        let mut acted = false;
        // Anything running that is no longer this node's to run (its group moved while the node
        // was away) is simply stopped: there is no placement left to report it under.
        let wanted: Vec<&str> = desired
            .groups
            .iter()
            .flat_map(|g| g.resources.iter().map(|r| r.name.as_str()))
            .collect();
        let running = self.running.entry(node.to_string()).or_default();
        let before = running.len();
        running.retain(|r| wanted.contains(&r.as_str()));
        acted |= running.len() != before;
        for g in &desired.groups {
            for r in g.resources.iter().rev() {
                if !r.online && self.is_running(node, &r.name) {
                    self.set_running(node, &r.name, false);
                    self.report(node, &r.name, g.epoch, ResourceState::Offline, None, false)?;
                    acted = true;
                }
            }
            for r in &g.resources {
                let deps_up = r.depends_on.iter().all(|d| self.is_running(node, d));
                let given_up = self.db.resources.get(&r.name).is_some_and(|x| x.gave_up);
                if r.online && deps_up && !given_up && !self.is_running(node, &r.name) {
                    self.set_running(node, &r.name, true);
                    self.report(node, &r.name, g.epoch, ResourceState::Online, None, false)?;
                    acted = true;
                }
            }
            // Told to stop for a move, with nothing of the group running: confirm it.
            if let Some(stop) = g.stop
                && !g.resources.iter().any(|r| self.is_running(node, &r.name))
            {
                let op = Op::GroupStopped {
                    node: node.into(),
                    group: g.name.clone(),
                    epoch: g.epoch,
                    stop,
                };
                self.apply(Command::agent(self.now, node, op))?;
                acted = true;
            }
        }
        Ok(acted)
    }

    /// A resource fails on its owner: its dependents stop first, then the shared restart rule
    /// decides between a restart in place and giving up.
    pub(super) fn fail_resource(&mut self, name: &str) -> Result<(), SimError> {
        let not_running = |reason: String| SimError::Rejected {
            step: self.step.clone(),
            source: ApplyError::Refused {
                subject: format!("resource {name:?}"),
                reason,
            },
        };
        let r = self
            .db
            .resources
            .get(name)
            .ok_or_else(|| not_running("no such resource".into()))?;
        let g = &self.db.groups[&r.spec.group];
        let (node, epoch) = match &g.owner {
            Some(n) if self.is_running(n, name) => (n.clone(), g.epoch),
            _ => return Err(not_running("it is not running anywhere".into())),
        };
        let history: Vec<u64> = r.restarts.iter().map(|t| t.0).collect();
        let decision = r.timings.restart.decide(&history, self.now.0);
        for dep in self.db.offline_order(&r.spec.group) {
            if dep != name && self.depends_on(&dep, name) && self.is_running(&node, &dep) {
                self.set_running(&node, &dep, false);
                self.report(&node, &dep, epoch, ResourceState::Offline, None, false)?;
            }
        }
        self.set_running(&node, name, false);
        match decision {
            RestartDecision::Restart { attempt, limit, .. } => {
                self.set_running(&node, name, true);
                let count = RestartCount { attempt, limit };
                self.report(
                    &node,
                    name,
                    epoch,
                    ResourceState::Online,
                    Some(count),
                    false,
                )
            }
            RestartDecision::GiveUp { .. } => {
                self.report(&node, name, epoch, ResourceState::Failed, None, true)
            }
        }
    }

    /// Whether `a` depends on `b`, directly or through others.
    fn depends_on(&self, a: &str, b: &str) -> bool {
        let mut stack = vec![a.to_string()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x.clone()) {
                continue;
            }
            if let Some(r) = self.db.resources.get(&x) {
                if r.spec.depends_on.iter().any(|d| d == b) {
                    return true;
                }
                stack.extend(r.spec.depends_on.iter().cloned());
            }
        }
        false
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

    fn report(
        &mut self,
        node: &str,
        resource: &str,
        epoch: u64,
        state: ResourceState,
        restart: Option<RestartCount>,
        gave_up: bool,
    ) -> Result<(), SimError> {
        let message = gave_up.then(|| "restart limit reached".to_string());
        let op = Op::ReportResource {
            node: node.into(),
            resource: resource.into(),
            epoch,
            state,
            restart,
            gave_up,
            message,
            reported_at: None,
        };
        self.apply(Command::agent(self.now, node, op)).map(|_| ())
    }
}
