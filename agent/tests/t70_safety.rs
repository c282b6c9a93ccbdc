//! The agent's part of the safety argument (docs/design.md): a resource is reported stopped
//! (Failed, Offline) only once its terminate returned; a terminate is bounded by its type's stop
//! bound, and what can be forced is killed within the timing profile's budget; what a start may
//! leave is in the state file before the start begins; one crashed copy of several is replaced
//! alone; a moving group's stop is confirmed only when nothing of it runs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{DEADLINE, Harness, NODE, process_alive, timings};
use nonstop_agent::state_file::StateFile;
use nonstop_agent::testing::{
    Behaviour, ScriptedHandler, desired_group, desired_resource, next_matching, until,
};
use nonstop_agent::{Agent, AgentConfig, AgentEvent, HandlerMap};
use nonstop_contract::{
    DesiredNode, HandlerRef, Millis, Properties, ResourceState as S, RestartMode, StopBound, Value,
    builtin,
};
use nonstop_resource_types::process::ProcessHandler;

fn one(t: nonstop_contract::Timings) -> Vec<nonstop_contract::DesiredGroup> {
    vec![desired_group(
        "g",
        1,
        vec![desired_resource("r", "scripted", &[], t)],
    )]
}

/// Issue 17, item 2: Failed means stopped. A failed resource is reported Failing at once, and
/// Failed only after its terminate returned; a terminate that does not finish within the type's
/// stop bound leaves it Failing (maybe still running), and the agent tries again.
#[tokio::test(start_paused = true)]
async fn i17_2_failed_is_reported_only_once_terminate_returned() {
    let slow = ScriptedHandler::new().with_stop(StopBound::Within(Millis(800)));
    let mut h = Harness::start_with(50, 300, slow);
    h.desire(one(timings(RestartMode::NoRestart, Some(0), 0)));
    h.wait_state("r", S::Online).await;
    h.scripted.set(
        "r",
        Behaviour {
            terminate_hangs: true,
            ..Behaviour::default()
        },
    );
    h.scripted.kill("r");
    let failing = h.wait_state("r", S::Failing).await;
    assert_eq!(failing.message.as_deref(), Some("killed by the test"));
    // Its terminate hangs past the bound: Failing again, saying so; never Failed.
    let stuck = h.wait_state("r", S::Failing).await;
    assert!(
        stuck
            .message
            .as_deref()
            .unwrap_or("")
            .contains("may still run"),
        "{stuck:?}"
    );
    let failed = next_matching(&mut h.reports, Duration::from_secs(3), |r| {
        r.state == S::Failed
    });
    assert!(failed.await.is_none(), "reported Failed while it may run");
    // The terminate works again: the retry confirms the stop.
    h.scripted.set("r", Behaviour::default());
    let failed = h.wait_state("r", S::Failed).await;
    assert!(failed.gave_up);
    let calls = h.calls();
    assert!(
        calls.iter().filter(|c| *c == "r:terminate").count() >= 2,
        "{calls:?}"
    );
}

/// Issue 17, item 2, the ordinary case: Failing, then terminate, then Failed.
#[tokio::test(start_paused = true)]
async fn i17_2_failing_terminate_failed_in_that_order() {
    let mut h = Harness::start(50, 300);
    h.desire(one(timings(RestartMode::RestartThenFailover, Some(1), 0)));
    h.wait_state("r", S::Online).await;
    h.scripted.kill("r");
    h.wait_state("r", S::Failing).await;
    let failed = h.wait_state("r", S::Failed).await;
    assert!(!failed.gave_up);
    h.wait_state("r", S::Online).await;
    let calls = h.calls();
    let kill = calls.iter().rposition(|c| c == "r:terminate").unwrap();
    assert!(
        calls[kill + 1..].contains(&"r:online".to_string()),
        "{calls:?}"
    );
}

/// Issue 17, item 1: when the lease runs out, a terminate that hangs does not hold the fence
/// past the profile's terminate budget (500 ms here): a type whose stop can be forced is
/// killed at the budget and reported stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i17_1_a_hung_terminate_does_not_hold_the_fence_past_the_budget() {
    let mut h = Harness::start(50, 300);
    h.desire(one(timings(RestartMode::RestartThenFailover, Some(3), 0)));
    h.wait_state("r", S::Online).await;
    h.scripted.set(
        "r",
        Behaviour {
            terminate_hangs: true,
            ..Behaviour::default()
        },
    );
    h.leader.set_acking(false);
    let lost = next_matching(&mut h.events, DEADLINE, |e| *e == AgentEvent::LeaseLost);
    assert!(lost.await.is_some());
    let at = std::time::Instant::now();
    let fenced = next_matching(&mut h.events, DEADLINE, |e| {
        matches!(e, AgentEvent::Fenced { .. })
    });
    assert!(fenced.await.is_some(), "the fence never finished");
    let took = at.elapsed();
    println!("fence with a hung terminate took {took:?}");
    assert!(took < Duration::from_millis(900), "fence took {took:?}");
    let off = h.wait_state("r", S::Offline).await;
    assert!(off.message.unwrap_or_default().contains("self-fenced"));
}

