//! The operator commands, run as the real `nonstop` binary against a controller member started
//! by the test on loopback, with fake agents playing the nodes.

mod support;

use nonstop_proto::cluster::{GroupState, Target};
use support::{CLUSTER, nonstop, running, start};

/// `group move G --to b --wait`, then `more`.
fn move_g_to_b_waiting<'a>(more: &[&'a str]) -> Vec<&'a str> {
    [&["group", "move", "G", "--to", "b", "--wait"][..], more].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_lists_in_every_format() {
    let m = running().await;
    let s = m.nonstop(&["status", "--output", "json"]).await;
    assert_eq!(s.code, 0, "{s:?}");
    let s = s.json();
    assert!(s["leader"].is_string(), "{s}");
    assert_eq!(s["leader_node"], "m1", "the leader names its own node: {s}");
    let t = m.nonstop(&["status"]).await;
    // A plain connection: the cluster runs without TLS, and every status says so first.
    assert_eq!(s["tls"], false, "{s}");
    assert!(
        t.stdout
            .starts_with("INSECURE: plain gRPC, nobody is authenticated (this cluster runs without TLS)\nleader m1 at 127.0.0.1:"),
        "{t:?}"
    );
    assert_eq!(s["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(s["groups"][0]["name"], "G");
    assert_eq!(s["groups"][0]["owner"], "a");
    // The API's enums, as the words the CLI has always printed.
    assert_eq!(s["members"][0]["role"], "leader", "{s}");
    assert_eq!(
        (&s["groups"][0]["target"], &s["groups"][0]["failback"]),
        (&"online".into(), &"immediate".into()),
        "{s}"
    );

    let y = m
        .nonstop(&["group", "list", "--output", "yaml"])
        .await
        .yaml();
    assert_eq!(
        (&y[0]["name"], &y[0]["state"]),
        (&"G".into(), &"Online".into())
    );
    let t = m.nonstop(&["group", "list"]).await;
    assert!(
        t.stdout.contains("G") && t.stdout.contains("Online"),
        "{t:?}"
    );

    let n = m.nonstop(&["node", "show", "a", "-o", "json"]).await.json();
    assert_eq!((&n["name"], &n["state"]), (&"a".into(), &"Up".into()));
    assert_eq!(n["groups"][0], "G");
    let t = m.nonstop(&["node", "list"]).await;
    assert!(t.stdout.contains("Up"), "{t:?}");

    let r = m
        .nonstop(&["resource", "show", "app", "--output", "xml"])
        .await;
    assert_eq!(r.code, 1, "a bad option is bad input: {r:?}");
    assert!(r.stderr.contains("'xml'"), "{r:?}");
    let r = m
        .nonstop(&["resource", "show", "app", "--output", "yaml"])
        .await
        .yaml();
    assert_eq!((&r["group"], &r["node"]), (&"G".into(), &"a".into()));
    assert_eq!(r["properties"]["command"], "app");
    assert_eq!(
        (&r["state"], &r["target"]),
        (&"Online".into(), &"online".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplaced_group_has_a_null_owner() {
    let m = start(CLUSTER).await; // no agents: no node is Up
    let g = m
        .nonstop(&["group", "show", "G", "--output", "json"])
        .await
        .json();
    assert!(g["owner"].is_null(), "{g}");
    assert_eq!(g["state"], "Offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_with_wait_reports_the_time_it_took() {
    let m = running().await;
    let out = m.nonstop(&move_g_to_b_waiting(&[])).await;
    assert_eq!(out.code, 0, "{out:?}");
    let line = out.stdout.trim();
    assert!(line.starts_with("G online on b after "), "{out:?}");
    let secs: f64 = line["G online on b after ".len()..]
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(secs > 0.0 && secs < 10.0, "{secs}");
    assert!(
        out.stderr.contains("G: Online on b"),
        "progress lines: {out:?}"
    );
    let g = m.group_until("G", |_| true).await;
    assert_eq!((g.owner.as_str(), g.state()), ("b", GroupState::Online));

    // Back to the best owner (a, the home node), as JSON.
    let out = m
        .nonstop(&["group", "move", "G", "--wait", "--output", "json"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let j = out.json();
    assert_eq!(
        (&j["group"]["owner"], &j["group"]["state"]),
        (&"a".into(), &"Online".into())
    );
    assert!(j["seconds"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_lasts_as_long_as_the_resources_take() {
    let mut m = start(CLUSTER).await;
    m.agent("a").await;
    m.group_until("G", |g| g.state() == GroupState::Online)
        .await;
    m.slow_agent("b", std::time::Duration::from_millis(400))
        .await;
    let out = m.nonstop(&move_g_to_b_waiting(&[])).await;
    assert_eq!(out.code, 0, "{out:?}");
    let secs: f64 = out.stdout.trim()["G online on b after ".len()..]
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(
        secs >= 0.4,
        "the report came 400 ms after the placement: {out:?}"
    );
    let progress: Vec<&str> = out.stderr.lines().collect();
    assert!(progress.len() >= 2, "the states on the way: {out:?}");
    assert_eq!(progress.last(), Some(&"G: Online on b"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_exits_3() {
    let mut m = start(CLUSTER).await;
    m.agent("a").await;
    m.group_until("G", |g| g.state() == GroupState::Online)
        .await;
    // b heartbeats but never reports: G leaves a and never comes Online on b.
    m.silent_agent("b").await;
    let out = m
        .nonstop(&move_g_to_b_waiting(&["--timeout", "500ms"]))
        .await;
    out.assert_failed(
        3,
        "error: timed out after 0.5 s waiting for group \"G\" to be Online on b",
    );
    assert_eq!(out.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_offline_pause_resume() {
    let m = running().await;
    let out = m.nonstop(&["group", "offline", "G"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    m.group_until("G", |g| {
        g.state() == GroupState::Offline && g.target() == Target::Offline
    })
    .await;
    let out = m.nonstop(&["group", "online", "G"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    m.group_until("G", |g| g.state() == GroupState::Online)
        .await;

    let out = m
        .nonstop(&["resource", "offline", "app", "--output", "json"])
        .await;
    assert!(out.json()["revision"].as_u64().unwrap() > 0, "{out:?}");
    m.group_until("G", |g| g.state() == GroupState::Offline)
        .await;
    m.nonstop(&["resource", "online", "app"]).await;
    m.group_until("G", |g| g.state() == GroupState::Online)
        .await;

    // Pausing a drains it: G moves to b; resuming brings it home (fail-back: immediate).
    assert_eq!(m.nonstop(&["node", "pause", "a"]).await.code, 0);
    let a = m
        .nonstop(&["node", "show", "a", "--output", "json"])
        .await
        .json();
    assert_eq!(a["state"], "Paused");
    m.group_until("G", |g| g.state() == GroupState::Online && g.owner == "b")
        .await;
    assert_eq!(m.nonstop(&["node", "resume", "a"]).await.code, 0);
    m.group_until("G", |g| g.state() == GroupState::Online && g.owner == "a")
        .await;

    let clear = m
        .nonstop(&["group", "clear", "G", "--output", "json"])
        .await;
    assert_eq!(clear.code, 0, "{clear:?}");
    let out = m.nonstop(&["node", "evict", "b"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let b = m
        .nonstop(&["node", "show", "b", "--output", "json"])
        .await
        .json();
    assert_eq!(b["evicted"], true, "{b}");
    let out = m.nonstop(&["group", "move", "G", "--to", "b"]).await;
    assert_eq!(out.code, 1, "an evicted node takes nothing: {out:?}");
    assert!(
        out.stderr
            .starts_with("error: group \"G\": node \"b\" cannot take it"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_dry_run_then_apply() {
    let m = running().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        CLUSTER.replace("{name: b}]", "{name: b}, {name: c}]"),
    )
    .unwrap();

    let dry = m.nonstop(&["apply", path, "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("would change") && dry.stdout.contains("+ node c"),
        "{dry:?}"
    );
    let gone = m.nonstop(&["node", "show", "c"]).await;
    assert_eq!(
        (gone.code, gone.stderr.trim()),
        (1, "error: unknown node \"c\"")
    );

    let done = m.nonstop(&["apply", path, "--output", "json"]).await.json();
    assert_eq!(done["applied"], true);
    assert_eq!(done["changes"][0], "+ node c");
    assert_eq!(m.nonstop(&["node", "show", "c"]).await.code, 0);

    let again = m.nonstop(&["apply", path]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .starts_with("no change: the cluster already matches"),
        "{again:?}"
    );

    std::fs::write(&file, CLUSTER.replace("owners: [a, b]", "owners: [a, zz]")).unwrap();
    let bad = m.nonstop(&["apply", path]).await;
    bad.assert_failed(1, "owners names unknown node \"zz\"");
    assert_eq!(bad.stdout, "");
    let missing = m.nonstop(&["apply", "/nonexistent/c.yaml"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .starts_with("error: /nonexistent/c.yaml: cannot read"),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_zero_print_the_kept_history_and_end() {
    let m = running().await;
    m.nonstop(&["group", "offline", "G"]).await;
    m.group_until("G", |g| g.state() == GroupState::Offline)
        .await;
    let out = m
        .nonstop(&["events", "--from", "0", "--output", "json"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let events = out.json();
    let events = events.as_array().unwrap();
    assert!(events.len() >= 3, "{events:?}");
    let revs: Vec<u64> = events
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert!(revs.windows(2).all(|w| w[0] <= w[1]), "in order: {revs:?}");
    let text = m.nonstop(&["events"]).await;
    assert!(text.stdout.lines().count() >= events.len(), "{text:?}");
    // From the last revision on, nothing is left.
    let last = revs.last().unwrap().to_string();
    let none = m
        .nonstop(&["events", "--from", &last, "--output", "json"])
        .await
        .json();
    assert_eq!(none, serde_json::json!([]));
    // By age: the last hour holds them all; the last 100 ms, once that long has passed since
    // the last one, none. A bad duration is named.
    let hour = m
        .nonstop(&["events", "--since", "1h", "-o", "json"])
        .await
        .json();
    assert_eq!(hour.as_array().unwrap().len(), events.len());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let recent = m
        .nonstop(&["events", "--since", "100ms", "-o", "json"])
        .await;
    assert_eq!(recent.json(), serde_json::json!([]), "{recent:?}");
    let bad = m.nonstop(&["events", "--since", "soon"]).await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("--since"), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_prints_what_happens_next() {
    use tokio::io::AsyncBufReadExt;
    let m = running().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args([
            "events",
            "--follow",
            "--output",
            "json",
            "--endpoint",
            &m.url,
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line());
        let line = line
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap()
    };
    // The kept history comes first: the nodes came up before G was placed.
    assert_eq!(next().await["event"]["event"], "node-state");
    assert_eq!(m.nonstop(&["group", "offline", "G"]).await.code, 0);
    loop {
        let e = next().await;
        if e["event"]["event"] == "resource-state" && e["event"]["to"] == "Offline" {
            assert_eq!(e["event"]["resource"], "app");
            break;
        }
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_resolve_and_audit() {
    let m = running().await;
    let r = m
        .nonstop(&["service", "resolve", "CHAT", "--output", "json"])
        .await
        .json();
    assert_eq!(r["routes"][0]["node"], "a", "{r}");
    assert_eq!(r["routes"][0]["group"], "G");
    assert_eq!(r["mode"], "Single", "a group outside any cousin set: {r}");
    let bad = m.nonstop(&["service", "resolve", "NOPE"]).await;
    bad.assert_failed(1, "\"NOPE\"");

    // A plain (insecure) cluster records what `--user` claims, marked unauthenticated.
    m.nonstop(&["node", "pause", "b", "--user", "alice"]).await;
    let (user, command) = m.last_audit().await;
    let user = user.as_str().unwrap_or_default();
    assert!(
        user.starts_with("alice (unauthenticated) from 127.0.0.1:"),
        "{user}"
    );
    assert_eq!(command, "pause node b");
    m.nonstop(&["node", "resume", "b"]).await;
    let a = m.nonstop(&["audit", "--limit", "1"]).await;
    assert!(
        a.stdout.contains("tester") && a.stdout.contains("resume node b"),
        "{a:?}"
    );
}

/// Issue 10, item 7: with concurrent moves, a wait whose move a later command superseded ran
/// its full timeout. It ends at once now, says where the group goes instead, and exits 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_7_a_superseded_wait_ends_at_once_with_exit_5() {
    let mut m = start(CLUSTER).await;
    m.agent("a").await;
    m.group_until("G", |g| g.state() == GroupState::Online)
        .await;
    // b takes 3 s to start anything: the first move is still on its way when the second comes.
    m.slow_agent("b", std::time::Duration::from_secs(3)).await;
    let url = m.url.clone();
    let first = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let args = move_g_to_b_waiting(&["--timeout", "30s", "--endpoint", &url]);
        let out = support::nonstop(&args).await;
        (out, started.elapsed())
    });
    m.group_until("G", |g| g.moving_to == "b" || g.owner == "b")
        .await;
    let second = m.nonstop(&["group", "move", "G", "--to", "a"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    let (out, took) = first.await.unwrap();
    out.assert_failed(5, "superseded");
    assert!(took < std::time::Duration::from_secs(10), "waited {took:?}");
}

/// The CLI refuses a member it could only reach in plain gRPC over a network before it asks any
/// endpoint (the server refuses it too: controller/tests/raft_members.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_8_member_add_refuses_a_non_loopback_address_before_asking() {
    for address in ["10.0.0.1:7704", "[fd00::1]:7704"] {
        let args = ["member", "add", "--id", "4", "--address", address];
        let r = nonstop(&[&args[..], &["--endpoint", "http://127.0.0.1:1"]].concat()).await;
        assert_eq!(r.code, 1, "{r:?}");
        let want = format!("error: --address: {address} is not a loopback address: without TLS");
        assert!(r.stderr.starts_with(&want), "{r:?}");
    }
}
