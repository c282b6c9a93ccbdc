//! Applying what happens while the cluster runs: nodes coming and going, operator intent,
//! placement decisions and agents' reports. Every check runs before anything changes.

use super::ClusterDb;
use super::command::{ReportMark, RestartCount};
use super::error::{ApplyError, Result, invalid, not_found, refused, subject, unknown};
use super::event::EventKind;
use super::model::*;
use crate::time::Time;
use nonstop_contract::Millis;

/// An agent's report on one resource (the fields of `Op::ReportResource`).
pub(super) struct Report {
    pub node: String,
    pub resource: String,
    pub epoch: u64,
    pub state: ResourceState,
    pub restart: Option<RestartCount>,
    pub gave_up: bool,
    pub message: Option<String>,
    pub reported_at: Option<Time>,
}

impl ClusterDb {
    pub(super) fn node_mut(&mut self, name: &str) -> Result<&mut Node> {
        self.nodes
            .get_mut(name)
            .ok_or_else(|| not_found("node", name))
    }

    fn group_ref(&self, name: &str) -> Result<&Group> {
        self.groups
            .get(name)
            .ok_or_else(|| not_found("group", name))
    }

    /// Sets a node's liveness and reports the change of the state operators see.
    fn set_node(
        &mut self,
        at: Time,
        name: &str,
        f: impl FnOnce(&mut Node),
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let n = self.node_mut(name)?;
        let (from, live) = (n.state(), n.liveness);
        f(n);
        if n.liveness != live {
            n.since = at;
            n.stop_confirmed = false;
        }
        let to = n.state();
        if from != to {
            out.push(EventKind::NodeState {
                node: name.to_string(),
                from,
                to,
            });
        }
        Ok(())
    }

    pub(super) fn node_up(&mut self, at: Time, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        if self.node_mut(name)?.evicted {
            return Err(refused(
                subject("node", name),
                "it was evicted: resume it first",
            ));
        }
        self.set_node(at, name, |n| n.liveness = Liveness::Up, out)?;
        self.fence_on_up(name, out);
        // The startup grace counts from the first node that can run something, not from a
        // witness (whose member is Up as soon as raft runs).
        if !self.node_mut(name)?.spec.witness {
            self.formed_at.get_or_insert(at);
        }
        Ok(())
    }

    pub(super) fn node_down(
        &mut self,
        at: Time,
        name: &str,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let was_down = self.node_mut(name)?.liveness == Liveness::Down;
        self.set_node(at, name, |n| n.liveness = Liveness::Down, out)?;
        if !was_down {
            self.fence_on_down(at, name, out);
        }
        Ok(())
    }

    /// Records the daemon run that `name`'s agent registered for.
    pub(super) fn registered(
        &mut self,
        name: &str,
        incarnation: u64,
        daemon: String,
    ) -> Result<()> {
        if incarnation == 0 {
            return Err(invalid(
                subject("node", name),
                "incarnation",
                "must not be 0".to_string(),
            ));
        }
        if !daemon.is_empty()
            && let Err(why) = nonstop_contract::check_host_port(&daemon)
        {
            return Err(invalid(subject("node", name), "address", why));
        }
        let n = self.node_mut(name)?;
        n.incarnation = incarnation;
        n.daemon_address = (!daemon.is_empty()).then_some(daemon);
        Ok(())
    }

    /// The watchdog of `name` confirmed that the daemon run `incarnation` died and that it
    /// stopped `resources` (everything that run's agent had started): the node is Down now and
    /// needs no other fencing for this loss. Only for the node's current run: the word of a
    /// watchdog whose daemon was replaced since says nothing about what the new one runs.
    pub(super) fn node_stopped(
        &mut self,
        at: Time,
        name: &str,
        incarnation: u64,
        resources: &[String],
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let n = self.node_mut(name)?;
        if incarnation == 0 || n.incarnation != incarnation {
            return Err(ApplyError::StaleIncarnation {
                node: name.to_string(),
                incarnation,
                current: n.incarnation,
            });
        }
        if n.liveness == Liveness::Down {
            // Down already (its lease ran out first): nothing is left to decide.
            return Ok(());
        }
        self.set_node(at, name, |n| n.liveness = Liveness::Down, out)?;
        let n = self.node_mut(name)?;
        n.stop_confirmed = true;
        let by = "its watchdog".to_string();
        n.fence = FenceState::Fenced {
            since: at,
            at,
            by: by.clone(),
        };
        let detail = if resources.is_empty() {
            "its daemon died; it had started nothing".to_string()
        } else {
            format!(
                "its daemon died; its watchdog stopped {}",
                resources.join(", ")
            )
        };
        out.push(EventKind::Fenced {
            node: name.to_string(),
            by,
            took: Millis(0),
            detail,
        });
        Ok(())
    }

