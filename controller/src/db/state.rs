//! A group's state, derived from its resources' states so that the two can never disagree.

use super::ClusterDb;
use super::model::{Group, GroupState, ResourceState as R, Target};

impl ClusterDb {
    /// The state of a group as operators see it.
    pub fn group_state(&self, g: &Group) -> GroupState {
        if g.held.is_some() || self.group_gave_up(g) {
            return GroupState::Failed;
        }
        let states: Vec<(R, Target)> = self
            .group_resources(&g.spec.name)
            .map(|r| (r.state, r.target))
            .collect();
        let any = |s: R| states.iter().any(|(x, _)| *x == s);
        if g.owner.is_none() || states.is_empty() {
            let placed = g.owner.is_some() && g.target == Target::Online && g.moving.is_none();
            return if placed {
                GroupState::Online
            } else {
                GroupState::Offline
            };
        }
        if any(R::OnlinePending) {
            return GroupState::OnlinePending;
        }
        if any(R::OfflinePending) {
            return GroupState::OfflinePending;
        }
        if any(R::Failed) || any(R::Failing) {
            return GroupState::Failed;
        }
        let online = states.iter().filter(|(s, _)| *s == R::Online).count();
        // A resource its node is told to run that is not online yet is on its way, not offline
        // by intent.
        let waiting = g.owner.as_deref().is_some_and(|owner| {
            self.desired_for_group(g, owner).iter().any(|d| {
                d.online
                    && self
                        .resources
                        .get(&d.name)
                        .is_some_and(|r| r.state != R::Online)
            })
        });
        if waiting {
            GroupState::OnlinePending
        } else if online == 0 {
            GroupState::Offline
        } else if online == states.len() {
            GroupState::Online
        } else {
            GroupState::PartialOnline
        }
    }
}
