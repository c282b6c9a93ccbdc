//! The transitions of one resource inside its group task: online, offline, failure (with the
//! restart rule), health checks and self-fencing. Each reports what it did and keeps the state
//! file in step.
//!
//! What a resource may leave on the machine is in the state file *before* it is started: the
//! instance's intent (its marker, the address it will add, the command that undoes it) is
//! written, with fsync, before `online` is called, so that a daemon stopped or killed at any
//! instant of a start leaves its watchdog (or its next run) everything it needs to undo it.
//!
//! A failure, whether pushed by the handler, seen by a check, or an online that failed or hung:
//! the resource is reported Failing (failed, maybe still running); its dependents go offline
//! (top-down); it is terminated, within its type's stop bound; only then is it reported Failed,
//! which means "stopped". The restart rule (`RestartPolicy::decide`, shared with the
//! controller) then either schedules a restart after its delay, or gives up (reported `gave_up`,
//! so the controller fails the group over). A terminate that does not finish within its bound
//! leaves the resource Failing: the controller never places its group elsewhere on the strength
//! of it, and the agent tries again. A partial failure (one copy of several) restarts that part
//! in place, without stopping the rest.

use std::time::Duration;

use nonstop_contract::{DesiredResource, ResourceState, RestartCount, RestartDecision, StopBound};
use nonstop_resource_types::handler::Failure;
use nonstop_resource_types::{FailureSink, Footprint, HandlerError, Health, OpenContext};

use crate::event::AgentEvent;
use crate::group::{Fenced, Group};
use crate::report::Transition;
use crate::runtime::{Bounded, bounded, limited};
use crate::slot::Check;
use crate::state_file::Started;