    pub(super) fn pause_node(
        &mut self,
        name: &str,
        paused: bool,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let at = self.nodes.get(name).map(|n| n.since).unwrap_or_default();
        self.set_node(
            at,
            name,
            |n| {
                n.paused = paused;
                if !paused {
                    n.evicted = false;
                }
            },
            out,
        )
    }

    /// Evicting a node makes it Down at once, which frees its groups: a node that is not Down
    /// must own no group first (drain it: pause it and wait until its groups have moved), or the
    /// group could start elsewhere while it still runs there.
    pub(super) fn evict_node(
        &mut self,
        at: Time,
        name: &str,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let up = self.node_mut(name)?.liveness != Liveness::Down;
        if let Some(g) = self.groups_on(name).find(|_| up) {
            let why = format!(
                "it still owns group {:?}: pause it to drain it first, and evict it once its \
                 groups have moved",
                g.spec.name
            );
            return Err(refused(subject("node", name), why));
        }
        self.set_node(
            at,
            name,
            |n| {
                n.evicted = true;
                n.paused = true;
                n.liveness = Liveness::Down;
            },
            out,
        )
    }

    pub(super) fn move_group(
        &mut self,
        at: Time,
        name: &str,
        to: Option<String>,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(name)?;
        let subj = subject("group", name);
        let dest = match &to {
            Some(n) => {
                let node = self
                    .nodes
                    .get(n)
                    .ok_or_else(|| unknown(subj.clone(), "to", "node", n))?;
                if g.rank(n).is_none() {
                    let owners = g.spec.owners.join(", ");
                    return Err(invalid(
                        subj,
                        "to",
                        format!("node {n:?} is not an owner (owners: {owners})"),
                    ));
                }
                if !node.can_host() {
                    let why = if node.spec.witness {
                        "a witness".to_string()
                    } else {
                        node.state().to_string()
                    };
                    return Err(refused(
                        subj,
                        format!("node {n:?} cannot take it: it is {why}"),
                    ));
                }
                n.clone()
            }
            None => self
                .best_owner(g, at)
                .ok_or_else(|| refused(subj.clone(), "no owner can take it now"))?
                .to_string(),
        };
        let already = g.owner.as_deref() == Some(dest.as_str()) && g.moving.is_none();
        let g = self.groups.get_mut(name).expect("checked above");
        g.held = None;
        g.failed_on.remove(&dest);
        g.pinned = to.clone();
        if already {
            return Ok(());
        }
        match g.owner.clone() {
            Some(from) => {
                self.epoch += 1;
                g.moving = Some(PendingMove {
                    to: Some(dest.clone()),
                    reason: PlaceReason::Operator,
                    stop: self.epoch,
                    stopped: false,
                });
                out.push(EventKind::GroupMoving {
                    group: name.into(),
                    from,
                    to: Some(dest),
                    reason: PlaceReason::Operator,
                });
                Ok(())
            }
            None => self.place(at, name, Some(dest), PlaceReason::Operator, out),
        }
    }

    pub(super) fn set_group_target(
        &mut self,
        at: Time,
        name: &str,
        target: Target,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(name)?;
        let retry = target == Target::Online && (g.held.is_some() || self.group_gave_up(g));
        let g = self.groups.get_mut(name).expect("checked above");
        if g.target != target {
            g.target = target;
            out.push(EventKind::TargetChanged {
                subject: format!("group {name}"),
                target,
            });
        }
        if retry {
            self.clear_group(at, name, out)?;
        }
        Ok(())
    }

