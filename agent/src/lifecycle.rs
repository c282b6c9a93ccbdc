//! The transitions of one resource inside its group task: online, offline, failure (with the
//! restart rule), health checks and self-fencing. Each reports what it did and keeps the state
//! file in step.
//!
//! A failure, whether pushed by the handler, seen by a check, or an online that failed or hung:
//! the resource is marked Failed and reported; its dependents go offline (top-down); it is
//! terminated; the restart rule (`RestartPolicy::decide`, shared with the controller) either
//! schedules a restart after its delay, or gives up (reported `gave_up`, so the controller fails
//! the group over). The restart itself, and its dependents coming back, happen in `reconcile`.

use nonstop_resource_types::handler::Failure;
use nonstop_resource_types::{DesiredResource, FailureSink, Health, ResourceState};
use nonstop_resource_types::{HandlerError, OpenContext, RestartCount, RestartDecision};

use crate::event::AgentEvent;
use crate::group::{Fenced, Group};
use crate::report::Transition;
use crate::runtime::{Bounded, bounded, limited};
use crate::slot::Check;
use crate::state_file::Started;

/// The least wait before retrying an online that failed (see `fail`).
const FAILED_ONLINE_RETRY_MS: u64 = 100;

impl Group {
    /// Reports slot `i` entering `t.state` and sets it.
    fn transition(&mut self, i: usize, t: Transition) {
        self.slots[i].state = t.state;
        let name = self.slots[i].spec.name.clone();
        self.shared
            .reporter
            .report(&self.name, self.epoch, &name, t);
    }

    fn enter(&mut self, i: usize, state: ResourceState, message: Option<String>) {
        let t = Transition {
            state,
            message,
            ..Transition::default()
        };
        self.transition(i, t);
    }

    /// Records slot `i`'s current footprint in the state file.
    async fn record(&mut self, i: usize) {
        let slot = &self.slots[i];
        let started = Started {
            type_name: slot.spec.type_name.clone(),
            handler: slot.spec.handler.clone(),
            footprint: slot
                .instance
                .as_ref()
                .map(|x| x.footprint())
                .unwrap_or_default(),
        };
        let name = slot.spec.name.clone();
        self.shared.record(&name, started).await;
    }

    /// Opens slot `i`'s instance if it has none yet.
    async fn open(&mut self, i: usize) -> Result<(), HandlerError> {
        if self.slots[i].instance.is_some() {
            return Ok(());
        }
        let slot = &self.slots[i];
        let data_dir = self.shared.config.resource_dir(slot.name());
        std::fs::create_dir_all(&data_dir).map_err(|source| HandlerError::Io {
            context: format!("creating {}", data_dir.display()),
            source,
        })?;
        let ctx = OpenContext {
            resource: slot.spec.name.clone(),
            properties: slot.spec.properties.clone(),
            data_dir,
            failures: FailureSink::new(&slot.spec.name, self.failures_tx.clone()),
        };
        let instance = slot.handler.open(ctx).await?;
        self.slots[i].instance = Some(instance);
        Ok(())
    }

    /// Brings slot `i` online, bounded by its pending timeout.
    pub(crate) async fn bring_online(&mut self, i: usize) -> Result<(), Fenced> {
        if let Err(e) = self.open(i).await {
            // Properties that do not open will not open on a retry either.
            self.mark_failed(i, true, format!("open failed: {e}"));
            return Ok(());
        }
        let restart = self.slots[i].pending_restart.take();
        self.transition(
            i,
            Transition {
                state: ResourceState::OnlinePending,
                restart,
                ..Transition::default()
            },
        );
        let limit = self.slots[i].spec.timings.pending_timeout.as_duration();
        let Some(instance) = self.slots[i].instance.as_mut() else {
            return Ok(()); // opened just above
        };
        match bounded(&mut self.lease, limit, instance.online()).await {
            Bounded::Done(Ok(())) => {
                self.slots[i].restart_at = None;
                self.slots[i].schedule_checks(self.shared.clock.now_ms());
                // Durable before announced: once the leader hears Online, a crash of this agent
                // can no longer lose track of what it started.
                self.slots[i].state = ResourceState::Online;
                self.record(i).await;
                self.enter(i, ResourceState::Online, None);
                Ok(())
            }
            Bounded::Done(Err(e)) => self.fail(i, format!("online failed: {e}")).await,
            Bounded::TimedOut => {
                let why = format!("online did not finish within {}", limit.as_millis());
                self.fail(i, format!("{why} ms; terminated")).await
            }
            Bounded::Fenced => Err(Fenced),
        }
    }

