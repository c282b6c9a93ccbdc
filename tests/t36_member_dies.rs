//! A daemon whose raft member dies exits (crash-only), so that a supervisor, here `nonstop up
//! --dir`, starts it again: a panic inside the member's Ready loop (a failpoint) must not leave
//! a process that looks alive while its member answers nothing but "stopped".
//!
//! Run: `cargo test --features failpoints --test t36_member_dies`.

#![cfg(feature = "failpoints")]

mod e2e;

use std::time::{Duration, Instant};

use e2e::{LocalCluster, NODES, text};

/// Waits up to `within` for `child` to exit; its status.
fn exit_of(child: &mut std::process::Child, within: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits until no process has `pid` (or only its zombie is left).
fn gone(pid: i32) {
    let start = Instant::now();
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn i10_5_a_daemon_whose_raft_member_dies_exits_and_up_starts_it_again() {
    let c = LocalCluster::start("fast");
    let leader = c.leader_node();
    let node = *NODES.iter().find(|n| **n != leader).unwrap();
    let pid = c.pid(node);
    c.kill(node);
    gone(pid);
    // Its member panics at its first log write: when it catches up with the others.
    let mut daemon =
        c.spawn_daemon_with_env(node, &[], &[("FAILPOINTS", "raft::before_log_write=panic")]);
    // Something to write meanwhile, in case nothing else is.
    let out = c.cli_via(&[leader], &["node", "pause", leader]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = exit_of(&mut daemon, Duration::from_secs(30));
    let log = c.log(node);
    let status = status.unwrap_or_else(|| {
        let _ = daemon.kill();
        panic!("the daemon of {node} still runs with a dead member:\n{log}")
    });
    assert!(!status.success(), "{status:?}\n{log}");
    assert!(
        log.contains(
            "raft member stopped: panicked: failpoint raft::before_log_write panic; \
             exiting so that the supervisor restarts it"
        ),
        "{log}"
    );
    // Started again without the failpoint, it catches up and its node is Up.
    c.restart(node);
    let out = c.cli(&["node", "resume", leader]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let start = Instant::now();
    while c.node_state(node).as_deref() != Some("Up") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{node} not Up again: {:?}\n{}",
            c.node_state(node),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