/// Issue 17, item 3: what a start may leave is in the state file before `online` runs: here an
/// online that hangs, and the resource's marker already recorded.
#[tokio::test]
async fn i17_3_the_intent_is_recorded_before_online_runs() {
    let mut h = Harness::start(50, 300);
    h.scripted.set(
        "r",
        Behaviour {
            online_hangs: true,
            ..Behaviour::default()
        },
    );
    h.desire(one(timings(RestartMode::RestartThenFailover, Some(3), 0)));
    h.wait_state("r", S::OnlinePending).await;
    let path = h.dir.path().join("agent-state.json");
    let recorded = until(DEADLINE, || {
        StateFile::load(&path)
            .ok()
            .and_then(|m| m.get("r").map(|s| s.footprint.marker.is_some()))
            .unwrap_or(false)
    });
    assert!(
        recorded.await,
        "the marker was not recorded while online ran"
    );
    // The intent is written first, then online is called: wait for the call, do not race it.
    let called = until(DEADLINE, || {
        h.scripted.calls().contains(&("r".into(), "online"))
    });
    assert!(called.await, "online was never called");
}

/// Issue 17, item 6: one crashed copy of a three-copy `process` is replaced alone; the other
/// two keep their pids, and the replacement is reported as a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i17_6_one_crashed_copy_of_several_is_replaced_alone() {
    let dir = tempfile::tempdir().unwrap();
    let leader = nonstop_agent::local::LocalLeader::new(Millis(50), Millis(300));
    let mut reports = leader.subscribe_reports();
    let handlers = HandlerMap::new().with(Arc::new(ProcessHandler::new(builtin::process())));
    let mut config = AgentConfig::new(NODE, dir.path());
    config.retry = Duration::from_millis(20);
    let agent = Agent::start(config, leader.link(), Arc::new(handlers)).unwrap();
    let mut r = desired_resource(
        "copies",
        "process",
        &[],
        timings(RestartMode::RestartThenFailover, Some(3), 0),
    );
    r.handler = HandlerRef::Builtin("process".into());
    r.properties = Properties::from([
        ("command".to_string(), Value::Str("sleep".into())),
        ("args".to_string(), Value::List(vec!["300".into()])),
        ("instances".to_string(), Value::Int(3)),
    ]);
    leader.send_desired(DesiredNode {
        node: NODE.into(),
        epoch: 1,
        groups: vec![desired_group("g", 1, vec![r])],
        types: vec![],
    });
    let online = next_matching(&mut reports, DEADLINE, |r| r.state == S::Online).await;
    assert!(online.is_some());
    let path = dir.path().join("agent-state.json");
    let pids = |path: &std::path::Path| -> Vec<i32> {
        let m = StateFile::load(path).unwrap();
        m["copies"]
            .footprint
            .process_groups
            .iter()
            .map(|g| g.pgid)
            .collect()
    };
    let before = pids(&path);
    assert_eq!(before.len(), 3);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[1]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let restarted = next_matching(&mut reports, DEADLINE, |r| {
        r.state == S::Online && r.restart.is_some()
    })
    .await
    .expect("reported as a restart");
    assert_eq!(restarted.restart.unwrap().attempt, 1);
    let after = pids(&path);
    assert_eq!(after.len(), 3);
    assert_eq!(
        (after[0], after[2]),
        (before[0], before[2]),
        "the others kept running"
    );
    assert_ne!(after[1], before[1]);
    assert!(process_alive(before[0]) && process_alive(before[2]));
    assert!(
        !std::iter::from_fn(|| reports.try_recv().ok()).any(|r| r.state == S::Failing),
        "the whole resource was failed"
    );
    agent.shutdown().await.unwrap();
    for p in after {
        assert!(until(DEADLINE, || !process_alive(p)).await);
    }
}

/// A moving group's stop is confirmed (with the move's number) only once nothing of it runs.
#[tokio::test(start_paused = true)]
async fn a_moving_group_is_confirmed_stopped_once_everything_is_offline() {
    let mut h = Harness::start(50, 300);
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    h.desire(vec![desired_group(
        "g",
        1,
        vec![
            desired_resource("a", "scripted", &[], t),
            desired_resource("b", "scripted", &["a"], t),
        ],
    )]);
    h.wait_state("b", S::Online).await;
    h.scripted.set(
        "a",
        Behaviour {
            offline_hangs: true,
            ..Behaviour::default()
        },
    );
    let mut moving = desired_group(
        "g",
        1,
        vec![
            desired_resource("a", "scripted", &[], t),
            desired_resource("b", "scripted", &["a"], t),
        ],
    );
    for r in &mut moving.resources {
        r.online = false;
    }
    moving.stop = Some(7);
    h.desire(vec![moving]);
    h.wait_state("b", S::Offline).await;
    // `a` hangs in offline (up to its pending timeout, 500 ms): no confirmation yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.leader.stops().is_empty(), "confirmed while a still runs");
    h.wait_state("a", S::Failed).await; // offline timed out, terminate returned
    assert!(until(DEADLINE, || !h.leader.stops().is_empty()).await);
    let stops = h.leader.stops();
    assert_eq!(
        (stops[0].group.as_str(), stops[0].epoch, stops[0].stop),
        ("g", 1, 7)
    );
}
