//! Two data nodes and a witness (the layout `nonstop up --nodes 2` makes), with real daemons
//! and the outside checker on: either data node can die and the group runs on the other, never
//! on both; the witness's death changes nothing but its own state, which follows its controller
//! member (Up while it runs, Down while it is killed), and the two members left keep a quorum.

mod e2e;

use std::time::{Duration, Instant};

use e2e::{LocalCluster, text};

/// The chat cluster of e2e::cluster_yaml on osdb-serv and osdb-back, and `witness` as the third
/// member: what `up --nodes 2` runs, on a chat port of this test's own.
fn two_nodes_and_a_witness(chat_port: u16) -> String {
    e2e::cluster_yaml("fast", chat_port)
        .replace("{name: osdb-third}", "{name: witness, witness: true}")
        .replace(
            "owners: [osdb-serv, osdb-back, osdb-third]",
            "owners: [osdb-serv, osdb-back]",
        )
}

/// The cluster's events, oldest first.
fn events(c: &LocalCluster) -> Vec<serde_json::Value> {
    let out = c.cli(&["events", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn summaries(events: &[serde_json::Value], prefix: &str) -> Vec<String> {
    (events.iter())
        .filter_map(|e| e["summary"].as_str())
        .filter(|s| s.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Waits until `nonstop node show witness` says `state`; returns how long it took.
fn wait_witness(c: &LocalCluster, state: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if c.node_state("witness").as_deref() == Some(state) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the witness is not {state} within {within:?}: {:?}\n{}",
            c.node_state("witness"),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `nonstop status` (text) shows the witness in `state`.
fn status_shows_witness(c: &LocalCluster, state: &str) {
    let out = c.cli(&["status"]);
    let s = text(&out.stdout);
    let line = (s.lines()).find(|l| l.trim_start_matches(['│', ' ']).starts_with("witness "));
    assert!(
        out.status.success() && line.is_some_and(|l| l.contains(&format!("{state} (witness)"))),
        "status should show the witness {state}:\n{s}{}",
        text(&out.stderr)
    );
}

#[test]
fn either_data_node_can_die_and_the_witness_only_votes() {
    let c = LocalCluster::start_with("fast", two_nodes_and_a_witness);
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    // `up` waited for every node to join, the witness included: it shows Up, not Joining.
    assert_eq!(c.node_state("witness").as_deref(), Some("Up"));
    status_shows_witness(&c, "Up");
    let node_yaml = std::fs::read_to_string(c.dir.join("witness/node.yaml")).unwrap();
    assert!(
        node_yaml.contains("controller:") && !node_yaml.contains("agent"),
        "{node_yaml}"
    );
    let members = c.cli(&["member", "list", "-o", "json"]);
    let m: serde_json::Value = serde_json::from_slice(&members.stdout).unwrap();
    assert_eq!(m["members"].as_array().map(Vec::len), Some(3), "{m}");
    let watch = c.watch_chat();

    // The home node dies: the group runs on the other data node; back, it fails back.
    c.kill("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(15));
    assert!(c.chat_answers());
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));

    // The other data node, while it runs the group.
    let out = c.cli(&[
        "group",
        "move",
        "SOCKET_GROUP",
        "--to",
        "osdb-back",
        "--wait",
        "--timeout",
        "30s",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.kill("osdb-back");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(15));
    assert!(c.chat_answers());
    c.restart("osdb-back");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    assert_eq!(c.node_state("witness").as_deref(), Some("Up"));
    std::thread::sleep(Duration::from_secs(1));

    // The witness dies: nothing moves, the chat server runs on undisturbed, the two members
    // left commit its Down (a quorum of 2 of 3), and it shows Down.
    let before = events(&c);
    let chat = c.chat_pids();
    assert_eq!(chat.len(), 1, "{chat:?}");
    c.kill("witness");
    let took = wait_witness(&c, "Down", Duration::from_secs(15));
    eprintln!("witness killed -> Down: {took:?}");
    status_shows_witness(&c, "Down");
    std::thread::sleep(Duration::from_secs(3));
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some("osdb-serv"))
    );
    assert_eq!(c.chat_pids(), chat, "the chat server was not touched");
    assert!(c.chat_answers());
    let after = events(&c);
    let new = &after[before.len()..];
    assert_eq!(summaries(new, "* Move"), Vec::<String>::new(), "{new:?}");
    assert_eq!(summaries(new, "* Start"), Vec::<String>::new(), "{new:?}");
    assert_eq!(
        summaries(new, "* Node"),
        ["* Node witness Down"],
        "only the witness's own state changed: {new:?}"
    );
    for n in ["osdb-serv", "osdb-back"] {
        assert_eq!(c.node_state(n).as_deref(), Some("Up"), "{n}");
    }
    // Quorum: an operator's write commits with the witness gone.
    let out = c.cli(&["node", "pause", "osdb-back"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = c.cli(&["node", "resume", "osdb-back"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Back, it is Up again; still nothing moved.
    c.restart("witness");
    wait_witness(&c, "Up", Duration::from_secs(15));
    status_shows_witness(&c, "Up");
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(
        (g["state"].as_str(), g["owner"].as_str()),
        (Some("Online"), Some("osdb-serv"))
    );
    assert_eq!(c.chat_pids(), chat);
    assert!(watch.stop() <= 1, "the chat server ran twice");
}
