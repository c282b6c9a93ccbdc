//! Issue 10 ("never harm what it protects") and issue 17 ("the safety argument in the code")
//! with real daemons, watched from outside (tests/e2e/checker.rs): each test is named after
//! the item it pins down, and fails on the code before the fix.

mod e2e;

use std::time::{Duration, Instant};

use e2e::{BIN, LocalCluster, free_ports, marker_name, text};

/// Item 10.1: resources were SIGKILLed about 10 s after they started, with no fault: the
/// parent-death signal was tied to a tokio thread that the runtime retired. Four moves three
/// seconds apart, then 25 s in which nothing may happen: no exit, no failure, the same pids.
#[test]
fn i10_1_no_resource_dies_while_nobody_touches_the_cluster() {
    let c = LocalCluster::start("default");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    for to in ["osdb-back", "osdb-third", "osdb-serv", "osdb-back"] {
        c.disturb_for(&format!("move to {to}"), Duration::from_secs(3));
        c.move_and_wait(to);
        std::thread::sleep(Duration::from_secs(3));
    }
    let before = (c.chat_pids(), marker_pids(&c));
    std::thread::sleep(Duration::from_secs(25));
    let after = (c.chat_pids(), marker_pids(&c));
    assert_eq!(
        before, after,
        "a resource was replaced while nothing happened"
    );
    assert_eq!(before.0.len(), 1);
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some("osdb-back"))
    );
}

fn marker_pids(c: &LocalCluster) -> Vec<i32> {
    pids_with(&marker_name(c.chat_port))
}

fn pids_with(needle: &str) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.contains(needle))
        })
        .collect();
    out.sort();
    out
}

/// Item 10.2: `apply` of a file without the node a group runs on placed the group elsewhere
/// 6 ms later while it still ran. Refused now, and `--dry-run` says the same; nothing changes.
#[test]
fn i10_2_applying_a_file_that_removes_a_busy_node_is_refused() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let pids = c.chat_pids();
    let yaml = std::fs::read_to_string(c.tmp.path().join("cluster.yaml")).unwrap();
    let without = yaml.replace("{name: osdb-serv}, ", "").replace(
        "owners: [osdb-serv, osdb-back, osdb-third]",
        "owners: [osdb-back, osdb-third]",
    );
    let file = c.tmp.path().join("without-serv.yaml");
    std::fs::write(&file, without).unwrap();
    for dry in [true, false] {
        let mut args = vec!["apply", file.to_str().unwrap()];
        if dry {
            args.push("--dry-run");
        }
        let out = c.cli(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dry run {dry}: {err}");
        assert!(
            err.contains("owns group \"SOCKET_GROUP\": drain it first"),
            "dry run {dry}: {err}"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some("osdb-serv"))
    );
    assert_eq!(c.chat_pids(), pids, "nothing was restarted");
}

