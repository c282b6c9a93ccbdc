//! `nonstop simulate` as an operator runs it: the real binary, a cluster file, events.

use std::process::Command;

fn simulate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("the binary runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8 output");
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

const CHAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/chat-2node.yaml"
);

#[test]
fn fail_over_and_back_in_text() {
    let (code, out, err) = simulate(&[
        CHAT,
        "--fail",
        "node:osdb-serv",
        "--recover",
        "node:osdb-serv",
    ]);
    assert_eq!(code, 0, "{err}");
    let want = [
        "== fail node:osdb-serv",
        "* Move SOCKET_GROUP ( osdb-serv -> osdb-back ) node down",
        "* Start chat ( osdb-back )",
        "== recover node:osdb-serv",
        "* Move SOCKET_GROUP ( osdb-back -> osdb-serv ) fail-back",
        "== placement",
        "SOCKET_GROUP osdb-serv Online",
    ];
    let mut lines = out.lines();
    for w in want {
        assert!(lines.any(|l| l == w), "missing {w:?} in:\n{out}");
    }
}

#[test]
fn json_gives_transitions_and_placement() {
    let (code, out, err) = simulate(&[CHAT, "--fail=node:osdb-serv", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["placement"]["SOCKET_GROUP"], "osdb-back");
    assert_eq!(v["states"]["SOCKET_GROUP"], "Online");
    let summaries: Vec<&str> = v["transitions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["summary"].as_str().expect("a summary"))
        .collect();
    assert!(summaries.contains(&"* Move SOCKET_GROUP ( osdb-serv -> osdb-back ) node down"));
}

#[test]
fn a_group_with_nowhere_to_go_is_null_in_json() {
    let (code, out, _) = simulate(&[
        CHAT,
        "--fail",
        "node:osdb-serv",
        "--fail",
        "node:osdb-back",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["placement"]["SOCKET_GROUP"].is_null());
}

#[test]
fn bad_input_is_named_and_exits_1() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[CHAT, "--fail", "node:nope"],
            "error: fail node:nope: unknown node \"nope\"",
        ),
        (
            &[CHAT, "--fail", "disk:x"],
            "\"disk\" does not fit: use node:N or resource:R",
        ),
        (&[CHAT, "--explode", "node:x"], "unknown event"),
        (&[CHAT, "--fail"], "--fail needs a value"),
        (
            &["/nonexistent.yaml"],
            "/nonexistent.yaml:1:1: No such file or directory",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = simulate(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed a result: {out}");
    }
}

#[test]
fn a_tmax_environment_file_simulates_with_its_backup_rules() {
    let env = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tmax/good/mapping.m"
    );
    let (code, out, err) = simulate(&[env, "--fail", "node:tmaxh4"]);
    assert_eq!(code, 0, "{err}");
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "== fail node:tmaxh4")
        .collect();
    // svg1's BACKUP list is svg1b (tmaxh2, AUTOBACKUP=N: skipped), then svg1c (tmaxh3).
    assert!(
        after.contains(&"* Move svg1 ( tmaxh4 -> tmaxh3 ) node down"),
        "{out}"
    );
    // svg2 is a cousin with no BACKUP of its own: it does not fail over.
    assert!(
        after.contains(&"* Unplace svg2 ( tmaxh4 ) no owner"),
        "{out}"
    );
    // The gateway moves to its BACKUP gateway's node.
    assert!(
        after.contains(&"* Move gw1 ( tmaxh4 -> tmaxh1 ) node down"),
        "{out}"
    );
    // BACKUP groups are not groups of their own (Tmax 3.8.1).
    assert!(!out.contains("svg1b") && !out.contains("svg1c"), "{out}");
}

