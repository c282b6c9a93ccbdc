//! `nonstop drill` against a local cluster of real daemons, the outside checker on: each
//! built-in scenario passes once and leaves the cluster as it found it; a drill on a degraded
//! cluster is refused with the reason; `--expect-under 1ms` fails with exit 4; an interrupted
//! drill restores the cluster; the HTML report and the JUnit XML are what they claim to be; a
//! partition (nftables rules the node's own daemon installs) moves the group and heals by
//! itself, leaving no rule behind.

mod e2e;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{BIN, LocalCluster, cluster_yaml, text};

/// The chat cluster (fast timing), allowed to fail over as often as a drill makes it.
fn drill_cluster() -> LocalCluster {
    LocalCluster::start_with("fast", |port| {
        let yaml = cluster_yaml("fast", port);
        let old = "    owners: [osdb-serv, osdb-back, osdb-third]\n";
        assert!(yaml.contains(old));
        yaml.replace(
            old,
            &format!("{old}    failover_limit: {{count: 1000, window: 1h}}\n"),
        )
    })
}

/// Runs a drill; its exit code and its JSON report (`Null` when it printed none).
fn drill(c: &LocalCluster, args: &[&str]) -> (i32, serde_json::Value, String) {
    // A drill disturbs the cluster for as long as it runs, restores included.
    c.disturb_for(
        &format!("drill {}", args.join(" ")),
        Duration::from_secs(120),
    );
    let mut all = vec!["drill", "run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--yes", "-o", "json"]);
    let out = c.cli(&all);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap_or(-1), json, text(&out.stderr))
}

/// The cluster is as a drill must leave it: every node Up, the group Online at home.
fn as_found(c: &LocalCluster) {
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    for n in ["osdb-serv", "osdb-back", "osdb-third"] {
        assert_eq!(c.node_state(n).as_deref(), Some("Up"), "node {n}");
    }
}

