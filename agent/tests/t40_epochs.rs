//! Epochs: a desired state older than the one seen is ignored; a group that leaves the node is
//! taken offline and comes back only with a newer placement; groups are independent.

mod common;

use common::{Harness, timings};
use nonstop_agent::AgentEvent;
use nonstop_agent::testing::{Behaviour, desired_group, desired_resource};
use nonstop_contract::{DesiredNode, DesiredResource, ResourceState as S, RestartMode};

fn res(name: &str, online: bool) -> DesiredResource {
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    let mut r = desired_resource(name, "scripted", &[], t);
    r.online = online;
    r
}

#[tokio::test(start_paused = true)]
async fn a_stale_epoch_is_ignored() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![desired_group("g", 5, vec![res("r1", true)])]);
    h.wait_state("r1", S::Online).await;
    // An older placement that would take r1 offline.
    h.desire(vec![desired_group("g", 3, vec![res("r1", false)])]);
    h.wait_event("stale ignored", |e| {
        *e == AgentEvent::DesiredIgnored {
            group: "g".into(),
            epoch: 3,
            seen: 5,
        }
    })
    .await;
    // The current epoch again, with one more resource: r2 comes online and r1 was never touched.
    h.desire(vec![desired_group(
        "g",
        5,
        vec![res("r1", true), res("r2", true)],
    )]);
    h.wait_state("r2", S::Online).await;
    assert_eq!(h.scripted.count("r1", "offline"), 0);
    assert!(h.scripted.is_running("r1"));
}

#[tokio::test(start_paused = true)]
async fn a_group_that_leaves_is_taken_offline_and_returns_only_with_a_newer_epoch() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![
        desired_group("stay", 1, vec![res("s", true)]),
        desired_group("go", 2, vec![res("a", true), res("b", true)]),
    ]);
    h.wait_state("a", S::Online).await;
    h.wait_state("b", S::Online).await;
    h.desire(vec![desired_group("stay", 1, vec![res("s", true)])]);
    h.wait_state("a", S::Offline).await;
    assert!(!h.scripted.is_running("b") && h.scripted.is_running("s"));
    // A late copy of the old placement must not start it again...
    h.desire(vec![
        desired_group("stay", 1, vec![res("s", true)]),
        desired_group("go", 2, vec![res("a", true), res("b", true)]),
    ]);
    h.wait_event(
        "old placement ignored",
        |e| matches!(e, AgentEvent::DesiredIgnored { group, epoch: 2, .. } if group == "go"),
    )
    .await;
    assert!(!h.scripted.is_running("a"));
    // ...a new one does.
    h.desire(vec![
        desired_group("stay", 1, vec![res("s", true)]),
        desired_group("go", 7, vec![res("a", true), res("b", true)]),
    ]);
    h.wait_state("b", S::Online).await;
    assert_eq!(
        h.scripted.count("s", "online"),
        1,
        "the other group was left alone"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_group_does_not_delay_another() {
    let mut h = Harness::start(200, 1000);
    h.scripted.set(
        "stuck",
        Behaviour {
            online_hangs: true,
            ..Behaviour::default()
        },
    );
    h.desire(vec![
        desired_group("slow", 1, vec![res("stuck", true)]),
        desired_group("fast", 1, vec![res("quick", true)]),
    ]);
    let quick = h.wait_state("quick", S::Online).await;
    assert_eq!(quick.group, "fast");
    assert!(!h.scripted.is_running("stuck"));
}

#[tokio::test(start_paused = true)]
async fn a_desired_state_for_another_node_is_ignored() {
    let mut h = Harness::start(200, 1000);
    h.leader.send_desired(DesiredNode {
        node: "elsewhere".into(),
        epoch: 1,
        groups: vec![desired_group("g", 1, vec![res("r", true)])],
        types: Vec::new(),
    });
    h.wait_event("wrong node", |e| {
        *e == AgentEvent::WrongNode("elsewhere".into())
    })
    .await;
    assert_eq!(h.scripted.count("r", "online"), 0);
}
