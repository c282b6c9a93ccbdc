//! Fencing with real daemons and Debian's fence_dummy (fence-agents), the outside checker on.
//! A node "loses power": its watchdog, its daemon and the processes they started are killed at
//! once, as when a machine goes dark, so nothing of it can confirm anything. With `fencing:
//! required`, its group starts on the backup only after its fence agent powered it off (the
//! agent's status file says `off`, and the Fenced event comes before the placement); a fence that
//! keeps failing holds the group, visibly, until an admin confirms the node is off.

mod e2e;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use e2e::{LocalCluster, cluster_yaml, marker_name, text};

/// Where fence_dummy is, or `None` (the test is skipped then, except on CI).
fn fence_dummy(test: &str) -> Option<()> {
    let found = ["/usr/sbin/fence_dummy", "/sbin/fence_dummy"]
        .iter()
        .any(|p| Path::new(p).exists());
    if found {
        return Some(());
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI=true: {test} needs fence_dummy (Debian's fence-agents)");
    }
    eprintln!("!!! SKIPPED {test}: needs fence_dummy (apt-get install fence-agents)");
    None
}

/// The chat cluster with `fencing: required` and a fence_dummy method per node (`params`, with
/// `{status}` standing for the node's status file in `dir`), each status file saying `on`.
fn fenced_cluster(dir: &Path, chat_port: u16, params: &str) -> String {
    let mut yaml = cluster_yaml("fast", chat_port);
    let mut nodes = Vec::new();
    for n in ["osdb-serv", "osdb-back", "osdb-third"] {
        let status = dir.join(format!("{n}.status"));
        // fence_dummy reads the status as the file's whole contents, without a newline.
        std::fs::write(&status, "on").unwrap();
        let params = params.replace("{status}", status.to_str().unwrap());
        nodes.push(format!(
            "{{name: {n}, fence: {{agent: fence_dummy, params: {{{params}}}, timeout: 10s}}}}"
        ));
    }
    let old = "nodes: [{name: osdb-serv}, {name: osdb-back}, {name: osdb-third}]";
    assert!(yaml.contains(old));
    yaml = yaml.replace(
        old,
        &format!("fencing: required\nnodes: [{}]", nodes.join(", ")),
    );
    yaml
}

/// Every process of this cluster's chat group now: chat servers and markers (the group runs on
/// one node, so these are its owner's).
fn group_processes(c: &LocalCluster) -> Vec<String> {
    let marker = marker_name(c.chat_port);
    let mut pids: Vec<String> = c.chat_pids().iter().map(|p| p.to_string()).collect();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&marker) {
            pids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    pids
}

/// `node` goes dark: its watchdogs, its daemon and its group's processes killed at once.
/// Everything is stopped (SIGSTOP) before anything is killed, the daemon first: killed one after
/// the other, a daemon that outlived its watchdog by a moment could start a new one (it restarts
/// a watchdog that dies), and that one would see the daemon die and speak for the node, which
/// is exactly what a machine without power cannot do.
fn power_off(c: &LocalCluster, node: &str) {
    c.disturb(&format!("power off {node}"));
    let mut pids: Vec<String> = vec![c.pid(node).to_string()];
    pids.extend(c.watchdogs(node).iter().map(u32::to_string));
    pids.extend(group_processes(c));
    let status = Command::new("kill")
        .arg("-STOP")
        .args(&pids)
        .status()
        .unwrap();
    assert!(status.success(), "kill -STOP {pids:?}");
    // A watchdog started just before the daemon stopped is stopped too.
    for w in c.watchdogs(node) {
        if !pids.contains(&w.to_string()) {
            pids.push(w.to_string());
            let _ = Command::new("kill")
                .arg("-STOP")
                .arg(w.to_string())
                .status();
        }
    }
    let status = Command::new("kill").arg("-9").args(&pids).status().unwrap();
    assert!(status.success(), "kill -9 {pids:?}");
    // Killed processes take a moment to leave /proc; none may be left after that.
    let until = Instant::now() + Duration::from_secs(5);
    while !c.watchdogs(node).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        c.watchdogs(node),
        Vec::<u32>::new(),
        "no watchdog of {node} is left"
    );
}

