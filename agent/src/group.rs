//! One task per group: it owns the group's resources and drives them toward the group's desired
//! state, one entry point at a time, in dependency order. Groups are independent, so each runs
//! in its own task and a slow `online` in one never delays another.
//!
//! ```text
//!   agent loop ──GroupCmd::Desired/Remove/Stop──▶ group task ──▶ handler instances
//!   lease watch ─(false: terminate everything)──▶     │ ◀── pushed failures (FailureSink)
//!                                                     └──▶ reports, state file
//! ```
//!
//! The loop: bring the resources to where they should be (`reconcile`), then wait for the first
//! of: the lease running out, a command, a pushed failure, or the next check or restart time.

use std::collections::HashSet;
use std::sync::Arc;

use nonstop_contract::{DesiredGroup, ResourceState};
use nonstop_resource_types::handler::Failure;
use tokio::sync::{mpsc, oneshot, watch};

use crate::event::AgentEvent;
use crate::runtime::Shared;
use crate::slot::Slot;

/// What the agent loop tells a group task.
#[derive(Debug)]
pub enum GroupCmd {
    /// Follow this desired state (ignored when its epoch is older than one seen).
    Desired(DesiredGroup),
    /// The group is no longer on this node: take everything offline and forget it.
    Remove,
    /// The agent is stopping: take everything offline, then answer and end.
    Stop(oneshot::Sender<()>),
}

/// The lease ran out in the middle of something: the caller must fence.
#[derive(Debug)]
pub struct Fenced;

/// A group task's state.
#[derive(Debug)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// The placement epoch followed (0: none yet).
    pub epoch: u64,
    /// The group left this node: only a strictly newer epoch brings it back.
    pub removed: bool,
    /// Its resources, in online order.
    pub slots: Vec<Slot>,
    /// Terminated because the lease ran out; waits for a fresh desired state.
    pub fenced: bool,
    /// What every task shares.
    pub shared: Arc<Shared>,
    /// Whether the lease is valid.
    pub lease: watch::Receiver<bool>,
    /// When the lease runs out. Checked against the clock as well as `lease`: a daemon that
    /// resumes after a stop may run this task before the agent loop notices the expiry.
    pub until: watch::Receiver<Option<tokio::time::Instant>>,
    /// Where handlers push failures (cloned into each instance's sink).
    pub failures_tx: mpsc::UnboundedSender<Failure>,
    /// Resources of unknown type already reported at this epoch (reported once, not on every
    /// desired state).
    pub unknown: HashSet<String>,
    /// The group is moving away: the leader waits for the confirmation of this stop.
    pub stop: Option<u64>,
    /// The last stop confirmed.
    pub confirmed: Option<u64>,
}

impl Group {
    /// Runs the task until it is told to stop or the agent goes away.
    pub async fn run(
        shared: Arc<Shared>,
        name: String,
        (lease, until): (
            watch::Receiver<bool>,
            watch::Receiver<Option<tokio::time::Instant>>,
        ),
        mut cmds: mpsc::UnboundedReceiver<GroupCmd>,
    ) {
        let (failures_tx, mut failures) = mpsc::unbounded_channel();
        let mut g = Group::new(shared, name, lease, failures_tx);
        g.until = until;
        loop {
            if g.reconcile().await.is_err() {
                g.fence().await;
            }
            g.confirm_stop();
            let wake = g.next_wake();
            tokio::select! {
                biased;
                held = wait_lost(&mut g.lease), if !g.fenced => {
                    if !held { return; }
                    g.fence().await;
                }
                cmd = cmds.recv() => match cmd {
                    Some(GroupCmd::Desired(d)) => g.accept(d).await,
                    Some(GroupCmd::Remove) => g.retire_all().await,
                    Some(GroupCmd::Stop(done)) => {
                        g.retire_all().await;
                        let _ = done.send(());
                        return;
                    }
                    None => { g.retire_all().await; return; }
                },
                Some(f) = failures.recv() => g.on_pushed_failure(f).await,
                _ = tokio::time::sleep_until(wake) => g.run_due_checks().await,
            }
        }
    }

    fn new(
        shared: Arc<Shared>,
        name: String,
        lease: watch::Receiver<bool>,
        failures_tx: mpsc::UnboundedSender<Failure>,
    ) -> Self {
        Group {
            name,
            epoch: 0,
            removed: false,
            slots: Vec::new(),
            fenced: false,
            shared,
            lease,
            until: watch::channel(None).1,
            failures_tx,
            unknown: HashSet::new(),
            stop: None,
            confirmed: None,
        }
    }

