//! One resource inside a group task: its desired spec, its handler instance, its lifecycle state,
//! its restart history and its check schedule. The group task drives it; this file holds the
//! rules that need no I/O.
//!
//! ```text
//!   Offline ──▶ OnlinePending ──▶ Online ──▶ OfflinePending ──▶ Offline
//!                 │ error/timeout   │ failure      │ error/timeout
//!                 ▼                 ▼              ▼
//!               Failed ◀────────────┴──────────────┘   (terminated; restarted per policy)
//! ```

use std::sync::Arc;

use nonstop_contract::{DesiredResource, ResourceState, RestartCount};
use nonstop_resource_types::{ResourceHandler, ResourceInstance};

/// A resource as its group task holds it.
#[derive(Debug)]
pub struct Slot {
    /// What the leader wants.
    pub spec: DesiredResource,
    /// The handler of its type.
    pub handler: Arc<dyn ResourceHandler>,
    /// The open instance (opened when first brought online).
    pub instance: Option<Box<dyn ResourceInstance>>,
    /// Its lifecycle state.
    pub state: ResourceState,
    /// When it was restarted, on the agent's clock (for the restart window).
    pub restarts: Vec<u64>,
    /// The restart policy gave up: it stays Failed until a new epoch.
    pub gave_up: bool,
    /// A restart is due at this time (after the policy's delay).
    pub restart_at: Option<u64>,
    /// The restart the next online is (reported with its OnlinePending).
    pub pending_restart: Option<RestartCount>,
    /// Next cheap check.
    pub next_looks: u64,
    /// Next thorough check.
    pub next_is: u64,
    /// It is Failing because its terminate did not finish: try again at this time.
    pub retry_terminate_at: Option<u64>,
}

impl Slot {
    /// A slot for `spec`, not yet opened, Offline.
    pub fn new(spec: DesiredResource, handler: Arc<dyn ResourceHandler>) -> Self {
        Slot {
            spec,
            handler,
            instance: None,
            state: ResourceState::Offline,
            restarts: Vec::new(),
            gave_up: false,
            restart_at: None,
            pending_restart: None,
            next_looks: 0,
            next_is: 0,
            retry_terminate_at: None,
        }
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether `other` can replace this spec in place: same type, handler and properties
    /// (anything else, like timings, dependencies or the online flag, changes in place).
    pub fn same_definition(&self, other: &DesiredResource) -> bool {
        self.spec.type_name == other.type_name
            && self.spec.handler == other.handler
            && self.spec.properties == other.properties
    }

    /// Forgets failures and restarts: a new placement epoch starts afresh.
    pub fn forget_failures(&mut self) {
        self.restarts.clear();
        self.gave_up = false;
        self.restart_at = None;
        self.pending_restart = None;
    }

    /// Counts a restart at `now`; restarts that left the `window` no longer count and are
    /// forgotten (the history stays bounded).
    pub fn remember_restart(&mut self, now: u64, window: u64) {
        self.restarts.retain(|&t| now.saturating_sub(t) < window);
        self.restarts.push(now);
    }

    /// Whether it is (or may be) running: anything but Offline and Failed.
    pub fn is_up(&self) -> bool {
        !self.state.is_stopped()
    }

    /// Whether it may be started at `now`: not given up, restart delay passed.
    pub fn may_start(&self, now: u64) -> bool {
        !self.gave_up && self.restart_at.is_none_or(|t| t <= now)
    }

    /// Schedules both checks from `now` (it just came online).
    pub fn schedule_checks(&mut self, now: u64) {
        self.next_looks = now + self.spec.timings.looks_alive.0.max(1);
        self.next_is = now + self.spec.timings.is_alive.0.max(1);
    }

    /// Which check is due at `now`, if any: the thorough one wins when both are.
    pub fn due_check(&self, now: u64) -> Option<Check> {
        if self.state != ResourceState::Online {
            None
        } else if self.next_is <= now {
            Some(Check::IsAlive)
        } else if self.next_looks <= now {
            Some(Check::LooksAlive)
        } else {
            None
        }
    }

    /// The next time this slot needs attention (a check or a restart), if any.
    pub fn next_wake(&self) -> Option<u64> {
        match self.state {
            ResourceState::Online => Some(self.next_looks.min(self.next_is)),
            ResourceState::Failed | ResourceState::Offline if self.spec.online => self.restart_at,
            ResourceState::Failing => self.retry_terminate_at,
            _ => None,
        }
    }
}

/// A health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The cheap one.
    LooksAlive,
    /// The thorough one.
    IsAlive,
}

impl Check {
    /// Its entry point's name.
    pub fn name(self) -> &'static str {
        match self {
            Check::LooksAlive => "looks_alive",
            Check::IsAlive => "is_alive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHandler;
    use nonstop_contract::{HandlerRef, Millis, Properties, Timings};

    fn slot() -> Slot {
        let spec = DesiredResource {
            name: "r".into(),
            type_name: "scripted".into(),
            handler: HandlerRef::Builtin("scripted".into()),
            properties: Properties::new(),
            timings: Timings {
                looks_alive: Millis(100),
                is_alive: Millis(250),
                ..Timings::default()
            },
            depends_on: vec![],
            online: true,
        };
        Slot::new(spec, Arc::new(ScriptedHandler::new()))
    }

    #[test]
    fn checks_run_on_their_own_intervals_and_is_alive_wins_a_tie() {
        let mut s = slot();
        assert_eq!(s.due_check(1000), None, "offline: no checks");
        s.state = ResourceState::Online;
        s.schedule_checks(0);
        assert_eq!(s.due_check(99), None);
        assert_eq!(s.due_check(100), Some(Check::LooksAlive));
        assert_eq!(s.due_check(250), Some(Check::IsAlive));
        assert_eq!(s.next_wake(), Some(100));
    }

    #[test]
    fn a_restart_waits_for_its_delay_and_a_give_up_blocks_until_forgotten() {
        let mut s = slot();
        s.state = ResourceState::Failed;
        s.restart_at = Some(500);
        assert!(!s.may_start(499));
        assert!(s.may_start(500));
        assert_eq!(s.next_wake(), Some(500));
        s.gave_up = true;
        assert!(!s.may_start(10_000));
        s.forget_failures();
        assert!(s.may_start(0));
    }
}