/// The cluster's events, oldest first.
fn events(c: &LocalCluster) -> Vec<serde_json::Value> {
    let out = c.cli(&["events", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first event whose summary starts with `prefix`: its revision and time (ms).
fn first(events: &[serde_json::Value], prefix: &str) -> Option<(u64, u64)> {
    events
        .iter()
        .find(|e| e["summary"].as_str().is_some_and(|s| s.starts_with(prefix)))
        .map(|e| {
            (
                e["revision"].as_u64().unwrap(),
                e["at_ms"].as_u64().unwrap(),
            )
        })
}

fn node_fence(c: &LocalCluster, node: &str) -> String {
    let out = c.cli(&["node", "show", node, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["fence"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_lost_node_is_powered_off_before_its_group_starts_elsewhere() {
    if fence_dummy("t16").is_none() {
        return;
    }
    let mut c = LocalCluster::start_watched(
        "fast",
        |port, dir| fenced_cluster(dir, port, "status_file: \"{status}\""),
        |rules, _, _| rules,
    );
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let status = c.tmp.path().join("osdb-serv.status");
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "on");

    power_off(&c, "osdb-serv");
    let took = c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    eprintln!("t16: power off -> fenced -> Online on osdb-back: {took:?}");
    let ev = events(&c);
    assert_eq!(
        std::fs::read_to_string(&status).unwrap(),
        "off",
        "the fence agent powered the lost node off; events: {ev:#?}"
    );
    let (fenced, fenced_at) = first(&ev, "* Fenced osdb-serv by fence agent fence_dummy")
        .unwrap_or_else(|| panic!("no Fenced event: {ev:#?}"));
    let (placed, placed_at) = first(&ev, "* Move SOCKET_GROUP ( osdb-serv -> osdb-back )")
        .or_else(|| first(&ev, "* Place SOCKET_GROUP ( osdb-back )"))
        .unwrap_or_else(|| panic!("no placement on osdb-back: {ev:#?}"));
    assert!(first(&ev, "* Fence osdb-serv ( fence agent fence_dummy )").is_some());
    assert!(
        fenced < placed && fenced_at <= placed_at,
        "fenced at revision {fenced}, placed at {placed}"
    );
    // The file was written before the group was placed (the clock is the same machine's).
    let written = std::fs::metadata(&status).unwrap().modified().unwrap();
    let written_ms = written
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        written_ms <= placed_at,
        "status written at {written_ms}, placed at {placed_at}"
    );
    assert!(node_fence(&c, "osdb-serv").starts_with("fenced by fence agent fence_dummy"));
    assert!(c.chat_answers(), "the chat server answers on the backup");

    // The node comes back: its fence state is cleared; the group fails back.
    std::fs::write(&status, "on").unwrap();
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    assert_eq!(node_fence(&c, "osdb-serv"), "");
    c.check();
}

#[test]
fn a_failing_fence_holds_the_group_until_an_admin_confirms() {
    if fence_dummy("t16").is_none() {
        return;
    }
    let mut c = LocalCluster::start_watched(
        "fast",
        // type=fail: fence_dummy fails after power_timeout (1 s) every time.
        |port, dir| fenced_cluster(dir, port, "type: fail, power_timeout: 1"),
        |rules, _, _| rules,
    );
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    // `apply` asks the installed agent for its parameters: one it does not list is refused
    // before anything is sent, naming it.
    let bad = c.tmp.path().join("bad.yaml");
    let yaml = fenced_cluster(c.tmp.path(), c.chat_port, "type: fail, plugg: x");
    std::fs::write(&bad, yaml).unwrap();
    let refused = c.cli(&["apply", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("fence.params.plugg: fence_dummy takes no parameter"),
        "{}",
        text(&refused.stderr)
    );
    // Only the bootstrap's configuration was ever applied.
    let audit = c.cli(&["audit"]);
    assert_eq!(
        text(&audit.stdout).matches("apply configuration").count(),
        1,
        "{}",
        text(&audit.stdout)
    );
    power_off(&c, "osdb-serv");

    // Failures are retried and shown; the group stays with the lost node meanwhile.
    let start = Instant::now();
    while !node_fence(&c, "osdb-serv").contains("failed 2 time(s)") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no second failure: {:?}\n{}",
            node_fence(&c, "osdb-serv"),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(g["owner"], "osdb-serv", "{g}");
    assert!(c.chat_pids().is_empty(), "nothing started elsewhere");
    let ev = events(&c);
    assert!(
        first(&ev, "* Fence osdb-serv failed (attempt 1): ").is_some(),
        "{ev:#?}"
    );
    let list = c.cli(&["node", "list"]);
    assert!(
        text(&list.stdout).contains("fencing failed"),
        "{}",
        text(&list.stdout)
    );

    // Not on a terminal and without --yes: refused, nothing sent.
    let refused = c.cli(&["node", "confirm-fenced", "osdb-serv"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("add --yes"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(c.group("SOCKET_GROUP").unwrap()["owner"], "osdb-serv");

    let ok = c.cli(&["node", "confirm-fenced", "osdb-serv", "--yes"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    let audit = c.cli(&["audit"]);
    assert!(
        text(&audit.stdout).contains("confirm node osdb-serv fenced"),
        "{}",
        text(&audit.stdout)
    );
    assert!(node_fence(&c, "osdb-serv").starts_with("fenced by operator (user admin"));
    c.check();
}

#[test]
fn a_daemon_killed_under_its_watchdog_is_confirmed_stopped_without_its_fence_agent() {
    if fence_dummy("t16").is_none() {
        return;
    }
    // The default timing profile (node_timeout 2 s): the watchdog's word, not the timeout,
    // moves the group.
    let mut c = LocalCluster::start_watched(
        "default",
        |port, dir| {
            fenced_cluster(dir, port, "status_file: \"{status}\"")
                .replace("timing: fast", "timing: default")
        },
        |rules, _, _| rules,
    );
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let watchdogs = c.watchdogs("osdb-serv");
    assert!(!watchdogs.is_empty(), "no watchdog for osdb-serv");

    // Only the daemon dies; its watchdog sees it at once, stops the group's processes and tells
    // the members, as the node, with the list it stopped.
    c.kill("osdb-serv");
    let took = c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    eprintln!("t16: kill -9 of the daemon -> Online on osdb-back: {took:?}");
    let ev = events(&c);
    let (fenced, _) = first(&ev, "* Fenced osdb-serv by its watchdog")
        .unwrap_or_else(|| panic!("no Fenced-by-watchdog event: {ev:#?}"));
    let (placed, _) = first(&ev, "* Move SOCKET_GROUP ( osdb-serv -> osdb-back )")
        .or_else(|| first(&ev, "* Place SOCKET_GROUP ( osdb-back )"))
        .unwrap_or_else(|| panic!("no placement on osdb-back: {ev:#?}"));
    assert!(fenced < placed, "fenced at {fenced}, placed at {placed}");
    let summary = ev
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .find(|s| s.starts_with("* Fenced osdb-serv by its watchdog"))
        .unwrap();
    assert!(
        summary.contains("chat") && summary.contains("marker"),
        "the watchdog names what it stopped: {summary}"
    );
    // The confirmation made the fence agent unnecessary: the machine was never powered off.
    let status = c.tmp.path().join("osdb-serv.status");
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "on");
    assert!(node_fence(&c, "osdb-serv").starts_with("fenced by its watchdog"));
    assert!(c.chat_answers(), "the chat server answers on the backup");

    // The daemon comes back (a new run, with a new number): the group fails back, and the
    // dead run's watchdog is gone.
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    for pid in watchdogs {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the dead run's watchdog {pid} is still there"
        );
    }
    c.check();
}