    /// Takes slot `i` offline gracefully, bounded by its pending timeout; past it, or on error,
    /// it is terminated and reported Failed (but not restarted: it was meant to stop).
    pub(crate) async fn take_offline(&mut self, i: usize) -> Result<(), Fenced> {
        self.enter(i, ResourceState::OfflinePending, None);
        let limit = self.slots[i].spec.timings.pending_timeout.as_duration();
        let Some(instance) = self.slots[i].instance.as_mut() else {
            self.enter(i, ResourceState::Offline, None);
            return Ok(());
        };
        let message = match bounded(&mut self.lease, limit, instance.offline()).await {
            Bounded::Done(Ok(())) => None,
            Bounded::Done(Err(e)) => Some(format!("offline failed: {e}; terminated")),
            Bounded::TimedOut => Some(format!(
                "offline did not finish within {} ms; terminated",
                limit.as_millis()
            )),
            Bounded::Fenced => return Err(Fenced),
        };
        match message {
            None => self.enter(i, ResourceState::Offline, None),
            Some(m) => {
                self.terminate(i).await;
                self.enter(i, ResourceState::Failed, Some(m));
            }
        }
        self.record(i).await;
        Ok(())
    }

    /// Terminates slot `i`'s instance (never fails; bounded as a safety net against a handler
    /// that breaks the contract).
    async fn terminate(&mut self, i: usize) {
        let limit = self.slots[i].spec.timings.pending_timeout.as_duration();
        if let Some(instance) = self.slots[i].instance.as_mut()
            && let Bounded::TimedOut = limited(limit, instance.terminate()).await
        {
            tracing::error!(resource = %self.slots[i].spec.name, "terminate hung");
        }
    }

    /// Handles a failure of slot `i` (see the module docs).
    pub(crate) async fn fail(&mut self, i: usize, reason: String) -> Result<(), Fenced> {
        let now = self.shared.clock.now_ms();
        let policy = self.slots[i].spec.timings.restart;
        let never_came_up = self.slots[i].state == ResourceState::OnlinePending;
        let mut decision = policy.decide(&self.slots[i].restarts, now);
        if let RestartDecision::Restart { delay, .. } = &mut decision
            && never_came_up
        {
            // An online that fails at once, restarted with no delay under an unlimited policy,
            // would spin the agent; a short floor keeps that a slow retry.
            delay.0 = delay.0.max(FAILED_ONLINE_RETRY_MS);
        }
        let gave_up = matches!(decision, RestartDecision::GiveUp { .. });
        self.mark_failed(i, gave_up, reason);
        self.offline_pass().await?;
        self.terminate(i).await;
        self.record(i).await;
        if let RestartDecision::Restart {
            attempt,
            limit,
            delay,
        } = decision
        {
            let slot = &mut self.slots[i];
            // Restarts that left the window no longer count: keep the history bounded.
            let window = policy.window.0;
            slot.restarts.retain(|&t| now.saturating_sub(t) < window);
            slot.restarts.push(now);
            slot.restart_at = Some(now + delay.0);
            slot.pending_restart = Some(RestartCount { attempt, limit });
        }
        Ok(())
    }