    /// When the loop must wake up next for a check or a restart (far away when nothing is due;
    /// every few seconds while a resource waits for a leftover of an earlier run to be undone).
    fn next_wake(&self) -> tokio::time::Instant {
        let clock = self.shared.clock;
        let now = clock.now_ms();
        let blocked = self.slots.iter().any(|s| self.shared.is_unclean(s.name()));
        let far = now + if blocked { 1_000 } else { 3_600_000 };
        let ms = self
            .slots
            .iter()
            .filter_map(Slot::next_wake)
            .min()
            .unwrap_or(far)
            .min(far);
        clock.instant(ms)
    }

    /// Confirms the stop the leader waits for, once every resource of the group is stopped and
    /// leaves nothing on the machine (a Failing one, or a leftover not undone, holds it back).
    fn confirm_stop(&mut self) {
        let Some(stop) = self.stop else { return };
        if self.confirmed == Some(stop) {
            return;
        }
        let stopped = self.slots.iter().all(|s| {
            s.state.is_stopped()
                && !self.shared.is_unclean(s.name())
                && s.instance.as_ref().is_none_or(|x| x.footprint().is_empty())
        });
        if stopped {
            self.shared
                .reporter
                .group_stopped(&self.name, self.epoch, stop);
            self.confirmed = Some(stop);
        }
    }

    /// Whether the group may act on its desired state: the lease holds and it was not fenced
    /// since the last desired state.
    fn may_act(&self) -> bool {
        !self.fenced && self.lease_holds()
    }

    /// Whether the lease is valid and, by the clock, not yet over.
    fn lease_holds(&self) -> bool {
        let now = tokio::time::Instant::now();
        *self.lease.borrow() && self.until.borrow().is_some_and(|end| now < end)
    }

    /// Follows `d` unless it is older than the epoch already seen.
    async fn accept(&mut self, d: DesiredGroup) {
        let stale = d.epoch < self.epoch || (self.removed && d.epoch <= self.epoch);
        if stale || !self.lease_holds() {
            tracing::warn!(group = %self.name, epoch = d.epoch, seen = self.epoch, "ignored");
            self.shared.event(AgentEvent::DesiredIgnored {
                group: self.name.clone(),
                epoch: d.epoch,
                seen: self.epoch,
            });
            return;
        }
        if d.epoch > self.epoch {
            // A new placement here starts afresh: failures and give-ups are forgotten.
            self.slots.iter_mut().for_each(Slot::forget_failures);
            self.unknown.clear();
        }
        // A loss this task has not seen yet (lost and regained since it last looked) fences
        // first; then the lease as it is now counts as seen.
        if !self.fenced && self.lease.has_changed().unwrap_or(true) {
            self.fence().await;
        }
        self.lease.borrow_and_update();
        self.epoch = d.epoch;
        self.removed = false;
        self.fenced = false;
        self.stop = d.stop;
        self.replace_resources(d).await;
        self.shared.event(AgentEvent::DesiredApplied {
            group: self.name.clone(),
            epoch: self.epoch,
        });
    }

    /// Swaps in the resources of `d`: resources gone or redefined are taken offline first (their
    /// dependents before them), property changes that need no restart are applied in place,
    /// the rest are updated in place, new ones are added, all in `d`'s online order.
    async fn replace_resources(&mut self, d: DesiredGroup) {
        let mut wanted: Vec<_> = d.resources;
        self.reconfigure_in_place(&wanted).await;
        for slot in &mut self.slots {
            match wanted.iter().find(|w| w.name == slot.spec.name) {
                Some(w) if slot.same_definition(w) => slot.spec = w.clone(),
                _ => slot.spec.online = false,
            }
        }
        let retiring: HashSet<String> = self
            .slots
            .iter()
            .filter(|s| {
                !wanted
                    .iter()
                    .any(|w| w.name == s.spec.name && s.same_definition(w))
            })
            .map(|s| s.spec.name.clone())
            .collect();
        if !retiring.is_empty() {
            if self.offline_pass().await.is_err() {
                self.fence().await;
            }
            self.close_where(|s| retiring.contains(s.name())).await;
        }
        let mut kept = std::mem::take(&mut self.slots);
        for spec in wanted.drain(..) {
            match kept.iter().position(|s| s.spec.name == spec.name) {
                Some(i) => self.slots.push(kept.swap_remove(i)),
                None => match self.shared.handler_for(&spec) {
                    Some(h) => self.slots.push(Slot::new(spec, h)),
                    None if self.unknown.insert(spec.name.clone()) => {
                        self.report_unknown_type(&spec)
                    }
                    None => {}
                },
            }
        }
    }

