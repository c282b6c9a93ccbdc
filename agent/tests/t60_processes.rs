//! Real processes end to end: a process that exits is noticed at once (pushed, no poll) and
//! restarted, each restart reported with its count; shutdown stops every process.

mod common;

use std::time::Duration;

use common::{DEADLINE, Harness, process_alive, timings};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use nonstop_agent::testing::{desired_group, desired_resource, until};
use nonstop_contract::{Millis, ResourceState as S, RestartCount, RestartMode};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exited_process_is_restarted_at_once_then_given_up_at_the_limit() {
    let mut h = Harness::start(50, 300);
    let mut t = timings(RestartMode::RestartThenFailover, Some(2), 0);
    // Checks far apart: only the pushed failure can explain a fast restart.
    t.looks_alive = Millis::secs(60);
    t.is_alive = Millis::secs(60);
    h.desire(vec![desired_group(
        "g",
        1,
        vec![desired_resource("p", "sleep", &[], t)],
    )]);
    h.wait_state("p", S::Online).await;
    for attempt in 1..=2 {
        let old = h.sleep.running("p").unwrap().pid;
        let killed = Instant::now();
        killpg(Pid::from_raw(old), Signal::SIGKILL).unwrap();
        let pending = h.wait_state("p", S::OnlinePending).await;
        assert_eq!(
            pending.restart,
            Some(RestartCount {
                attempt,
                limit: Some(2)
            })
        );
        h.wait_state("p", S::Online).await;
        let took = killed.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "restart {attempt} took {took:?}"
        );
        assert!(h.sleep.running("p").is_some_and(|r| r.pid != old));
    }
    let last = h.sleep.running("p").unwrap().pid;
    killpg(Pid::from_raw(last), Signal::SIGKILL).unwrap();
    let failed = h.wait_state("p", S::Failed).await;
    assert!(failed.gave_up);
    assert!(failed.message.unwrap().contains("sleep exited"));
    assert!(until(DEADLINE, || !process_alive(last)).await);
    assert!(
        h.sleep.running("p").is_none(),
        "not restarted after giving up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_process() {
    let mut h = Harness::start(50, 300);
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    let resources = (0..5)
        .map(|i| desired_resource(&format!("p{i}"), "sleep", &[], t))
        .collect();
    h.desire(vec![desired_group("g", 1, resources)]);
    let names: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    assert!(
        until(DEADLINE, || names
            .iter()
            .all(|n| h.sleep.running(n).is_some()))
        .await
    );
    h.agent.take().unwrap().shutdown().await.unwrap();
    let records = h.sleep.records();
    assert_eq!(records.len(), 5);
    assert!(
        records
            .iter()
            .all(|r| r.exited.is_some() && !process_alive(r.pid))
    );
}
