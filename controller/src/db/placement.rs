//! Where a group may run: the owner-list rules shared by `apply` (operator moves) and `plan`
//! (automatic placement).

use super::ClusterDb;
use super::model::{Group, Liveness, ResourceState};
use crate::time::Time;
use nonstop_contract::Millis;

impl ClusterDb {
    /// Whether `node` may take group `g` without an operator naming it: it is an owner, Up, not
    /// paused, not a witness, allowed by AUTOBACKUP (the home node always is), and the group has
    /// not failed there within its fail-over window.
    pub fn may_take(&self, g: &Group, node: &str, now: Time) -> bool {
        let (Some(n), Some(rank)) = (self.nodes.get(node), g.rank(node)) else {
            return false;
        };
        n.can_host() && (rank == 0 || n.spec.autobackup) && !self.failed_recently(g, node, now)
    }

    /// Whether the group failed on `node` within its fail-over window.
    pub fn failed_recently(&self, g: &Group, node: &str, now: Time) -> bool {
        g.failed_on
            .get(node)
            .is_some_and(|t| now.since(*t) < g.spec.failover_limit.window)
    }

    /// The first owner, by priority, that may take the group now.
    pub fn best_owner<'a>(&self, g: &'a Group, now: Time) -> Option<&'a str> {
        g.spec
            .owners
            .iter()
            .map(String::as_str)
            .find(|n| self.may_take(g, n, now))
    }

    /// Whether the group may be placed elsewhere now, because nothing of it can still run on
    /// its owner (docs/design.md, "A group never runs on two nodes"):
    /// - it has no owner;
    /// - its owner is Down (its lease has provably run out, and what it ran was terminated
    ///   within the profile's `terminate` budget) and, for resources whose stop cannot be forced
    ///   within that budget, their longer stop bound has passed since ([`Self::stop_wait`]);
    ///   with `fencing: required`, also fenced for this loss ([`Self::fenced_enough`]); or its
    ///   watchdog confirmed that everything it ran is stopped (`Op::NodeStopped`: Down and
    ///   fenced at once, with no stop bound left to wait for);
    /// - or it is moving and its owner's agent confirmed, for this very move, that every
    ///   resource is stopped (`Op::GroupStopped`). Resource states alone never free a group:
    ///   a report of Failed or Offline is not a confirmation.
    pub fn group_stopped(&self, g: &Group, now: Time) -> bool {
        let Some(owner) = &g.owner else { return true };
        match self.nodes.get(owner) {
            // Removal of a node that owns a group is refused; one that is gone runs nothing.
            None => true,
            Some(n) if n.liveness == Liveness::Down => {
                (n.stop_confirmed || now >= n.since.plus(self.stop_wait(g)))
                    && self.fenced_enough(owner)
            }
            Some(_) => g.moving.as_ref().is_some_and(|m| m.stopped),
        }
    }

    /// How much longer than the timing profile's `terminate` budget a node that lost its lease
    /// may take to stop the group: the longest stop bound among its resources' types beyond the
    /// budget (zero when every type's stop can be forced).
    pub fn stop_wait(&self, g: &Group) -> Millis {
        let budget = self.settings.timing.terminate;
        self.group_resources(&g.spec.name)
            .filter_map(|r| self.type_for_running(&r.spec.type_name))
            .map(|t| t.stop.beyond(budget))
            .max()
            .unwrap_or_default()
    }

    /// Whether any resource of the group is Failed and its agent gave up restarting it.
    pub fn group_gave_up(&self, g: &Group) -> bool {
        self.group_resources(&g.spec.name)
            .any(|r| r.state == ResourceState::Failed && r.gave_up)
    }
}