    /// Marks slot `i` Failed and reports it; `gave_up`: no restart until a new epoch.
    fn mark_failed(&mut self, i: usize, gave_up: bool, reason: String) {
        self.slots[i].gave_up = gave_up;
        self.slots[i].restart_at = None;
        self.transition(
            i,
            Transition {
                state: ResourceState::Failed,
                gave_up,
                message: Some(reason),
                restart: None,
            },
        );
    }

    /// A handler pushed a failure: handled at once if the resource is online.
    pub(crate) async fn on_pushed_failure(&mut self, f: Failure) {
        let Some(i) = self.slots.iter().position(|s| s.spec.name == f.resource) else {
            return;
        };
        // A failure of a resource already stopping or stopped is no news.
        if self.slots[i].state == ResourceState::Online && self.fail(i, f.reason).await.is_err() {
            self.fence().await;
        }
    }

    /// Runs every check that is due, in group order.
    pub(crate) async fn run_due_checks(&mut self) {
        for i in 0..self.slots.len() {
            if let Err(Fenced) = self.check(i).await {
                self.fence().await;
                return;
            }
        }
    }

    async fn check(&mut self, i: usize) -> Result<(), Fenced> {
        let now = self.shared.clock.now_ms();
        let Some(check) = self.slots[i].due_check(now) else {
            return Ok(());
        };
        let limit = self.slots[i].spec.timings.pending_timeout.as_duration();
        let slot = &mut self.slots[i];
        let Some(instance) = slot.instance.as_mut() else {
            return Ok(());
        };
        let health = match check {
            Check::LooksAlive => bounded(&mut self.lease, limit, instance.looks_alive()).await,
            Check::IsAlive => bounded(&mut self.lease, limit, instance.is_alive()).await,
        };
        let now = self.shared.clock.now_ms();
        let timings = slot.spec.timings;
        match check {
            Check::LooksAlive => slot.next_looks = now + timings.looks_alive.0.max(1),
            Check::IsAlive => {
                slot.next_is = now + timings.is_alive.0.max(1);
                slot.next_looks = now + timings.looks_alive.0.max(1);
            }
        }
        match health {
            Bounded::Done(Health::Alive) => Ok(()),
            Bounded::Done(Health::Dead(why)) => {
                self.fail(i, format!("{}: {why}", check.name())).await
            }
            Bounded::TimedOut => self.fail(i, format!("{} hung", check.name())).await,
            Bounded::Fenced => Err(Fenced),
        }
    }

    /// The lease ran out: terminate every resource of the group at once, in parallel, and wait
    /// for a fresh desired state before acting again.
    pub(crate) async fn fence(&mut self) {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                let s = &self.slots[i];
                s.is_up()
                    || s.instance
                        .as_ref()
                        .is_some_and(|x| !x.footprint().is_empty())
            })
            .collect();
        let terminations = self
            .slots
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| running.contains(i))
            .filter_map(|(_, s)| s.instance.as_mut().map(|x| x.terminate()));
        futures::future::join_all(terminations).await;
        for &i in &running {
            let why = "lease expired: terminated (self-fenced)".to_string();
            self.enter(i, ResourceState::Offline, Some(why));
            self.record(i).await;
        }
        for slot in &mut self.slots {
            slot.restart_at = None;
            slot.pending_restart = None;
        }
        self.fenced = true;
        self.shared.event(AgentEvent::Fenced {
            group: self.name.clone(),
            terminated: running.len(),
        });
    }

    /// A desired resource whose type this node has no handler for: reported Failed, given up.
    pub(crate) fn report_unknown_type(&self, spec: &DesiredResource) {
        let message = format!("no handler for type {:?} on this node", spec.type_name);
        tracing::error!(resource = %spec.name, "{message}");
        let t = Transition {
            state: ResourceState::Failed,
            gave_up: true,
            message: Some(message),
            restart: None,
        };
        self.shared
            .reporter
            .report(&self.name, self.epoch, &spec.name, t);
    }
}