#[test]
fn a_slow_stop_holds_the_start_on_the_new_owner_until_it_ends() {
    let (code, out, err) = simulate(&[
        CHAT,
        "--stop-latency",
        "400ms",
        "--move",
        "group:SOCKET_GROUP@osdb-back",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let at = |w: &str| {
        lines
            .iter()
            .position(|l| *l == w)
            .unwrap_or_else(|| panic!("missing {w:?} in:\n{out}"))
    };
    let stopping = at("* Stopping chat ( osdb-serv )");
    let stopped = at("* Stopped SOCKET_GROUP ( osdb-serv )");
    let started = at("* Start chat ( osdb-back )");
    assert!(stopping < stopped && stopped < started, "{out}");
    assert!(
        lines[stopping..stopped]
            .iter()
            .any(|l| l.starts_with("-- +400ms")),
        "time passes while chat stops:\n{out}"
    );
}

#[test]
fn a_lost_stop_confirmation_leaves_the_group_where_it_was_not_on_two_nodes() {
    let (code, out, err) = simulate(&[
        CHAT,
        "--lose",
        "stop:SOCKET_GROUP",
        "--move",
        "group:SOCKET_GROUP@osdb-back",
        "--advance",
        "1m",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("( osdb-back )"),
        "nothing starts on osdb-back:\n{out}"
    );
    assert!(out.contains("SOCKET_GROUP osdb-serv Offline"), "{out}");
    let (code, _, err) = simulate(&[CHAT, "--stop-latency", "soon"]);
    assert_eq!(code, 1, "a bad duration is a usage error (docs/cli.md)");
    assert!(err.contains("--stop-latency"), "{err}");
}

/// With `fencing: required` the simulation assumes the lost node's fence method succeeds, and
/// says so, before the group moves.
#[test]
fn with_fencing_required_the_simulated_fence_comes_before_the_move() {
    let fenced = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chat-2node-fenced.yaml"
    );
    let (code, out, err) = simulate(&[fenced, "--fail", "node:osdb-serv"]);
    assert_eq!(code, 0, "{err}");
    let fence = out
        .find("* Fence osdb-serv ( fence agent fence_ipmilan )")
        .unwrap_or_else(|| panic!("no fence request:\n{out}"));
    let fenced = out
        .find("* Fenced osdb-serv by fence agent fence_ipmilan")
        .unwrap_or_else(|| panic!("no fence:\n{out}"));
    let moved = out
        .find("* Move SOCKET_GROUP ( osdb-serv -> osdb-back ) node down")
        .unwrap_or_else(|| panic!("no move:\n{out}"));
    assert!(fence < fenced && fenced < moved, "{out}");
}

const COUSINS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cousins-local.yaml"
);

#[test]
fn resolve_shows_where_a_service_is_served_after_each_step() {
    let (code, out, err) = simulate(&[
        COUSINS,
        "--resolve",
        "TOUPPER@b",
        "--fail",
        "node:b",
        "--recover",
        "node:b",
    ]);
    assert_eq!(code, 0, "{err}");
    let services: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "== services")
        .skip(1)
        .collect();
    // LOAD -2: the client's own node first; while b is down, a alone.
    assert_eq!(
        services,
        [
            "start: TOUPPER@b -> b (SVG_B), a (SVG_A) [local-first]",
            "fail node:b: TOUPPER@b -> a (SVG_A) [local-first]",
            "recover node:b: TOUPPER@b -> b (SVG_B), a (SVG_A) [local-first]",
        ],
        "{out}"
    );
    let (code, out, err) = simulate(&[
        COUSINS,
        "--output",
        "json",
        "--resolve",
        "*",
        "--fail",
        "node:a",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let last = &v["services"][1];
    assert_eq!(last["step"], "fail node:a");
    assert_eq!(last["resolutions"][0]["service"], "TOUPPER");
    assert_eq!(last["resolutions"][0]["from"], serde_json::Value::Null);
    assert_eq!(last["resolutions"][0]["routes"][0]["node"], "b");
}

#[test]
fn resolve_names_an_unknown_service_or_node() {
    let (code, _, err) = simulate(&[COUSINS, "--resolve", "NOPE"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--resolve NOPE: no such service (the file's: TOUPPER)"),
        "{err}"
    );
    let (code, _, err) = simulate(&[COUSINS, "--resolve", "TOUPPER@c"]);
    assert_eq!(code, 1);
    assert!(err.contains("\"c\" is not a node of the file"), "{err}");
}
