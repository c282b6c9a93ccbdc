//! Real daemons on loopback: the chat group comes online on its home node, moves to the first
//! backup when the home node's daemon is killed, comes back when it returns, moves on an
//! operator's command and away from a paused node; and it never runs on two nodes at once.

mod e2e;

use std::time::Duration;

use e2e::{LocalCluster, text};

#[test]
fn the_chat_group_fails_over_and_back_and_never_runs_twice() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    assert!(c.chat_answers(), "the chat server answers on its home node");
    let watch = c.watch_chat();

    // The home node's daemon dies: its chat server dies with it, and the group starts on the
    // first backup once node_timeout has passed (600 ms in the fast profile).
    c.kill("osdb-serv");
    let took = c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(15));
    assert!(
        c.chat_answers(),
        "the chat server answers after the fail-over"
    );
    eprintln!("kill -> Online on osdb-back: {took:?}");

    // The home node comes back (`nonstop up` on the folder starts what is not running): fail-back.
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    assert!(c.chat_answers());
    let pids: Vec<i32> = ["osdb-serv", "osdb-back", "osdb-third"]
        .iter()
        .map(|n| c.pid(n))
        .collect();

    // `up` on a folder that holds a cluster refuses what would describe another cluster (its
    // database keeps its own configuration), and refuses when everything runs; neither starts
    // or stops anything.
    let dir = c.dir.to_str().unwrap();
    let again = c.cli(&["up", "cluster.yaml", "--dir", dir]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("holds a cluster already"),
        "{}",
        text(&again.stderr)
    );
    let again = c.cli(&["up", "--dir", dir]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("every node of")
            && text(&again.stderr).contains("is already running"),
        "{}",
        text(&again.stderr)
    );
    let after: Vec<i32> = ["osdb-serv", "osdb-back", "osdb-third"]
        .iter()
        .map(|n| c.pid(n))
        .collect();
    assert_eq!(pids, after, "the refused `up`s changed no daemon");

    // An operator moves it and waits.
    let out = c.cli(&[
        "group",
        "move",
        "SOCKET_GROUP",
        "--to",
        "osdb-third",
        "--wait",
        "--timeout",
        "30s",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("SOCKET_GROUP online on osdb-third after"),
        "{}",
        text(&out.stdout)
    );

    // Pausing the node drains it: the group goes to the best owner that may take it.
    let out = c.cli(&["node", "pause", "osdb-third"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    assert!(c.chat_answers());

    assert!(
        watch.stop() <= 1,
        "the chat server ran on two nodes at once"
    );
    assert_eq!(c.chat_processes(), 1);
}