fn phase_names(round: &serde_json::Value) -> Vec<String> {
    round["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// The events' summaries, as osdb-back keeps them (no drill here restarts it: a member that
/// started again keeps only what its raft log replays).
fn summaries(c: &LocalCluster) -> Vec<String> {
    let out = c.cli_via(&["osdb-back"], &["events", "-o", "json"]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    ev.as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["summary"].as_str().map(String::from))
        .collect()
}

#[test]
fn every_built_in_scenario_passes_and_leaves_the_cluster_as_it_found_it() {
    let mut c = drill_cluster();
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let list = c.cli(&["drill", "list"]);
    for s in [
        "node-crash",
        "node-freeze",
        "partition",
        "resource-crash",
        "leader-crash",
        "move",
        "drain",
    ] {
        assert!(text(&list.stdout).contains(s), "{}", text(&list.stdout));
    }
    let report = c.tmp.path().join("report.html");
    let junit = c.tmp.path().join("junit.xml");
    let all = ["detected", "decided", "stopped", "started", "answering"];
    let cases: [(&str, &[&str], &str); 6] = [
        ("node-crash", &all, "osdb-back"),
        ("leader-crash", &all, "osdb-back"),
        ("resource-crash", &all, "osdb-serv"),
        ("node-freeze", &all, "osdb-back"),
        ("move", &all[1..], "osdb-back"),
        ("drain", &all[1..], "osdb-back"),
    ];
    for (scenario, phases, to) in cases {
        let started = Instant::now();
        let mut args = vec![scenario];
        if scenario == "node-crash" {
            args.extend(["--report", report.to_str().unwrap()]);
            args.extend(["--junit", junit.to_str().unwrap()]);
        }
        let (code, json, stderr) = drill(&c, &args);
        eprintln!("t70: {scenario} took {:?}: {json}", started.elapsed());
        assert_eq!(code, 0, "{scenario}: {stderr}\n{json:#}\n{}", c.logs());
        assert_eq!(json["scenario"], scenario);
        assert_eq!(json["verdict"], "pass");
        let round = &json["rounds"][0];
        assert_eq!(round["from"], "osdb-serv", "{scenario}");
        assert_eq!(round["to"], to, "{scenario}");
        assert_eq!(round["overlap_ms"], 0, "{scenario}");
        let mut seen = phase_names(round);
        seen.sort();
        let mut want: Vec<String> = phases.iter().map(|p| p.to_string()).collect();
        want.sort();
        assert_eq!(seen, want, "{scenario}: {round:#}");
        let total = round["total_ms"].as_u64().unwrap();
        let last = round["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["at_ms"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(total, last, "{scenario}");
        assert_eq!(json["summary"]["p50_ms"].as_u64(), Some(total));
        as_found(&c);
        // Audited, and in the history: begun, one round, ended with the verdict.
        let id = json["id"].as_str().unwrap();
        let ev = summaries(&c);
        assert!(
            ev.iter()
                .any(|e| e.starts_with(&format!("* Drill {id} started: {scenario}")))
        );
        assert!(
            ev.iter()
                .any(|e| e.starts_with(&format!("* Drill {id} step: round 1:")))
        );
        assert!(
            ev.iter().any(|e| *e
                == format!("* Drill {id} ended: pass: 1 round(s), p50 {total} ms, p99 {total} ms")),
            "{ev:#?}"
        );
    }
    // The crashed and the frozen daemons were started again and continued: new pids for the
    // crashed ones, and nothing is left stopped.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "{html}"
    );
    assert!(!html.contains("https://") && !html.contains("src=\"http"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit XML parses");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 1);
    assert!(!doc.descendants().any(|n| n.has_tag_name("failure")));
    let audit = text(&c.cli(&["audit"]).stdout);
    assert_eq!(audit.matches("started: ").count(), 6, "{audit}");
    c.check();
}

#[test]
fn a_drill_that_cannot_pass_or_should_not_start_says_why() {
    let mut c = drill_cluster();
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    // A bound nobody meets: the round runs, the verdict is fail, exit 4, and the cluster is
    // restored all the same.
    let (code, json, stderr) = drill(&c, &["move", "--expect-under", "1ms"]);
    assert_eq!(code, 4, "{stderr}\n{json:#}");
    assert_eq!(json["verdict"], "fail");
    let failures = json["rounds"][0]["failures"].to_string();
    assert!(
        failures.contains("not under 1 ms (--expect-under)"),
        "{failures}"
    );
    as_found(&c);

    // Bad input: refused before anything happens, naming what.
    for (args, want) in [
        (vec!["explode"], "unknown scenario \"explode\""),
        (
            vec!["move", "--group", "NOPE"],
            "--group: unknown group \"NOPE\"",
        ),
        (
            vec!["move", "--resource", "chat"],
            "--resource: scenario move kills no resource",
        ),
        (
            vec!["resource-crash", "--resource", "nope"],
            "--resource: \"nope\" is not a resource",
        ),
    ] {
        let (code, _, stderr) = drill(&c, &args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // Without --yes and without a terminal, nothing happens.
    let out = c.cli(&["drill", "run", "move"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));

    // A degraded cluster: one node gone, so no member to spare. Refused, naming both reasons,
    // and nothing is done (no drill recorded, the group stays).
    c.kill("osdb-third");
    let start = Instant::now();
    while c.node_state("osdb-third").as_deref() != Some("Down") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "osdb-third not Down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let drills = |c: &LocalCluster| {
        summaries(c)
            .iter()
            .filter(|e| e.starts_with("* Drill"))
            .count()
    };
    let before = drills(&c);
    let (code, _, stderr) = drill(&c, &["node-crash"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the cluster is not ready for a drill"),
        "{stderr}"
    );
    assert!(stderr.contains("node osdb-third is Down"), "{stderr}");
    assert!(stderr.contains("with one to spare"), "{stderr}");
    assert_eq!(drills(&c), before, "a refused drill records nothing");
    assert_eq!(c.group("SOCKET_GROUP").unwrap()["owner"], "osdb-serv");
    c.restart("osdb-third");
    c.check();
}

#[test]
fn an_interrupted_drill_puts_the_cluster_back_and_a_second_drill_waits_for_it() {
    let mut c = drill_cluster();
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    c.disturb_for("interrupted drill", Duration::from_secs(120));
    let child = Command::new(BIN)
        .args([
            "drill",
            "run",
            "node-freeze",
            "--yes",
            "--rounds",
            "3",
            "-o",
            "json",
        ])
        .current_dir(c.tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the frozen node is Down and the group moved, interrupt the drill.
    let start = Instant::now();
    while c.node_state("osdb-serv").as_deref() != Some("Down") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "osdb-serv never Down"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Meanwhile no second drill may start (--force would take over, for a drill that died).
    let (code, _, stderr) = drill(&c, &["move"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("another drill is running: node-freeze-"),
        "{stderr}"
    );
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "fail");
    // Interrupted during round 1 or 2 (the refused drill above takes its time): never all 3.
    let rounds = json["rounds"].as_array().unwrap().len();
    assert!((1..3).contains(&rounds), "{json:#}");
    // The drill waited for the frozen daemon to come back and moved the group home.
    as_found(&c);
    let id = json["id"].as_str().unwrap();
    assert!(
        summaries(&c)
            .iter()
            .any(|e| *e == format!("* Drill {id} ended: interrupted after {rounds} round(s)")),
    );
    // Over: another drill may run.
    let (code, json, stderr) = drill(&c, &["move"]);
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    as_found(&c);
    c.check();
}

#[test]
fn a_node_injects_a_fault_only_on_itself_and_only_for_an_operator() {
    use nonstop_pki::{Links, Tls};
    use nonstop_proto::drill as dpb;
    use nonstop_proto::drill::drill_service_client::DrillServiceClient;

    let mut c = drill_cluster();
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let dir = c.dir.to_str().unwrap().to_string();
    let vic = c.tmp.path().join("vic");
    let out = c.cli(&[
        "cert",
        "user",
        "vic",
        "--role",
        "viewer",
        "--ca",
        &format!("{dir}/ca"),
        "--out",
        vic.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let back = c
        .url("osdb-back")
        .trim_start_matches("https://")
        .to_string();
    let serv_pid = c.pid("osdb-serv");
    let back_pid = c.pid("osdb-back");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = |who: std::path::PathBuf| {
            let links = Links::from(Tls::load(&who).unwrap());
            let ep = links.endpoint(&back).unwrap();
            async move { DrillServiceClient::new(ep.connect().await.unwrap()) }
        };
        let crash = |node: &str| dpb::InjectRequest {
            node: node.into(),
            fault: dpb::Fault::CrashDaemon as i32,
            ..Default::default()
        };
        // The admin asks osdb-back's daemon to crash osdb-serv: refused, nothing done.
        let mut admin = client(c.dir.join("admin")).await;
        let s = admin.inject(crash("osdb-serv")).await.unwrap_err();
        assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}");
        assert!(
            s.message()
                .contains("runs node \"osdb-back\", not \"osdb-serv\""),
            "{s:?}"
        );
        // A viewer may not break anything.
        let mut viewer = client(vic.clone()).await;
        let s = viewer.inject(crash("osdb-back")).await.unwrap_err();
        assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
        // Bad input names the field.
        let freeze = dpb::InjectRequest {
            node: "osdb-back".into(),
            fault: dpb::Fault::FreezeDaemon as i32,
            for_ms: 0,
            ..Default::default()
        };
        let s = admin.inject(freeze).await.unwrap_err();
        assert!(s.message().starts_with("for_ms: 0 is not between"), "{s:?}");
        let kill = dpb::InjectRequest {
            node: "osdb-back".into(),
            fault: dpb::Fault::KillResource as i32,
            resource: "chat".into(),
            ..Default::default()
        };
        let s = admin.inject(kill).await.unwrap_err();
        assert!(
            s.message()
                .contains("\"chat\" is not started on node \"osdb-back\""),
            "{s:?}"
        );
        // And the one allowed: an operator's crash of the node it asks.
        let done = admin
            .inject(crash("osdb-back"))
            .await
            .expect("osdb-back crashes");
        assert_eq!(done.into_inner().detail, "the daemon is killed (SIGKILL)");
    });
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'))
        })
    };
    let start = Instant::now();
    while !gone(back_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "osdb-back still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!gone(serv_pid), "osdb-serv runs on");
    assert_eq!(c.group("SOCKET_GROUP").unwrap()["owner"], "osdb-serv");
    c.restart("osdb-back");
    c.check();
}

/// Whether nftables can be used here (root and `nft`), or `None` (the test is skipped then,
/// except on CI).
fn nftables(test: &str) -> Option<()> {
    let ready = nix::unistd::geteuid().is_root()
        && Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if ready {
        return Some(());
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI=true: {test} needs root and nftables");
    }
    eprintln!("!!! SKIPPED {test}: needs root and nftables (apt-get install nftables)");
    None
}

/// The drill tables nft lists now.
fn drill_tables() -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("nonstop_drill"))
        .map(String::from)
        .collect()
}

#[test]
fn a_partitioned_node_loses_its_group_and_gets_it_back_once_the_cut_heals() {
    let test = "a_partitioned_node_loses_its_group_and_gets_it_back_once_the_cut_heals";
    if nftables(test).is_none() {
        return;
    }
    let mut c = drill_cluster();
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    // The fast profile's lease (300 ms) and node timeout (600 ms) run out well within the cut.
    let scenario = c.tmp.path().join("partition.yaml");
    std::fs::write(
        &scenario,
        "name: partition\ndescription: cut off for 4 s\nfault: partition\ncut: 4s\n\
         leader: elsewhere\nphases: [detected, decided, stopped, started, answering]\n",
    )
    .unwrap();
    let ours: Vec<String> = (0..3)
        .map(|i| format!("nonstop_drill_{}", c.base_port + i))
        .collect();
    let started = Instant::now();
    let (code, json, stderr) = drill(&c, &["partition", "--file", scenario.to_str().unwrap()]);
    eprintln!("t70: partition took {:?}: {json}", started.elapsed());
    assert_eq!(code, 0, "{stderr}\n{json:#}\n{}", c.logs());
    assert_eq!(json["verdict"], "pass");
    let round = &json["rounds"][0];
    assert_eq!(round["from"], "osdb-serv");
    assert_eq!(round["to"], "osdb-back", "{round:#}");
    assert_eq!(round["overlap_ms"], 0);
    let seen = phase_names(round);
    for p in ["detected", "started", "answering"] {
        assert!(seen.iter().any(|s| s == p), "{p}: {round:#}");
    }
    // The node rejoined by itself and the group went home; nothing of the cut is left.
    as_found(&c);
    let left = drill_tables();
    assert!(
        !left
            .iter()
            .any(|t| ours.iter().any(|o| t.ends_with(o.as_str()))),
        "left behind: {left:?}"
    );
    c.check();
}
