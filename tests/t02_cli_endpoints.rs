//! How the operator commands reach the cluster (endpoints from the options, the environment or
//! the local cluster's file; a follower's redirect to the leader; a member without a leader),
//! and how failures read and exit; run as the real `nonstop` binary against members on
//! loopback.

mod support;

use nonstop_proto::cluster::Target;
use support::{nonstop, nonstop_in, running, stopped_member};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_thing_and_pick_the_exit_code() {
    let m = running().await;
    let out = m
        .nonstop(&["group", "show", "NOPE", "--output", "json"])
        .await;
    assert_eq!(
        (out.code, out.stderr.trim()),
        (1, "error: unknown group \"NOPE\"")
    );
    assert_eq!(out.stdout, "");
    let out = m.nonstop(&["group", "move", "G", "--to", "nowhere"]).await;
    out.assert_failed(1, "to names unknown node \"nowhere\"");

    // Nothing listens on port 1 of loopback.
    let out = nonstop(&["status", "--endpoint", "http://127.0.0.1:1"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: cannot reach any endpoint (http://127.0.0.1:1)")
    );
    assert_eq!(out.stdout, "");

    // A dead endpoint first, then the live one: the second answers.
    let both = format!("http://127.0.0.1:1,{}", m.url);
    let out = nonstop(&["group", "list", "--endpoint", &both]).await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_follower_goes_to_the_leader() {
    let m = running().await;
    let follower = m.follower(Some(m.addr())).await;
    let out = nonstop(&[
        "group",
        "offline",
        "G",
        "--endpoint",
        &follower,
        "--user",
        "bob",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("G"), "{out:?}");
    m.group_until("G", |g| g.target() == Target::Offline).await;
    let (user, command) = m.last_audit().await;
    let user = user.as_str().unwrap_or_default();
    assert!(
        user.starts_with("bob (unauthenticated) from 127.0.0.1:"),
        "{user}"
    );
    assert_eq!(command, "group G Offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_does_not_answer_exits_2() {
    let m = running().await;
    // Nothing listens on port 1 of loopback.
    let follower = m.follower(Some("127.0.0.1:1".into())).await;
    let out = nonstop(&["node", "pause", "a", "--endpoint", &follower]).await;
    out.assert_failed(2, "not the leader; the leader is 127.0.0.1:1");
    assert!(
        out.stderr.contains("http://127.0.0.1:1: transport error"),
        "{out:?}"
    );
    // Reads are served by the follower itself.
    let out = nonstop(&["node", "show", "a", "--endpoint", &follower]).await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_leader_is_skipped_and_alone_exits_2() {
    let m = running().await;
    let electing = m.follower(None).await;
    let out = nonstop(&["status", "--endpoint", &electing]).await;
    out.assert_failed(2, "no leader yet");
    let both = format!("{electing},{}", m.url);
    let out = nonstop(&["group", "online", "G", "--endpoint", &both]).await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_5_a_member_whose_raft_member_stopped_sends_the_call_to_the_next_endpoint() {
    let m = running().await;
    let (stopped, _dir) = stopped_member().await;
    let both = format!("{stopped},{}", m.url);
    let out = nonstop(&["group", "list", "--output", "json", "--endpoint", &both]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()[0]["name"], "G", "{out:?}");
    let warning =
        format!("warning: {stopped}: its raft member is stopped; trying the next endpoint");
    assert!(out.stderr.contains(&warning), "{out:?}");
    // Alone, it cannot be reached in any useful way: exit 2, as for a member that is down.
    let out = nonstop(&["status", "--endpoint", &stopped]).await;
    out.assert_failed(
        2,
        "this controller member is stopped (raft member is stopped)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_come_from_the_environment_then_the_local_cluster_file() {
    let m = running().await;
    let dir = tempfile::tempdir().unwrap();
    let host_port = m.url.trim_start_matches("http://");
    let env = [("NONSTOP_ENDPOINT", host_port)];
    let out = nonstop_in(dir.path(), &env, &["group", "list", "--output", "json"]).await;
    assert_eq!(out.json()[0]["name"], "G", "{out:?}");

    // `nonstop up` writes .nonstop/endpoints: a dead member first, then the live one.
    std::fs::create_dir(dir.path().join(".nonstop")).unwrap();
    let lines = format!("# members\nhttp://127.0.0.1:1\n{}\n", m.url);
    std::fs::write(dir.path().join(".nonstop/endpoints"), lines).unwrap();
    let out = nonstop_in(dir.path(), &[], &["node", "list", "--output", "json"]).await;
    assert_eq!(out.json()[0]["name"], "a", "{out:?}");

    let out = nonstop_in(dir.path(), &[], &["status", "--endpoint", "ftp://x"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        "error: --endpoint: \"ftp://x\" is not an http:// or https:// URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_bash() {
    let out = nonstop(&["completions", "bash"]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("nonstop") && out.stdout.contains("group"));
    let help = nonstop(&["--help"]).await;
    assert!(help.stdout.contains("3 timed out waiting"), "{help:?}");
}
