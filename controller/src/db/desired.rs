//! The desired state of one node (the agent contract's `DesiredNode`), computed from the
//! database alone.
//! The leader streams it to each agent with the epoch; the simulator follows it too.

use std::collections::BTreeMap;

use nonstop_contract::{DesiredGroup, DesiredNode, DesiredResource, HandlerRef};

use super::ClusterDb;
use super::model::{Group, Target};

impl ClusterDb {
    /// What `node` must run now.
    pub fn desired_for(&self, node: &str) -> DesiredNode {
        self.desired_of(node, self.groups_on(node))
    }

    /// What every node of the cluster must run now, in one pass over the groups (the leader
    /// publishes it after each batch of applied commands).
    pub fn desired_all(&self) -> BTreeMap<String, DesiredNode> {
        let mut owned: BTreeMap<&str, Vec<&Group>> = self
            .nodes
            .keys()
            .map(|n| (n.as_str(), Vec::new()))
            .collect();
        for g in self.groups.values() {
            if let Some(owner) = g.owner.as_deref() {
                owned.entry(owner).or_default().push(g);
            }
        }
        owned
            .into_iter()
            .map(|(node, groups)| (node.to_string(), self.desired_of(node, groups.into_iter())))
            .collect()
    }

    fn desired_of<'a>(
        &'a self,
        node: &str,
        groups: impl Iterator<Item = &'a Group>,
    ) -> DesiredNode {
        let groups: Vec<DesiredGroup> = groups
            .map(|g| DesiredGroup {
                name: g.spec.name.clone(),
                epoch: g.epoch,
                resources: self.desired_resources(g, node),
                stop: g.moving.as_ref().filter(|m| !m.stopped).map(|m| m.stop),
            })
            .collect();
        let mut used: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.resources.iter().map(|r| r.type_name.as_str()))
            .collect();
        used.sort_unstable();
        used.dedup();
        let types = used
            .iter()
            .filter_map(|t| self.type_for_running(t).cloned())
            .collect();
        DesiredNode {
            epoch: groups.iter().map(|g| g.epoch).max().unwrap_or(0),
            groups,
            types,
            ..DesiredNode::nothing(node)
        }
    }

    /// Whether a group should be running on its owner: wanted online, not moving, not held.
    pub fn group_wanted_online(&self, g: &Group) -> bool {
        g.owner.is_some() && g.target == Target::Online && g.moving.is_none() && g.held.is_none()
    }

    /// The group's resources as `node` is told to run them.
    pub fn desired_for_group(&self, g: &Group, node: &str) -> Vec<DesiredResource> {
        self.desired_resources(g, node)
    }

    /// The group's resources as `node` runs them (with its own property values).
    fn desired_resources(&self, g: &Group, node: &str) -> Vec<DesiredResource> {
        let group_on = self.group_wanted_online(g);
        let mut out: Vec<DesiredResource> = Vec::new();
        for name in self.online_order(&g.spec.name) {
            let r = &self.resources[&name];
            // A resource runs only when all it depends on runs: online order puts them first.
            let deps_on = r
                .spec
                .depends_on
                .iter()
                .all(|d| out.iter().any(|o| &o.name == d && o.online));
            let handler = (self.type_for_running(&r.spec.type_name)).map(|t| t.handler.clone());
            out.push(DesiredResource {
                name,
                type_name: r.spec.type_name.clone(),
                handler: handler.unwrap_or(HandlerRef::Builtin(r.spec.type_name.clone())),
                properties: r.spec.properties_on(node),
                timings: r.timings,
                depends_on: r.spec.depends_on.clone(),
                online: group_on && r.target == Target::Online && deps_on,
            });
        }
        out
    }

    /// The group's resources with every dependency before its dependents (ties by name). Offline
    /// order is the reverse.
    pub fn online_order(&self, group: &str) -> Vec<String> {
        let mut pending: Vec<&super::model::Resource> = self.group_resources(group).collect();
        let mut order: Vec<String> = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let before = pending.len();
            let mut i = 0;
            while i < pending.len() {
                if pending[i].spec.depends_on.iter().all(|d| order.contains(d)) {
                    order.push(pending.remove(i).spec.name.clone());
                } else {
                    i += 1;
                }
            }
            if pending.len() == before {
                // apply rejects cycles, so this is unreachable; never loop forever regardless.
                order.extend(pending.drain(..).map(|r| r.spec.name.clone()));
            }
        }
        order
    }

    /// The group's resources with every dependent before what it depends on.
    pub fn offline_order(&self, group: &str) -> Vec<String> {
        let mut v = self.online_order(group);
        v.reverse();
        v
    }
}
