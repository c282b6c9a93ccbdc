//! The local restart policy: restarts counted against the limit, each reported with its count,
//! the delay waited, a give-up reported for the controller to fail over, and a new epoch that
//! starts afresh.

mod common;

use std::time::Duration;

use common::{Harness, timings};
use nonstop_agent::testing::{Behaviour, desired_group, desired_resource};
use nonstop_contract::{DesiredGroup, ResourceState as S, RestartCount, RestartMode};
use tokio::time::Instant;

fn group(epoch: u64, mode: RestartMode, limit: Option<u32>, delay_ms: u64) -> DesiredGroup {
    let t = timings(mode, limit, delay_ms);
    desired_group("g", epoch, vec![desired_resource("r", "scripted", &[], t)])
}

#[tokio::test(start_paused = true)]
async fn restarts_up_to_the_limit_after_the_delay_then_gives_up() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![group(
        1,
        RestartMode::RestartThenFailover,
        Some(3),
        250,
    )]);
    h.wait_state("r", S::Online).await;
    for attempt in 1..=3 {
        h.scripted.kill("r");
        let failed = h.wait_state("r", S::Failed).await;
        assert!(!failed.gave_up);
        let at = Instant::now();
        let pending = h.wait_state("r", S::OnlinePending).await;
        assert!(
            at.elapsed() >= Duration::from_millis(250),
            "restart delay waited"
        );
        let expected = RestartCount {
            attempt,
            limit: Some(3),
        };
        assert_eq!(pending.restart, Some(expected));
        h.wait_state("r", S::Online).await;
    }
    h.scripted.kill("r");
    let failed = h.wait_state("r", S::Failed).await;
    assert!(failed.gave_up, "the fourth failure exceeds the limit");
    assert_eq!(h.scripted.count("r", "online"), 4);
    assert!(!h.scripted.is_running("r"));
    // Nothing restarts it, even when the same desired state comes again.
    h.desire(vec![group(
        1,
        RestartMode::RestartThenFailover,
        Some(3),
        250,
    )]);
    h.wait_event("applied", |e| {
        matches!(e, nonstop_agent::AgentEvent::DesiredApplied { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // two seconds in which nothing may happen
    assert_eq!(h.scripted.count("r", "online"), 4);
}

#[tokio::test(start_paused = true)]
async fn a_new_epoch_forgets_failures_and_tries_a_given_up_resource_again() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![group(1, RestartMode::NoRestart, Some(3), 0)]);
    h.wait_state("r", S::Online).await;
    h.scripted.kill("r");
    assert!(h.wait_state("r", S::Failed).await.gave_up);
    h.desire(vec![group(2, RestartMode::NoRestart, Some(3), 0)]);
    let pending = h.wait_state("r", S::OnlinePending).await;
    assert_eq!(pending.epoch, 2);
    assert_eq!(pending.restart, None, "a fresh start, not a restart");
    h.wait_state("r", S::Online).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_online_counts_as_a_failure_and_gives_up_after_the_limit() {
    let mut h = Harness::start(200, 1000);
    h.scripted.set(
        "r",
        Behaviour {
            online_fails: true,
            ..Behaviour::default()
        },
    );
    h.desire(vec![group(1, RestartMode::Restart, Some(2), 0)]);
    loop {
        let failed = h.wait_state("r", S::Failed).await;
        assert!(failed.message.unwrap().contains("online failed"));
        if failed.gave_up {
            break;
        }
    }
    assert_eq!(
        h.scripted.count("r", "online"),
        3,
        "the first try and two restarts"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_policy_keeps_restarting() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![group(1, RestartMode::Restart, None, 0)]);
    h.wait_state("r", S::Online).await;
    for attempt in 1..=20 {
        h.scripted.kill("r");
        let pending = h.wait_state("r", S::OnlinePending).await;
        assert_eq!(
            pending.restart,
            Some(RestartCount {
                attempt,
                limit: None
            })
        );
        h.wait_state("r", S::Online).await;
    }
}
