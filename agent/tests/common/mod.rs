//! What the agent's integration tests share: an agent started against an in-process leader
//! with the scripted and sleep handlers, and waits with deadlines.
#![allow(dead_code)] // each test file uses a part

use std::sync::Arc;
use std::time::Duration;

use nonstop_agent::local::LocalLeader;
use nonstop_agent::testing::{
    ScriptedHandler, SleepHandler, desired_group, desired_resource, next_matching,
};
use nonstop_agent::{Agent, AgentConfig, AgentEvent, AgentHandle, HandlerMap};
use nonstop_contract::{
    DesiredGroup, DesiredNode, Millis, ResourceReport, ResourceState, RestartMode, RestartPolicy,
    Timings,
};
use tokio::sync::broadcast;

pub const NODE: &str = "n1";
/// How long a test waits for something before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// An agent, its leader and its handlers.
pub struct Harness {
    pub leader: LocalLeader,
    pub agent: Option<AgentHandle>,
    pub scripted: ScriptedHandler,
    pub sleep: SleepHandler,
    pub reports: broadcast::Receiver<ResourceReport>,
    pub events: broadcast::Receiver<AgentEvent>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// Starts an agent whose leader heartbeats every `heartbeat` ms and grants `lease` ms.
    pub fn start(heartbeat: u64, lease: u64) -> Self {
        Self::start_with(heartbeat, lease, ScriptedHandler::new())
    }

    /// The same, with `scripted` as the `scripted` type's handler.
    pub fn start_with(heartbeat: u64, lease: u64, scripted: ScriptedHandler) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let leader = LocalLeader::new(Millis(heartbeat), Millis(lease));
        let sleep = SleepHandler::new();
        let mut h = Harness {
            reports: leader.subscribe_reports(),
            leader,
            agent: None,
            scripted,
            sleep,
            events: broadcast::channel(1).1,
            dir,
        };
        h.restart_agent();
        h
    }

    /// Starts a new agent on the same data directory and leader (after `abandon`).
    pub fn restart_agent(&mut self) {
        let handlers = HandlerMap::new()
            .with(Arc::new(self.scripted.clone()))
            .with(Arc::new(self.sleep.clone()));
        let mut config = AgentConfig::new(NODE, self.dir.path());
        config.retry = Duration::from_millis(20);
        let agent = Agent::start(config, self.leader.link(), Arc::new(handlers)).expect("start");
        self.events = agent.events();
        self.agent = Some(agent);
    }

    /// Sends a desired state made of `groups`.
    pub fn desire(&self, groups: Vec<DesiredGroup>) {
        let epoch = groups.iter().map(|g| g.epoch).max().unwrap_or(0);
        self.leader.send_desired(DesiredNode {
            node: NODE.into(),
            epoch,
            groups,
            types: Vec::new(),
        });
    }

    /// Desires group `g` (epoch 1) holding one resource `name` of type `type_name` (restarted up
    /// to three times, at once), and waits until it is Online.
    pub async fn one_online(&mut self, name: &str, type_name: &str) {
        let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
        self.desire(vec![desired_group(
            "g",
            1,
            vec![desired_resource(name, type_name, &[], t)],
        )]);
        self.wait_state(name, ResourceState::Online).await;
    }

    /// The next report on `resource` entering `state`, or a failed test.
    pub async fn wait_state(&mut self, resource: &str, state: ResourceState) -> ResourceReport {
        let found = next_matching(&mut self.reports, DEADLINE, |r| {
            r.resource == resource && r.state == state
        })
        .await;
        found.unwrap_or_else(|| panic!("{resource} never reported {state}"))
    }

    /// The next event matching `pred`, or a failed test.
    pub async fn wait_event(&mut self, what: &str, pred: impl FnMut(&AgentEvent) -> bool) {
        let found = next_matching(&mut self.events, DEADLINE, pred).await;
        assert!(found.is_some(), "no event: {what}");
    }

    /// The entry points called on `scripted` resources, as "resource:entry", without checks.
    pub fn calls(&self) -> Vec<String> {
        let calls = self.scripted.calls().into_iter();
        calls
            .filter(|(_, e)| !e.ends_with("alive"))
            .map(|(r, e)| format!("{r}:{e}"))
            .collect()
    }
}

/// Timings with the given restart mode and limit, a short pending timeout and delay.
pub fn timings(mode: RestartMode, limit: Option<u32>, delay_ms: u64) -> Timings {
    Timings {
        looks_alive: Millis(100),
        is_alive: Millis(1000),
        pending_timeout: Millis(500),
        restart: RestartPolicy {
            mode,
            limit,
            window: Millis::secs(900),
            delay: Millis(delay_ms),
        },
    }
}

/// Whether process `pid` is alive (a zombie is dead).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !after.is_some_and(|rest| rest.starts_with('Z') || rest.starts_with('X'))
        }
        Err(_) => false,
    }
}

impl Drop for Harness {
    /// Kills every `sleep` a failed test left running, so no process outlives the test.
    fn drop(&mut self) {
        for r in self.sleep.records() {
            if r.exited.is_none() && process_alive(r.pid) {
                let pgid = nix::unistd::Pid::from_raw(r.pid);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}
