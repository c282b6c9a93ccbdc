//! Self-fencing with real processes and real time: when the leader stops acknowledging, every
//! resource is terminated before the lease (counted from the send time of the last acknowledged
//! heartbeat) plus a small margin; nothing starts while the lease is out; once it is back, the
//! agent follows the desired state again.

mod common;

use std::time::Duration;

use common::{DEADLINE, Harness, process_alive, timings};
use nonstop_agent::AgentEvent;
use nonstop_agent::testing::{desired_group, desired_resource, until};
use nonstop_contract::{DesiredGroup, ResourceState as S, RestartMode};
use tokio::time::Instant;

/// The `fast` timing profile: heartbeat 50 ms, lease 300 ms.
const HEARTBEAT_MS: u64 = 50;
const LEASE_MS: u64 = 300;
/// Terminating a `sleep` process group takes a few milliseconds; the margin also covers a
/// loaded two-core test machine.
const MARGIN_MS: u64 = 150;

fn groups(n: usize) -> Vec<DesiredGroup> {
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    (0..n)
        .map(|g| {
            let a = format!("g{g}-a");
            let b = format!("g{g}-b");
            let resources = vec![
                desired_resource(&a, "sleep", &[], t),
                desired_resource(&b, "sleep", &[&a], t),
            ];
            desired_group(&format!("g{g}"), 1, resources)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_terminates_everything_in_time_and_a_regained_one_restarts_it() {
    let mut h = Harness::start(HEARTBEAT_MS, LEASE_MS);
    let desired = groups(3);
    h.desire(desired.clone());
    let names: Vec<String> = (0..3)
        .flat_map(|g| [format!("g{g}-a"), format!("g{g}-b")])
        .collect();
    assert!(
        until(DEADLINE, || names
            .iter()
            .all(|n| h.sleep.running(n).is_some()))
        .await
    );
    let pids: Vec<i32> = names
        .iter()
        .map(|n| h.sleep.running(n).unwrap().pid)
        .collect();

    h.leader.set_acking(false);
    h.wait_event("lease lost", |e| *e == AgentEvent::LeaseLost)
        .await;
    let (last_ack, _) = h.leader.last_ack().expect("heartbeats were acknowledged");
    assert!(until(DEADLINE, || pids.iter().all(|&p| !process_alive(p))).await);
    let records = h.sleep.records();
    let latest_exit = records.iter().filter_map(|r| r.exited).max().unwrap();
    // The last acknowledged heartbeat was sent before the leader received it, so its send
    // time + lease is at most `last_ack + lease`.
    let took = latest_exit.duration_since(last_ack);
    println!("last acknowledged heartbeat -> every resource terminated: {took:?}");
    assert!(
        took <= Duration::from_millis(LEASE_MS + MARGIN_MS),
        "{took:?}"
    );

    // While the lease is out, a desired state changes nothing (a whole lease long).
    let lost_at = Instant::now();
    let mut more = desired.clone();
    more.extend(groups(4).into_iter().skip(3));
    h.desire(more);
    tokio::time::sleep(Duration::from_millis(LEASE_MS)).await;
    assert!(
        h.sleep.records().iter().all(|r| r.started < lost_at),
        "nothing started"
    );

    h.leader.set_acking(true);
    h.wait_event("lease regained", |e| *e == AgentEvent::LeaseRegained)
        .await;
    let all: Vec<String> = (0..4)
        .flat_map(|g| [format!("g{g}-a"), format!("g{g}-b")])
        .collect();
    assert!(
        until(DEADLINE, || all
            .iter()
            .all(|n| h.sleep.running(n).is_some()))
        .await
    );
    h.agent.take().unwrap().shutdown().await.unwrap();
    assert!(h.sleep.records().iter().all(|r| !process_alive(r.pid)));
}

#[tokio::test(start_paused = true)]
async fn a_fenced_resource_is_reported_offline_with_the_reason() {
    let mut h = Harness::start(200, 1000);
    h.one_online("r", "scripted").await;
    h.leader.set_acking(false);
    let mut local = h.agent.as_ref().unwrap().reports();
    let off = nonstop_agent::testing::next_matching(&mut local, DEADLINE, |r| {
        r.resource == "r" && r.state == S::Offline
    })
    .await
    .expect("reported offline");
    assert_eq!(
        off.message.as_deref(),
        Some("lease expired: terminated (self-fenced)")
    );
    assert_eq!(h.scripted.count("r", "terminate"), 1);
    assert_eq!(
        h.scripted.count("r", "offline"),
        0,
        "fencing does not wait for a graceful stop"
    );
}
