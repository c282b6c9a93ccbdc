//! `nonstop run --drain`: on SIGTERM a node's daemon moves its groups to another owner before
//! it exits, the chat server never runs on two nodes, and the daemon exits with status 0.

mod e2e;

use std::time::{Duration, Instant};

use e2e::LocalCluster;

#[test]
fn a_draining_daemon_moves_its_group_away_before_it_exits() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));

    // Run the home node's daemon again, with --drain: the group fails over while it is down
    // and comes back to it when it returns.
    c.kill("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(15));
    let mut daemon = c.restart_draining("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    assert!(c.chat_answers(), "the chat server answers on its home node");

    let watch = c.watch_chat();
    let pid = nix::unistd::Pid::from_raw(daemon.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = daemon.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the draining daemon did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The moment it has exited, the group already runs on the first backup: it was moved,
    // not failed over after the node went silent.
    let g = c.group("SOCKET_GROUP").expect("the cluster answers");
    assert_eq!(
        (&g["state"], &g["owner"]),
        (&"Online".into(), &"osdb-back".into()),
        "{g}"
    );
    assert_eq!(status.code(), Some(0), "{}", c.logs());
    assert!(c.chat_answers(), "the chat server answers on the backup");
    assert!(
        watch.stop() <= 1,
        "the chat server ran on two nodes at once"
    );
    assert_eq!(c.chat_processes(), 1);
}
