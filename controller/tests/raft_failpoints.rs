//! Crash safety: a member killed (a panic at a failpoint) before or after its log write, or
//! before or after it applies a snapshot, restarts from its directory consistent with the
//! others, and no acknowledged command is lost or applied twice.
//!
//! Run: `cargo test -p nonstop-controller --features failpoints --test raft_failpoints`.

#![cfg(feature = "failpoints")]

mod raft_support;

use std::time::Duration;

use nonstop_controller::raft::Exit;
use raft_support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Proposes `range` through the leader, keeping what was acknowledged.
async fn flow(c: &Cluster, range: std::ops::Range<u64>, acked: &mut Vec<u64>) {
    for i in range {
        let Some(node) = c.running().into_iter().next() else {
            return;
        };
        if let Ok(a) = propose(&node, put_node(i), Duration::from_secs(3)).await {
            a.result.unwrap();
            acked.push(i);
        }
    }
}

/// The member whose task died, waiting up to `WAIT`.
async fn dead_member(c: &Cluster) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let dead = c.members.keys().copied().find(|id| {
            let running = c.running().into_iter().find(|n| n.id() == *id);
            running.is_some_and(|n| !n.is_running())
        });
        if let Some(id) = dead {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no member hit the failpoint"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn check(c: &Cluster, acked: &[u64]) {
    let leader = c.leader(WAIT).await;
    let commit = c.node(leader).status().await.unwrap().commit;
    let dbs = c.converged(commit, WAIT).await;
    assert_eq!(dbs.len(), 3);
    assert!(
        dbs.windows(2).all(|w| w[0] == w[1]),
        "members disagree after restart"
    );
    assert_exactly_once(&dbs[0], acked);
}

async fn crash_at_log_write(point: &str) {
    let scenario = fail::FailScenario::setup();
    let mut c = Cluster::start(3, 10).await;
    c.leader(WAIT).await;
    let mut acked = Vec::new();
    flow(&c, 0..5, &mut acked).await;
    fail::cfg(point, "1*panic").unwrap();
    flow(&c, 5..10, &mut acked).await;
    let dead = dead_member(&c).await;
    fail::remove(point);
    c.kill(dead).await;
    c.run(dead, true).await;
    flow(&c, 10..20, &mut acked).await;
    check(&c, &acked).await;
    scenario.teardown();
}

async fn crash_at_snapshot(point: &str) {
    let scenario = fail::FailScenario::setup();
    let mut c = Cluster::start(3, 10).await;
    let leader = c.leader(WAIT).await;
    let lagging = if leader == 3 { 2 } else { 3 };
    c.kill(lagging).await;
    let mut acked = Vec::new();
    flow(&c, 0..30, &mut acked).await;
    fail::cfg(point, "1*panic").unwrap();
    c.run(lagging, true).await;
    assert_eq!(dead_member(&c).await, lagging);
    fail::remove(point);
    c.kill(lagging).await;
    c.run(lagging, true).await;
    flow(&c, 30..35, &mut acked).await;
    check(&c, &acked).await;
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_log_write() {
    crash_at_log_write("raft::before_log_write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_log_write() {
    crash_at_log_write("raft::after_log_write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_snapshot_is_applied() {
    crash_at_snapshot("raft::before_snapshot_apply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_snapshot_is_persisted() {
    crash_at_snapshot("raft::after_snapshot_apply").await;
}

/// A member whose task panics says so, with the panic's message; one shut down says it was
/// asked to. A daemon exits on the first (src/daemon/roles.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_5_a_member_whose_loop_dies_says_why() {
    let scenario = fail::FailScenario::setup();
    let mut c = Cluster::start(3, 10).await;
    c.leader(WAIT).await;
    fail::cfg("raft::before_log_write", "1*panic").unwrap();
    let mut acked = Vec::new();
    flow(&c, 0..5, &mut acked).await;
    let dead = dead_member(&c).await;
    fail::remove("raft::before_log_write");
    let why = tokio::time::timeout(WAIT, c.node(dead).exited()).await;
    assert_eq!(
        why.expect("exited() answers once the task ended"),
        Exit::Failed("panicked: failpoint raft::before_log_write panic".into())
    );
    let other = c.running().into_iter().find(|n| n.id() != dead).unwrap();
    c.shutdown(other.id()).await;
    assert_eq!(other.exited().await, Exit::Requested);
    scenario.teardown();
}