    /// Applies property changes that need no restart (by the type's schema,
    /// `TypeDef::restart_needed_for`) through the instance's `reconfigure`; a slot whose
    /// instance takes them gets the new properties, and so keeps running. Others are left to
    /// be restarted.
    async fn reconfigure_in_place(&mut self, wanted: &[nonstop_contract::DesiredResource]) {
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            let Some(w) = wanted.iter().find(|w| w.name == slot.spec.name) else {
                continue;
            };
            let same_type = slot.spec.type_name == w.type_name && slot.spec.handler == w.handler;
            if !same_type || slot.spec.properties == w.properties {
                continue;
            }
            let def = slot.handler.def();
            if !def
                .restart_needed_for(&slot.spec.properties, &w.properties)
                .is_empty()
            {
                continue;
            }
            let changed: Vec<String> = w
                .properties
                .iter()
                .filter(|(k, v)| slot.spec.properties.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            let applied = match self.slots[i].instance.as_mut() {
                // Not opened yet: it opens with the new values.
                None => true,
                Some(instance) => matches!(
                    instance.reconfigure(&w.properties).await,
                    Ok(nonstop_resource_types::Reconfigured::Applied)
                ),
            };
            if !applied {
                continue;
            }
            self.slots[i].spec.properties = w.properties.clone();
            if self.slots[i].state == ResourceState::Online {
                let t = crate::report::Transition {
                    state: ResourceState::Online,
                    message: Some(format!("changed in place: {}", changed.join(", "))),
                    ..Default::default()
                };
                let name = self.slots[i].spec.name.clone();
                self.shared
                    .reporter
                    .report(&self.name, self.epoch, &name, t);
            }
        }
    }

    /// Takes every resource offline and forgets them (the group left, or the agent stops).
    async fn retire_all(&mut self) {
        for slot in &mut self.slots {
            slot.spec.online = false;
        }
        if self.offline_pass().await.is_err() {
            self.fence().await;
        }
        self.close_where(|_| true).await;
        self.removed = true;
    }

    /// Closes and drops the slots that match.
    async fn close_where(&mut self, pick: impl Fn(&Slot) -> bool) {
        let (gone, kept): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.slots)
            .into_iter()
            .partition(|s| pick(s));
        self.slots = kept;
        for mut slot in gone {
            if let Some(mut instance) = slot.instance.take() {
                instance.close().await;
            }
            self.shared.forget(slot.name()).await;
        }
    }

    /// Brings every resource to where it should be: offline top-down, then online bottom-up.
    pub async fn reconcile(&mut self) -> Result<(), Fenced> {
        if !self.may_act() {
            return Ok(());
        }
        self.offline_pass().await?;
        let now = self.shared.clock.now_ms();
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            // A leftover of an earlier run that is not undone may still run: not again.
            if s.state.is_stopped()
                && self.should_run(i)
                && s.may_start(now)
                && !self.shared.is_unclean(s.name())
            {
                self.bring_online(i).await?;
            }
        }
        Ok(())
    }

    /// Takes offline, dependents first, every running resource that should not run.
    pub async fn offline_pass(&mut self) -> Result<(), Fenced> {
        for i in (0..self.slots.len()).rev() {
            if self.slots[i].state == ResourceState::Online && !self.should_run(i) {
                self.take_offline(i).await?;
            }
        }
        Ok(())
    }

    /// Whether slot `i` should run: wanted online and everything it needs is Online.
    fn should_run(&self, i: usize) -> bool {
        let spec = &self.slots[i].spec;
        spec.online
            && spec.depends_on.iter().all(|d| {
                self.slots
                    .iter()
                    .any(|s| &s.spec.name == d && s.state == ResourceState::Online)
            })
    }
}

/// Returns once the lease was lost since this task last looked, even if it was regained since:
/// true, or false when the agent is gone. A daemon resumed after a stop loses and regains its
/// lease within milliseconds; a task that looked only at the current value would miss the loss
/// and go on with what it ran before. The lease becomes valid only after a loss, so any change
/// is one.
async fn wait_lost(lease: &mut watch::Receiver<bool>) -> bool {
    lease.changed().await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_loss_regained_before_the_task_looks_is_still_a_loss() {
        let (tx, mut rx) = watch::channel(true);
        tx.send_replace(false);
        tx.send_replace(true);
        let seen = tokio::time::timeout(Duration::from_secs(1), wait_lost(&mut rx)).await;
        assert_eq!(seen.ok(), Some(true));
        // Seen once: nothing more until the next loss.
        let again = tokio::time::timeout(Duration::from_millis(50), wait_lost(&mut rx)).await;
        assert!(again.is_err());
    }
}
