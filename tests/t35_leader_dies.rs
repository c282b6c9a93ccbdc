//! The raft leader's death costs nobody else their lease: leases are granted by a quorum of
//! members, so while the survivors elect a new leader the chat server on another node keeps
//! running, the very same process, and the dead node is declared Down by the new leader.
//! The default timing profile: its election (1-2 s) outlasts its lease (1 s), which is what
//! made every agent stop everything when leases came from the leader alone.

mod e2e;

use std::time::{Duration, Instant};

use e2e::LocalCluster;

#[test]
fn the_leaders_death_restarts_nothing_on_the_other_nodes() {
    let c = LocalCluster::start("default");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let (owner, leader) = c.owner_apart_from_leader();
    assert!(c.chat_answers(), "the chat server answers on {owner}");
    let before = c.chat_pids();
    assert_eq!(before.len(), 1, "one chat server: {before:?}");

    c.kill(leader);
    let start = Instant::now();
    loop {
        if c.node_state(leader).as_deref() == Some("Down") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{leader} not declared Down\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(c.leader_node(), leader, "a new leader took over");
    assert_eq!(
        c.chat_pids(),
        before,
        "the chat server on {owner} was restarted when the leader died\n{}",
        c.logs()
    );
    let g = c.group("SOCKET_GROUP").expect("the group");
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some(owner))
    );
    assert!(c.chat_answers_now());
}
