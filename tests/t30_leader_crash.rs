//! The raft leader dies while a group is moving: the move completes under the new leader (or
//! is decided again), the group ends Online on exactly one node, and never runs on two.

mod e2e;

use std::time::Duration;

use e2e::{ChatWatch, LocalCluster, NODES, cluster_yaml, text};

/// The group Online on its home node, then moved to the third node, the one that neither owns it
/// nor leads raft (owner != leader, so that killing the leader is not a node failure of the
/// owner), with the chat server watched from before the move. Returns the owner, the leader,
/// the target and the watch.
fn a_move_begins(c: &LocalCluster) -> (&'static str, &'static str, &'static str, ChatWatch) {
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    let (owner, leader) = c.owner_apart_from_leader();
    let target = *NODES
        .iter()
        .find(|n| **n != owner && **n != leader)
        .expect("three nodes");
    let watch = c.watch_chat();

    let out = c.cli(&["group", "move", "SOCKET_GROUP", "--to", target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (owner, leader, target, watch)
}

/// The move ends Online on `target`, under a new leader, and never ran on two nodes.
fn the_move_ends(c: &LocalCluster, leader: &str, target: &str, watch: ChatWatch) {
    c.wait_online("SOCKET_GROUP", target, Duration::from_secs(30));
    assert!(c.chat_answers(), "the chat server answers on {target}");
    assert!(
        watch.stop() <= 1,
        "the chat server ran on two nodes at once"
    );
    assert_ne!(c.leader_node(), leader, "a new leader took over");
}

#[test]
fn a_move_survives_the_leaders_crash() {
    let c = LocalCluster::start("fast");
    let (_, leader, target, watch) = a_move_begins(&c);
    c.kill(leader);

    the_move_ends(&c, leader, target, watch);
}

/// A resource that takes two seconds to stop: SIGTERM starts a 2 s wind-down.
const SLOW_TO_STOP: &str = "      - name: slow-to-stop
        type: process
        properties:
          command: /bin/sh
          args: ['-c', 'trap \"sleep 2; exit 0\" TERM; while :; do sleep 0.1; done']
";

/// The leader dies exactly between the two halves of a move: the group's resources are
/// stopping on the old owner (BeginMove committed, Place not yet). The new leader must finish
/// the move: place the group on the destination once the old owner reports it stopped.
#[test]
fn a_move_caught_between_stop_and_place_is_finished_by_the_new_leader() {
    let c = LocalCluster::start_with("fast", |port| cluster_yaml("fast", port) + SLOW_TO_STOP);
    let (owner, leader, target, watch) = a_move_begins(&c);
    // Wait until the move is half done: stopping on the old owner.
    let start = std::time::Instant::now();
    loop {
        let g = c.group("SOCKET_GROUP").expect("the group");
        if g["state"] == "OfflinePending" && g["owner"] == owner {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the move never reached its stop phase: {g}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.kill(leader);

    the_move_ends(&c, leader, target, watch);
}