/// Item 10.3: a report alone (here a forged `AgentService.Report` saying the marker gave up)
/// made the leader place the group elsewhere while its owner still ran it; the marker takes
/// 4 s to stop after SIGTERM, and the two copies ran together. Now the group moves only once
/// its owner confirms the stop: at most one marker at any instant.
#[test]
fn i10_3_a_forged_report_does_not_free_a_group_that_still_runs() {
    let mut c = LocalCluster::start_with("fast", |port| {
        e2e::cluster_yaml("fast", port).replace("--term-delay, 1s", "--term-delay, 4s")
            + "        timings: {pending_timeout: 30s}\n"
    });
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let g = c.group("SOCKET_GROUP").unwrap();
    let epoch = g["epoch"].as_u64().unwrap();
    let leader = c.url(c.leader_node());
    c.disturb("forged report");
    // With the node's own identity: only its certificate may speak for it (a forger without
    // it is refused, tests/t15_identity.rs); what is tested here is a report that lies.
    let identity = c.dir.join("osdb-serv").join("tls");
    forge_gave_up(
        &leader,
        &identity,
        "osdb-serv",
        "marker",
        "SOCKET_GROUP",
        epoch,
    );
    // The leader believes it and moves the group, which takes the marker's 4 s to stop.
    let took = {
        let start = Instant::now();
        loop {
            let g = c.group("SOCKET_GROUP").unwrap();
            if g["owner"] != "osdb-serv" && g["state"] == "Online" {
                break start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never moved: {g}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    eprintln!("forged report -> Online elsewhere: {took:?}");
    assert!(
        took >= Duration::from_secs(3),
        "placed before the old copy stopped: {took:?}"
    );
    let checker = c.checker.as_ref().unwrap();
    assert_eq!(checker.most("marker"), 1, "{}", checker.report());
    c.check();
}

/// Sends an `AgentService.Report` as if from `node`'s agent (with the node's identity folder
/// `identity`): `resource` Failed, given up.
fn forge_gave_up(
    leader: &str,
    identity: &std::path::Path,
    node: &str,
    resource: &str,
    group: &str,
    epoch: u64,
) {
    use nonstop_proto::agent as apb;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let links = nonstop_pki::Links::from(nonstop_pki::Tls::load(identity).unwrap());
        let address = leader.split_once("://").map_or(leader, |(_, a)| a);
        let channel = links.endpoint(address).unwrap().connect().await.unwrap();
        let mut client = apb::agent_service_client::AgentServiceClient::new(channel);
        let t = apb::ResourceTransition {
            resource: resource.into(),
            group: group.into(),
            epoch,
            state: apb::ResourceState::Failed as i32,
            gave_up: true,
            message: "forged".into(),
            ..Default::default()
        };
        let batch = apb::ReportBatch {
            node: node.into(),
            reports: vec![apb::AgentReport {
                kind: Some(apb::agent_report::Kind::Transition(t)),
            }],
            ..Default::default()
        };
        client.report(batch).await.unwrap();
    });
}

/// Item 17.3: what an `online` starts was recorded only once `online` returned. A daemon
/// stopped (SIGSTOP) in the middle of a slow online left its watchdog nothing to fence, and the
/// program it was starting ran on while the group started elsewhere. Here the program takes
/// 3 s before it answers; osdb-back's daemon is stopped 1 s into its start.
#[test]
fn i17_3_a_daemon_stopped_during_a_slow_online_is_fenced_by_its_watchdog() {
    // Chosen once the cluster's turn has come (another test's cluster may take a port before).
    let slow_port = std::cell::Cell::new(0u16);
    let needle = |port: u16| format!("chat-server --listen 127.0.0.1:{port}");
    let mut c = LocalCluster::start_watched(
        "fast",
        |port, _| {
            slow_port.set(free_ports(1));
            e2e::cluster_yaml("fast", port)
                + &format!(
                    "  - name: SLOW_GROUP
    owners: [osdb-serv, osdb-back, osdb-third]
    resources:
      - name: slow
        type: process
        properties:
          command: sh
          args: [-c, \"sleep 3; exec {BIN} example {}\"]
          check_tcp: \"127.0.0.1:{}\"
",
                    needle(slow_port.get()),
                    slow_port.get()
                )
        },
        |rules, _, _| rules.process("slow server", &needle(slow_port.get())),
    );
    let needle = needle(slow_port.get());
    c.wait_online("SLOW_GROUP", "osdb-serv", Duration::from_secs(30));
    let out = c.cli(&["group", "move", "SLOW_GROUP", "--to", "osdb-back"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Wait until osdb-back is starting it, then stop that daemon in the middle.
    let start = Instant::now();
    while pids_with(&needle).is_empty() || c.group("SLOW_GROUP").unwrap()["owner"] != "osdb-back" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the start on osdb-back never began"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(800));
    c.signal("osdb-back", "STOP");
    let start = Instant::now();
    loop {
        let g = c.show_via(&["osdb-serv", "osdb-third"], "group", "SLOW_GROUP");
        if g.as_ref()
            .is_some_and(|g| g["state"] == "Online" && g["owner"] != "osdb-back")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never failed over: {g:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Long enough for a start that escaped the fence to reach its exec.
    std::thread::sleep(Duration::from_secs(4));
    c.signal("osdb-back", "CONT");
    let checker = c.checker.as_ref().unwrap();
    assert_eq!(checker.most("slow server"), 1, "{}", checker.report());
    c.check();
}

/// The chat server's greeting through its port, within 5 s: `(node, MaxUser)`.
fn greeting(port: u16) -> Option<String> {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line)
}

/// Item 17.4: any property change restarted the resource; a `nonstop apply` that only lowered
/// MaxUser was an outage. Now the dry run says it changes in place, the chat server keeps its
/// pid, and new users are told the new MaxUser.
#[test]
fn i17_4_lowering_max_user_changes_it_in_place() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    assert!(c.chat_answers());
    let pids = (c.chat_pids(), marker_pids(&c));
    let yaml = std::fs::read_to_string(c.tmp.path().join("cluster.yaml")).unwrap();
    let file = c.tmp.path().join("max-user-5.yaml");
    std::fs::write(&file, yaml.replace("MaxUser: 10", "MaxUser: 5")).unwrap();
    let dry = c.cli(&["apply", file.to_str().unwrap(), "--dry-run"]);
    let shown = text(&dry.stdout) + &text(&dry.stderr);
    assert!(dry.status.success(), "{shown}");
    assert!(
        shown.contains("resource chat changed in place, no restart"),
        "{shown}"
    );
    let out = c.cli(&["apply", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let start = Instant::now();
    loop {
        if greeting(c.chat_port).is_some_and(|g| g.contains("(MaxUser 5)")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "MaxUser never became 5"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!((c.chat_pids(), marker_pids(&c)), pids, "restarted");
    // A change that needs a restart says so.
    std::fs::write(&file, yaml.replace("--term-delay, 1s", "--term-delay, 2s")).unwrap();
    let dry = c.cli(&["apply", file.to_str().unwrap(), "--dry-run"]);
    let shown = text(&dry.stdout);
    assert!(
        shown.contains("resource marker restarts (for args)"),
        "{shown}"
    );
}

/// Item 17.5: agents kept the heartbeat pace they registered with while a new timing applied
/// at once: `fast` on a `default` cluster meant 200 ms heartbeats against a 300 ms lease, and
/// every resource fenced itself over and over. Now the pace follows the profile: the chat
/// server keeps its pid through both changes.
#[test]
fn i17_5_changing_the_timing_of_a_running_cluster_stops_nothing() {
    let c = LocalCluster::start("default");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let pids = (c.chat_pids(), marker_pids(&c));
    let yaml = std::fs::read_to_string(c.tmp.path().join("cluster.yaml")).unwrap();
    for timing in ["fast", "default"] {
        let file = c.tmp.path().join(format!("{timing}.yaml"));
        std::fs::write(
            &file,
            yaml.replace("timing: default", &format!("timing: {timing}")),
        )
        .unwrap();
        let out = c.cli(&["apply", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::thread::sleep(Duration::from_secs(8));
        assert_eq!(
            (c.chat_pids(), marker_pids(&c)),
            pids,
            "restarted after {timing}"
        );
    }
    let lost: usize = e2e::NODES
        .iter()
        .map(|n| c.log(n).matches("lease expired").count())
        .sum();
    assert_eq!(lost, 0, "{}", c.logs());
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(g["state"], "Online");
}

/// Item 10.7: what `status` reports comes from a linearizable read, or it says it could not.
/// Two of the three members stopped (SIGSTOP): the third cannot read at quorum, and `status`
/// says so (exit 2) instead of printing the last state it knew (Online) while nothing runs.
#[test]
fn i10_7_status_without_a_quorum_says_it_cannot_read() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    c.signal("osdb-back", "STOP");
    c.signal("osdb-third", "STOP");
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let out = c.cli_via(&["osdb-serv"], &["status", "-o", "json"]);
    let took = started.elapsed();
    c.signal("osdb-back", "CONT");
    c.signal("osdb-third", "CONT");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).is_empty(),
        "printed a state: {}",
        text(&out.stdout)
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
}

/// Item 17.2 with real daemons: a check failure that gives up, on a resource whose stop takes
/// 2 s (an exec plug-in whose terminate is slow): the group moves to the backup only once the
/// old copy is stopped. Before, Failed was reported before the terminate, the group was placed
/// at once, and the two copies overlapped for the length of the stop. This also runs a plug-in
/// through the daemon past its first is_alive (issue 17, item 8).
#[test]
fn i17_2_a_give_up_moves_the_group_only_after_the_slow_stop() {
    let plugin_dir = tempfile::tempdir().unwrap();
    let plugin = plugin_dir.path().join("slowstop");
    let flag = plugin_dir.path().join("broken");
    let tag = format!("nonstop-slowstop-{}", std::process::id());
    std::fs::write(
        &plugin,
        format!(
            r#"#!/bin/sh
pid="$NONSTOP_DATA_DIR/pid"
running() {{ [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; }}
case "$1" in
meta-data) echo '{{"properties": [{{"name": "message", "type": "string", "default": "hello"}}]}}' ;;
validate) [ "$NONSTOP_PROP_message" = hello ] || exit 2 ;;
online) running && exit 0
  nohup {BIN} example hold {tag} >/dev/null 2>&1 &
  echo $! > "$pid" ;;
offline|terminate) sleep 2; running && kill -KILL "$(cat "$pid")"; rm -f "$pid" ;;
looks-alive|is-alive) [ -f {flag} ] && exit 7; running || exit 7 ;;
*) exit 3 ;;
esac
"#,
            flag = flag.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", plugin.to_str().unwrap()])
        .status()
        .unwrap();
    let tag_for_rules = tag.clone();
    let mut c = LocalCluster::start_watched(
        "fast",
        |port, _| {
            e2e::cluster_yaml("fast", port).replace(
                "types:\n",
                &format!(
                    "types:\n  - {{name: slowstop, exec: {}}}\n",
                    plugin.display()
                ),
            ) + "  - name: SLOW_STOP
    owners: [osdb-serv, osdb-back, osdb-third]
    resources:
      - name: slowstop
        type: slowstop
        timings: {looks_alive: 200ms, restart: {mode: no-restart}}
"
        },
        |rules, _, _| rules.process("slow-stopping daemon", &tag_for_rules),
    );
    c.wait_online("SLOW_STOP", "osdb-serv", Duration::from_secs(30));
    // Past the first is_alive (10 s after the start): the plug-in's defaults reached it.
    std::thread::sleep(Duration::from_secs(11));
    let g = c.group("SLOW_STOP").unwrap();
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some("osdb-serv"))
    );
    c.disturb("break the slow-stopping resource");
    std::fs::write(&flag, "").unwrap();
    let start = Instant::now();
    loop {
        let g = c.group("SLOW_STOP").unwrap();
        if g["owner"] != "osdb-serv" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never moved: {g}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let moved = start.elapsed();
    std::fs::remove_file(&flag).unwrap();
    c.wait_online("SLOW_STOP", "osdb-back", Duration::from_secs(30));
    eprintln!("broken -> placed elsewhere after {moved:?}");
    assert!(
        moved >= Duration::from_secs(2),
        "placed during the 2 s stop: {moved:?}"
    );
    let checker = c.checker.as_ref().unwrap();
    assert_eq!(
        checker.most("slow-stopping daemon"),
        1,
        "{}",
        checker.report()
    );
    c.check();
}