/// The least wait before retrying an online that failed (see `fail`).
const FAILED_ONLINE_RETRY_MS: u64 = 100;
/// How often a terminate that did not finish is tried again.
const TERMINATE_RETRY_MS: u64 = 5_000;

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

    /// Records `footprint` as what slot `i` leaves on the machine (empty: forgets it).
    async fn record_footprint(&mut self, i: usize, footprint: Footprint) {
        let slot = &self.slots[i];
        let started = Started {
            type_name: slot.spec.type_name.clone(),
            handler: slot.spec.handler.clone(),
            footprint,
        };
        let name = slot.spec.name.clone();
        self.shared.record(&name, started).await;
    }

    /// Records slot `i`'s current footprint in the state file.
    async fn record(&mut self, i: usize) {
        let footprint = self.slots[i]
            .instance
            .as_ref()
            .map(|x| x.footprint())
            .unwrap_or_default();
        self.record_footprint(i, footprint).await;
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
            marker: nonstop_resource_types::procs::new_marker(),
        };
        let type_name = slot.spec.type_name.clone();
        let started = std::time::Instant::now();
        let opened = slot.handler.open(ctx).await;
        let metrics = &self.shared.metrics;
        metrics.opened(&type_name, started, &opened);
        self.slots[i].instance = Some(metrics.timed(&type_name, opened?));
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
        // Intent first: durable before anything starts.
        let intent = self.slots[i]
            .instance
            .as_ref()
            .map(|x| x.intent().union(&x.footprint()))
            .unwrap_or_default();
        self.record_footprint(i, intent).await;
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
            Bounded::Done(Err(e)) => self.fail(i, failure_of("online", &e)).await,
            Bounded::TimedOut => {
                let why = format!("online did not finish within {}", limit.as_millis());
                self.fail(i, format!("{why} ms; terminated")).await
            }
            Bounded::Fenced => Err(Fenced),
        }
    }

    /// Takes slot `i` offline gracefully, bounded by its pending timeout; past it, or on error,
    /// it is terminated and reported Failed (but not restarted: it was meant to stop), or
    /// Failing when even the terminate did not finish.
    pub(crate) async fn take_offline(&mut self, i: usize) -> Result<(), Fenced> {
        self.enter(i, ResourceState::OfflinePending, None);
        let limit = self.slots[i].spec.timings.pending_timeout.as_duration();
        let Some(instance) = self.slots[i].instance.as_mut() else {
            self.enter(i, ResourceState::Offline, None);
            return Ok(());
        };
        let message = match bounded(&mut self.lease, limit, instance.offline()).await {
            Bounded::Done(Ok(())) => None,
            Bounded::Done(Err(e)) => Some(format!("{}; terminated", failure_of("offline", &e))),
            Bounded::TimedOut => Some(format!(
                "offline did not finish within {} ms; terminated",
                limit.as_millis()
            )),
            Bounded::Fenced => return Err(Fenced),
        };
        match message {
            None => self.enter(i, ResourceState::Offline, None),
            Some(m) => match self.terminate(i).await {
                Ok(()) => self.enter(i, ResourceState::Failed, Some(m)),
                Err(why) => self.stuck(i, format!("{m}, but {why}")),
            },
        }
        self.record(i).await;
        Ok(())
    }

    /// Terminates slot `i`'s instance within its type's stop bound ([`terminate_slot`]).
    pub(crate) async fn terminate(&mut self, i: usize) -> Result<(), String> {
        let budget = self.shared.terminate_budget();
        terminate_slot(&mut self.slots[i], budget).await
    }

    /// Slot `i` could not be confirmed stopped: it stays Failing (which blocks its group from
    /// starting elsewhere) and its terminate is tried again later.
    fn stuck(&mut self, i: usize, why: String) {
        tracing::error!(resource = %self.slots[i].spec.name, "{why}");
        self.slots[i].restart_at = None;
        self.slots[i].retry_terminate_at = Some(self.shared.clock.now_ms() + TERMINATE_RETRY_MS);
        self.transition(
            i,
            Transition {
                state: ResourceState::Failing,
                message: Some(why),
                ..Transition::default()
            },
        );
    }

    /// Tries again to terminate a slot that could not be confirmed stopped.
    pub(crate) async fn retry_terminate(&mut self, i: usize) {
        self.slots[i].retry_terminate_at = None;
        match self.terminate(i).await {
            Ok(()) => {
                let gave_up = self.slots[i].gave_up;
                self.transition(
                    i,
                    Transition {
                        state: ResourceState::Failed,
                        gave_up,
                        message: Some("terminated at last".into()),
                        restart: None,
                    },
                );
                self.record(i).await;
            }
            Err(why) => self.stuck(i, why),
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
        self.slots[i].gave_up = gave_up;
        self.slots[i].restart_at = None;
        // Failing until the terminate returns: it may still run.
        self.enter(i, ResourceState::Failing, Some(reason.clone()));
        self.offline_pass().await?;
        let stopped = self.terminate(i).await;
        self.record(i).await;
        if let Err(why) = stopped {
            self.stuck(i, format!("{reason}; {why}"));
            return Ok(());
        }
        self.mark_failed(i, gave_up, reason);
        if let RestartDecision::Restart {
            attempt,
            limit,
            delay,
        } = decision
        {
            let slot = &mut self.slots[i];
            slot.remember_restart(now, policy.window.0);
            slot.restart_at = Some(now + delay.0);
            slot.pending_restart = Some(RestartCount { attempt, limit });
        }
        Ok(())
    }

    /// Part of slot `i` failed while the rest runs (one copy of several): restarted in place by
    /// `online`, which replaces only what failed, when the restart rule allows; otherwise the
    /// whole resource fails.
    async fn fail_part(&mut self, i: usize, reason: String) -> Result<(), Fenced> {
        let now = self.shared.clock.now_ms();
        let policy = self.slots[i].spec.timings.restart;
        let RestartDecision::Restart { attempt, limit, .. } =
            policy.decide(&self.slots[i].restarts, now)
        else {
            return self.fail(i, reason).await;
        };
        self.slots[i].remember_restart(now, policy.window.0);
        tracing::warn!(resource = %self.slots[i].spec.name, "{reason}: replacing it");
        let timeout = self.slots[i].spec.timings.pending_timeout.as_duration();
        let Some(instance) = self.slots[i].instance.as_mut() else {
            return Ok(());
        };
        match bounded(&mut self.lease, timeout, instance.online()).await {
            Bounded::Done(Ok(())) => {
                self.record(i).await;
                let t = Transition {
                    state: ResourceState::Online,
                    restart: Some(RestartCount { attempt, limit }),
                    message: Some(reason),
                    gave_up: false,
                };
                self.transition(i, t);
                Ok(())
            }
            Bounded::Done(Err(e)) => self.fail(i, failure_of("online", &e)).await,
            Bounded::TimedOut => {
                self.fail(i, format!("{reason}; replacing it timed out"))
                    .await
            }
            Bounded::Fenced => Err(Fenced),
        }
    }

    /// Marks slot `i` Failed (stopped) and reports it; `gave_up`: no restart until a new epoch.
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
        if self.slots[i].state != ResourceState::Online {
            return;
        }
        let handled = if f.partial {
            self.fail_part(i, f.reason).await
        } else {
            self.fail(i, f.reason).await
        };
        if handled.is_err() {
            self.fence().await;
        }
    }

    /// Runs every check that is due, in group order, and retries terminates that are due.
    pub(crate) async fn run_due_checks(&mut self) {
        let now = self.shared.clock.now_ms();
        for i in 0..self.slots.len() {
            if self.slots[i].retry_terminate_at.is_some_and(|t| t <= now) {
                self.retry_terminate(i).await;
            }
        }
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

    /// The lease ran out: terminate every resource of the group at once, in parallel, each
    /// within its stop bound (what can be forced, within the profile's terminate budget), and
    /// wait for a fresh desired state before acting again.
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
        let outcomes = self.terminate_all(&running).await;
        for (&i, outcome) in running.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    let why = "lease expired: terminated (self-fenced)".to_string();
                    self.enter(i, ResourceState::Offline, Some(why));
                }
                Err(why) => self.stuck(i, format!("lease expired; {why}")),
            }
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

    /// Terminates the slots `which` concurrently, each as [`terminate_slot`] does.
    async fn terminate_all(&mut self, which: &[usize]) -> Vec<Result<(), String>> {
        let budget = self.shared.terminate_budget();
        let jobs = self
            .slots
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| which.contains(i))
            .map(|(_, s)| terminate_slot(s, budget));
        futures::future::join_all(jobs).await
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

