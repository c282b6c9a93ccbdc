//! A node cut off while its processes keep running: its daemon is stopped (SIGSTOP) past the
//! lease. Its watchdog kills the chat server before the group starts on the backup, so the chat
//! server never runs twice; resumed, the node rejoins and the group fails back, once.

mod e2e;

use std::time::{Duration, Instant};

use e2e::{LocalCluster, text};

#[test]
fn a_stopped_daemon_is_fenced_by_its_watchdog_and_rejoins() {
    cut_off("osdb-third");
}

/// The stopped daemon also leads raft: the others elect a new leader, and the backup's agent,
/// whose desired-state stream hangs on the stopped leader, must follow the new one.
#[test]
fn a_stopped_leader_is_fenced_too_and_the_backup_follows_the_new_leader() {
    cut_off("osdb-serv");
}

fn cut_off(leader: &str) {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    let out = c.cli(&["member", "transfer", "--to", leader, "--timeout", "20s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(c.leader_node(), leader);
    assert!(c.chat_answers(), "the chat server answers on its home node");
    let watch = c.watch_chat();
    let others = ["osdb-back", "osdb-third"];

    // The home node's daemon stops; its chat server (a child it can no longer fence) runs on.
    c.signal("osdb-serv", "STOP");
    c.wait_online_via(
        &others,
        "SOCKET_GROUP",
        "osdb-back",
        Duration::from_secs(15),
    );
    assert!(c.chat_answers(), "the chat server answers on the backup");
    assert_eq!(
        c.chat_processes(),
        1,
        "the stopped node's chat server is gone"
    );
    let log = c.log("osdb-serv");
    let fenced = log
        .lines()
        .find(|l| l.contains("watchdog: the agent's lease ran out"));
    assert!(fenced.is_some_and(|l| l.contains("chat")), "{log}");
    eprintln!("{}", fenced.unwrap_or_default());

    // The CLI does not hang on the stopped member (the first of its endpoints): it says which
    // one did not answer and asks the next.
    let start = Instant::now();
    let out = c.cli(&["group", "show", "SOCKET_GROUP", "--output", "json"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&c.url("osdb-serv")) && stderr.contains("no answer"),
        "{stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );

    let max = watch.stop();
    assert!(
        max <= 1,
        "two chat servers at once during the cut-off\n{}",
        c.logs()
    );

    // Resumed: the node comes back Up and the group fails back to it, once.
    let watch = c.watch_chat();
    c.signal("osdb-serv", "CONT");
    c.wait_via(
        &others,
        ("node", "osdb-serv"),
        "Up",
        Duration::from_secs(15),
        |n| n["state"] == "Up",
    );
    c.wait_online_via(
        &e2e::NODES,
        "SOCKET_GROUP",
        "osdb-serv",
        Duration::from_secs(15),
    );
    assert!(
        c.chat_answers(),
        "the chat server answers after the fail-back"
    );

    let max = watch.stop();
    if max > 1 {
        let events = c.cli_via(&e2e::NODES, &["events"]);
        panic!(
            "two chat servers at once after the resume\n{}\n{}",
            c.logs(),
            text(&events.stdout)
        );
    }
    assert_eq!(c.chat_processes(), 1);

    // kill -9 of the daemon: its watchdog outlives it, fences at the lease's end, and exits.
    assert_eq!(c.watchdogs("osdb-serv").len(), 1, "one watchdog per agent");
    let fences = |c: &LocalCluster| {
        let log = c.log("osdb-serv");
        let fenced = |l: &&str| l.contains("fencing ") && !l.contains("fencing 0 resource(s)");
        log.lines().filter(fenced).count()
    };
    let before = fences(&c);
    c.kill("osdb-serv");
    let start = Instant::now();
    while !c.watchdogs("osdb-serv").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the watchdog did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fences(&c), before + 1, "{}", c.log("osdb-serv"));
}
