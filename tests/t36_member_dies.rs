//! A daemon whose raft member dies exits (crash-only), so that a supervisor, here `nonstop up
//! --dir`, starts it again: a panic inside the member's Ready loop (a failpoint) must not leave
//! a process that looks alive while its member answers nothing but "stopped".
//!
//! A daemon held on its way out (alive, its member stopped) counts as not running for `nonstop
//! up --dir`, which stops it and starts it again.
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

/// Waits until process `pid` is gone, or only its zombie is left: every one of its threads
/// (its first thread turns zombie while the others, and its sockets, may still be going).
fn gone(pid: i32) {
    let start = Instant::now();
    let running = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().any(|t| {
            std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .is_some_and(|r| matches!(r.trim_start().chars().next(), Some('Z' | 'X')))
            })
        })
    };
    while running() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cluster in which a follower's daemon is killed and started again with `failpoints`, while
/// the leader is paused: something to write meanwhile, in case nothing else is. Returns the
/// cluster, the leader, the follower and its new daemon.
fn a_follower_restarted_with(
    failpoints: &str,
) -> (
    LocalCluster,
    &'static str,
    &'static str,
    std::process::Child,
) {
    let c = LocalCluster::start("fast");
    let leader = c.leader_node();
    let node = *NODES.iter().find(|n| **n != leader).unwrap();
    let pid = c.pid(node);
    c.kill(node);
    gone(pid);
    let daemon = c.spawn_daemon_with_env(node, &[], &[("FAILPOINTS", failpoints)]);
    let out = c.cli_via(&[leader], &["node", "pause", leader]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (c, leader, node, daemon)
}

#[test]
fn i10_5_a_daemon_whose_raft_member_dies_exits_and_up_starts_it_again() {
    // Its member panics at its first log write: when it catches up with the others.
    let (c, leader, node, mut daemon) = a_follower_restarted_with("raft::before_log_write=panic");
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

#[test]
fn i10_5_up_counts_a_daemon_alive_with_a_stopped_member_as_not_running() {
    // Its member panics, and the daemon hangs on its way out, alive with a stopped member.
    let (c, leader, node, mut daemon) =
        a_follower_restarted_with("raft::before_log_write=panic;daemon::member_stopped=pause");
    let start = Instant::now();
    while !c
        .log(node)
        .contains("exiting so that the supervisor restarts it")
    {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", c.log(node));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon is held");

    let dir = c.dir.to_str().unwrap();
    let out = c.cli(&["up", "--dir", dir, "--wait-secs", "30"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}\n{}",
        text(&out.stderr),
        c.logs()
    );
    let said = format!(
        "{node} (pid {}) runs, but this controller member is stopped (raft member is stopped); \
         another member can answer: stopping it to start it again",
        daemon.id()
    );
    assert!(stdout.contains(&said), "{stdout}");
    assert!(
        stdout.contains(&format!("started {node} again (pid ")),
        "{stdout}"
    );
    assert!(daemon.wait().is_ok());
    let out = c.cli(&["node", "resume", leader]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let start = Instant::now();
    while c.node_state(node).as_deref() != Some("Up") {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", c.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}