/// Terminates `slot`'s instance within its type's stop bound, and says whether it is confirmed
/// stopped. A type whose stop can be forced gets the timing profile's terminate `budget`; past
/// it, whatever carries its marker is killed and its clean-up run, which confirms it. A type
/// that cannot be forced gets its own bound; past it, the stop is not confirmed (`Err` says
/// why).
async fn terminate_slot(slot: &mut crate::slot::Slot, budget: Duration) -> Result<(), String> {
    let stop = slot.handler.def().stop;
    // A forced stop gets three quarters of the budget, so that the kill that follows lands
    // within it.
    let limit = match stop {
        StopBound::Forced => budget * 3 / 4,
        StopBound::Within(d) => d.as_duration().max(budget),
    };
    let handler = slot.handler.clone();
    let Some(instance) = slot.instance.as_mut() else {
        return Ok(());
    };
    if let Bounded::Done(()) = limited(limit, instance.terminate()).await {
        return Ok(());
    }
    // The terminate was dropped (which kills the programs it ran); kill what is left.
    tracing::error!(resource = %slot.spec.name, "terminate did not finish within {limit:?}: killing");
    let left = instance.intent().union(&instance.footprint());
    let killed = nonstop_resource_types::cleanup::kill_processes(
        std::slice::from_ref(&left),
        Duration::from_millis(200),
    )
    .await;
    let cleaned = limited(stop.limit(), handler.clean_up(&left)).await;
    match (stop, killed.clean, cleaned) {
        (StopBound::Forced, true, Bounded::Done(())) => Ok(()),
        (StopBound::Forced, false, _) => Err("processes of it survived SIGKILL".into()),
        (StopBound::Forced, _, _) => Err("its clean-up did not finish".into()),
        (StopBound::Within(_), ..) => Err(format!(
            "its terminate did not finish within {} ms: it may still run",
            limit.as_millis()
        )),
    }
}

/// What an entry point's error says, without repeating the entry point's name when the error
/// already names it (`online failed: online failed: ...`).
fn failure_of(entry: &str, e: &HandlerError) -> String {
    match e {
        HandlerError::Failed { entry: named, .. } if *named == entry => e.to_string(),
        _ => format!("{entry} failed: {e}"),
    }
}