    pub(super) fn set_resource_target(
        &mut self,
        at: Time,
        name: &str,
        target: Target,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let r = self
            .resources
            .get_mut(name)
            .ok_or_else(|| not_found("resource", name))?;
        let retry = target == Target::Online && r.gave_up;
        if r.target != target {
            r.target = target;
            out.push(EventKind::TargetChanged {
                subject: format!("resource {name}"),
                target,
            });
        }
        if retry {
            let group = r.spec.group.clone();
            self.clear_group(at, &group, out)?;
        }
        Ok(())
    }

    /// Forgets failures; a group whose resources had given up gets a fresh epoch on the same
    /// owner, so its agent tries them again.
    pub(super) fn clear_group(
        &mut self,
        _at: Time,
        name: &str,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(name)?;
        let retry = g.owner.is_some() && self.group_gave_up(g);
        let g = self.groups.get_mut(name).expect("checked above");
        g.held = None;
        g.failovers.clear();
        g.failed_on.clear();
        if retry {
            self.epoch += 1;
            g.epoch = self.epoch;
        }
        for m in self.groups[name].resources.clone() {
            let Some(r) = self.resources.get_mut(&m) else {
                continue;
            };
            r.restarts.clear();
            if r.gave_up {
                r.gave_up = false;
                r.state = ResourceState::Offline;
            }
        }
        out.push(EventKind::GroupCleared {
            group: name.to_string(),
        });
        Ok(())
    }

    /// Places a group. Refused while the group still runs on a live owner: that is the rule that
    /// keeps a group on at most one node, enforced where every placement passes.
    pub(super) fn place(
        &mut self,
        at: Time,
        name: &str,
        node: Option<String>,
        reason: PlaceReason,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(name)?;
        let subj = subject("group", name);
        if let Some(n) = &node {
            let nd = self
                .nodes
                .get(n)
                .ok_or_else(|| unknown(subj.clone(), "node", "node", n))?;
            if g.rank(n).is_none() {
                return Err(invalid(subj, "node", format!("node {n:?} is not an owner")));
            }
            if !nd.can_host() {
                return Err(refused(
                    subj,
                    format!("node {n:?} cannot take it: it is {}", nd.state()),
                ));
            }
        }
        if !self.group_stopped(g, at) {
            let owner = g.owner.as_deref().unwrap_or("-");
            return Err(refused(
                subj,
                format!(
                    "it may still run on {owner:?}: its agent must confirm the stop first (or \
                     the node be Down past its stop bound)"
                ),
            ));
        }
        let g = self.groups.get_mut(name).expect("checked above");
        let from = g.owner.clone();
        if matches!(reason, PlaceReason::NodeDown | PlaceReason::ResourceFailed) {
            g.failovers.push(at);
        }
        if reason != PlaceReason::Operator || g.pinned != node {
            g.pinned = None;
        }
        self.epoch += 1;
        g.epoch = self.epoch;
        g.owner = node.clone();
        g.moving = None;
        g.started |= node.is_some();
        for m in self.groups[name].resources.clone() {
            let Some(r) = self.resources.get_mut(&m) else {
                continue;
            };
            r.state = ResourceState::Offline;
            r.since = at;
            r.restarts.clear();
            r.gave_up = false;
            r.message = None;
        }
        out.push(EventKind::GroupPlaced {
            group: name.into(),
            from,
            to: node,
            epoch: self.epoch,
            reason,
        });
        Ok(())
    }

    pub(super) fn begin_move(
        &mut self,
        at: Time,
        name: &str,
        to: Option<String>,
        reason: PlaceReason,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(name)?;
        let subj = subject("group", name);
        let Some(from) = g.owner.clone() else {
            return Err(refused(subj, "it is not placed: place it instead"));
        };
        if let Some(n) = &to {
            if g.rank(n).is_none() {
                return Err(invalid(subj, "to", format!("node {n:?} is not an owner")));
            }
            if Some(n) == g.owner.as_ref() {
                return Err(invalid(subj, "to", format!("it already runs on {n:?}")));
            }
        }
        self.epoch += 1;
        let stop = self.epoch;
        let g = self.groups.get_mut(name).expect("checked above");
        if reason == PlaceReason::ResourceFailed {
            g.failed_on.insert(from.clone(), at);
        }
        g.moving = Some(PendingMove {
            to: to.clone(),
            reason,
            stop,
            stopped: false,
        });
        out.push(EventKind::GroupMoving {
            group: name.into(),
            from,
            to,
            reason,
        });
        Ok(())
    }

