//! Where a group may run: the owner-list rules shared by `apply` (operator moves) and `plan`
//! (automatic placement).

use super::ClusterDb;
use super::model::{Group, ResourceState};
use crate::time::Time;

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

    /// Whether nothing of the group runs on its owner any more (or it has no owner, or the
    /// owner is Down and so has fenced itself): it is safe to place it elsewhere.
    pub fn group_stopped(&self, g: &Group) -> bool {
        let Some(owner) = &g.owner else { return true };
        let owner_down = self
            .nodes
            .get(owner)
            .is_none_or(|n| n.liveness == super::model::Liveness::Down);
        owner_down
            || self
                .group_resources(&g.spec.name)
                .all(|r| r.state.is_stopped())
    }

    /// Whether any resource of the group is Failed and its agent gave up restarting it.
    pub fn group_gave_up(&self, g: &Group) -> bool {
        self.group_resources(&g.spec.name)
            .any(|r| r.state == ResourceState::Failed && r.gave_up)
    }
}
