//! The raft leader dies while a group is moving: the move completes under the new leader (or
//! is decided again), the group ends Online on exactly one node, and never runs on two.

mod e2e;

use std::time::Duration;

use e2e::{LocalCluster, NODES, text};

#[test]
fn a_move_survives_the_leaders_crash() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    // Arrange owner != leader, so that killing the leader is not a node failure of the owner.
    let mut owner = "osdb-serv";
    let leader = c.leader_node();
    if leader == owner {
        let other = if leader == "osdb-back" {
            "osdb-third"
        } else {
            "osdb-back"
        };
        let out = c.cli(&[
            "group",
            "move",
            "SOCKET_GROUP",
            "--to",
            other,
            "--wait",
            "--timeout",
            "30s",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        owner = other;
    }
    let target = *NODES
        .iter()
        .find(|n| **n != owner && **n != leader)
        .expect("three nodes");
    let watch = c.watch_chat();

    let out = c.cli(&["group", "move", "SOCKET_GROUP", "--to", target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.kill(leader);

    c.wait_online("SOCKET_GROUP", target, Duration::from_secs(30));
    assert!(c.chat_answers(), "the chat server answers on {target}");
    assert!(
        watch.stop() <= 1,
        "the chat server ran on two nodes at once"
    );
    let new_leader = c.leader_node();
    assert_ne!(new_leader, leader, "a new leader took over");
}