    pub(super) fn hold_group(
        &mut self,
        name: &str,
        reason: String,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        self.group_ref(name)?;
        let g = self.groups.get_mut(name).expect("checked above");
        g.held = Some(reason.clone());
        g.moving = None;
        out.push(EventKind::GroupHeld {
            group: name.into(),
            reason,
        });
        Ok(())
    }

    /// The owner's agent confirms that the group is stopped for the move numbered `stop`.
    /// Anything else (another node, another placement, another move, no move) is stale.
    pub(super) fn group_stopped_on(
        &mut self,
        node: &str,
        group: &str,
        epoch: u64,
        stop: u64,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let g = self.group_ref(group)?;
        let current = g.moving.as_ref().map(|m| m.stop);
        if g.owner.as_deref() != Some(node) || g.epoch != epoch || current != Some(stop) {
            return Err(super::ApplyError::StaleStop {
                group: group.to_string(),
                node: node.to_string(),
                stop,
                current,
            });
        }
        let g = self.groups.get_mut(group).expect("checked above");
        if let Some(m) = g.moving.as_mut()
            && !m.stopped
        {
            m.stopped = true;
            out.push(EventKind::GroupStopped {
                group: group.to_string(),
                node: node.to_string(),
            });
        }
        Ok(())
    }

    /// Applies an agent's report `f` once: a report its agent's run sent before (a batch sent
    /// again after a timeout) is refused, and the mark of one applied is kept on the node.
    pub(super) fn numbered(
        &mut self,
        node: &str,
        mark: Option<ReportMark>,
        f: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let last = self.nodes.get(node).and_then(|n| n.last_report);
        if let Some(m) = mark.filter(|m| m.seen_by(last)) {
            return Err(super::ApplyError::Duplicate {
                node: node.to_string(),
                incarnation: m.incarnation,
                seq: m.seq,
                last: last.map_or(0, |l| l.seq),
            });
        }
        f(self)?;
        if let (Some(m), Some(n)) = (mark, self.nodes.get_mut(node)) {
            n.last_report = Some(m);
        }
        Ok(())
    }

    pub(super) fn report_resource(
        &mut self,
        at: Time,
        rep: Report,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let subj = subject("resource", &rep.resource);
        if !self.nodes.contains_key(&rep.node) {
            return Err(unknown(subj, "node", "node", &rep.node));
        }
        let r = self
            .resources
            .get(&rep.resource)
            .ok_or_else(|| not_found("resource", &rep.resource))?;
        let g = self.group_ref(&r.spec.group)?;
        if g.owner.as_deref() != Some(rep.node.as_str()) || g.epoch != rep.epoch {
            return Err(super::ApplyError::Stale {
                resource: rep.resource,
                node: rep.node,
                epoch: rep.epoch,
                current: g.epoch,
            });
        }
        let window = r.timings.restart.window;
        let r = self
            .resources
            .get_mut(&rep.resource)
            .expect("checked above");
        let from = r.state;
        // A new message on an unchanged state is news too (a change applied in place).
        let unchanged = from == rep.state
            && rep.restart.is_none()
            && r.gave_up == rep.gave_up
            && (rep.message.is_none() || rep.message == r.message);
        r.state = rep.state;
        r.since = at;
        r.gave_up = rep.gave_up;
        if rep.message.is_some() {
            r.message = rep.message.clone();
        }
        if rep.restart.is_some() {
            r.restarts.push(at);
        }
        if !unchanged {
            out.push(EventKind::ResourceState {
                resource: rep.resource,
                group: r.spec.group.clone(),
                node: rep.node,
                from,
                to: rep.state,
                restart: rep.restart,
                window,
                gave_up: rep.gave_up,
                message: rep.message,
                reported_at: rep.reported_at,
            });
        }
        Ok(())
    }
}
