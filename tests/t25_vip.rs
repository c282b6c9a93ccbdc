//! The virtual IP address end to end, with real daemons: each node acts in a network namespace
//! of its own (the `netns` property localized per node), SOCKET_GROUP holds the address and the
//! chat server listening on it in the same namespace; both follow the group when an operator
//! moves it, when the home node's daemon is killed and when it comes back, and no two
//! namespaces ever hold the address at once.
//!
//! Needs root and iproute2 (scripts/test.sh installs iproute2): a loud SKIP line without them,
//! a failure under `CI=true`.

mod e2e;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use e2e::netns::{DUMMY, Namespaces, VipWatch, chat_answers_in};
use e2e::{BIN, LocalCluster, NODES, text};

/// Inside each namespace alone, so runs side by side do not collide.
const VIP: &str = "198.18.25.10";

/// SOCKET_GROUP: the address, and the chat server listening on it inside the same namespace
/// (`ip netns exec`), so it can only bind once the address is there. Both localize what names
/// the namespace.
fn cluster_yaml(ns: &[String], chat_port: u16) -> String {
    let args = |ns: &str| {
        format!("[netns, exec, {ns}, {BIN}, example, chat-server, --listen, \"{VIP}:{chat_port}\"]")
    };
    format!(
        "timing: fast
nodes: [{{name: osdb-serv}}, {{name: osdb-back}}, {{name: osdb-third}}]
types:
  - name: chat-server
    base: process
    properties: [{{name: MaxUser, type: int, min: 1, max: 10, default: 10}}]
groups:
  - name: SOCKET_GROUP
    owners: [osdb-serv, osdb-back, osdb-third]
    resources:
      - name: vip
        type: ip-address
        properties: {{address: {VIP}/24, interface: {DUMMY}, netns: {serv}}}
        node_properties:
          osdb-back: {{netns: {back}}}
          osdb-third: {{netns: {third}}}
      - name: chat
        type: chat-server
        depends_on: [vip]
        properties: {{command: {ip}, args: {serv_args}}}
        node_properties:
          osdb-back: {{args: {back_args}}}
          osdb-third: {{args: {third_args}}}
",
        ip = ip_path(),
        serv = ns[0],
        back = ns[1],
        third = ns[2],
        serv_args = args(&ns[0]),
        back_args = args(&ns[1]),
        third_args = args(&ns[2]),
    )
}

/// Where `ip` is (the daemons' PATH may lack /usr/sbin).
fn ip_path() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v ip"])
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn the_address_follows_the_group_and_is_never_in_two_namespaces() {
    let Some(ns) = Namespaces::or_skip("t25", &["serv", "back", "third"]) else {
        return;
    };
    let names = ns.names.clone();
    let c = LocalCluster::start_with("fast", |port| cluster_yaml(&names, port));
    let vip: IpAddr = VIP.parse().unwrap();
    let watch = ns.watch(vip, 24);
    let watched = Instant::now();
    let chat = c.watch_chat_at(&chat_at(&c).to_string());
    let (serv, back) = (names[0].as_str(), names[1].as_str());
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    watch.wait_for(&[serv], Duration::from_secs(5));
    assert!(
        chat_answers_in(serv, chat_at(&c)),
        "the chat server answers on the address in the home node's namespace"
    );
    assert_shown(&c, &names);

    // An operator moves the group there and back: offline on one node (chat, then the
    // address), online on the other (the address, then chat), each in its own namespace.
    move_to(&c, "osdb-back");
    watch.wait_for(&[back], Duration::from_secs(5));
    assert!(
        chat_answers_in(back, chat_at(&c)),
        "the chat server answers in the backup's namespace"
    );
    move_to(&c, "osdb-serv");
    watch.wait_for(&[serv], Duration::from_secs(5));

    let watchdog = has_watchdog();
    if watchdog {
        killed_and_back(&c, &watch, serv, back);
    }

    let seen = watch.stop();
    let every = watched.elapsed() / seen.samples.max(1) as u32;
    eprintln!(
        "{} samples of {} namespaces, one every {every:?}; most at once: {}",
        seen.samples,
        NODES.len(),
        seen.max_at_once
    );
    eprintln!(
        "address in no namespace while moving: {:?}",
        seen.handovers()
    );
    assert!(
        seen.errors.is_empty(),
        "the watcher failed: {:?}",
        seen.errors
    );
    assert!(
        every < Duration::from_millis(50),
        "the watcher sampled too rarely to see an overlap: {seen:?}"
    );
    assert_eq!(
        seen.ever,
        [serv.to_string(), back.to_string()].into(),
        "held by the home node and the first backup only"
    );
    assert_eq!(
        seen.max_at_once,
        1,
        "the address was in two namespaces at once: {:?}\n{}",
        seen.first_overlap,
        c.logs()
    );
    assert_eq!(
        chat.stop(),
        1,
        "most chat servers running at once (0 would mean the watcher never saw one)"
    );
    if !watchdog {
        eprintln!(
            "!!! t25: this nonstop has no `watchdog` subcommand, so a kill -9'd daemon leaves its \
             address in its namespace until it restarts (docs/design.md): the never-twice \
             check skipped the kill -9; checking only that the restart cleans the leftover"
        );
        leftover_cleaned_on_restart(&c, &ns, serv, back);
    }
}

/// Without a watchdog: after a kill -9 the dead daemon's address stays in its namespace while
/// the backup holds the group; the restarted agent removes it before it registers, and the
/// group fails back.
fn leftover_cleaned_on_restart(c: &LocalCluster, ns: &Namespaces, serv: &str, back: &str) {
    let watch = ns.watch(VIP.parse().unwrap(), 24);
    c.kill("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(15));
    watch.wait_for(&[serv, back], Duration::from_secs(5));
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    watch.wait_for(&[serv], Duration::from_secs(5));
    assert!(
        chat_answers_in(serv, chat_at(c)),
        "the chat server answers after fail-back"
    );
}

/// The home node's daemon dies: the address must leave its namespace (the watchdog fences the
/// node when the lease runs out) before the backup adds it to its own; the node restarts and
/// the group, address first, fails back.
fn killed_and_back(c: &LocalCluster, watch: &VipWatch, serv: &str, back: &str) {
    c.kill("osdb-serv");
    let took = c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(15));
    watch.wait_for(&[back], Duration::from_secs(5));
    eprintln!("kill -> Online on osdb-back: {took:?}");
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    watch.wait_for(&[serv], Duration::from_secs(5));
    assert!(
        chat_answers_in(serv, chat_at(c)),
        "the chat server answers after fail-back"
    );
}

/// Where the chat server listens, in whichever namespace holds the address.
fn chat_at(c: &LocalCluster) -> SocketAddr {
    format!("{VIP}:{}", c.chat_port).parse().unwrap()
}

/// `group move SOCKET_GROUP --to NODE --wait`, which must succeed.
fn move_to(c: &LocalCluster, node: &str) {
    let args = ["group", "move", "SOCKET_GROUP", "--to", node, "--wait"];
    let out = c.cli(&[&args[..], &["--timeout", "30s"]].concat());
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Whether this build runs a watchdog beside each daemon (`nonstop watchdog`).
fn has_watchdog() -> bool {
    std::process::Command::new(BIN)
        .args(["watchdog", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `resource show` gives `properties` and each node's own values.
fn assert_shown(c: &LocalCluster, names: &[String]) {
    let out = c.cli(&["resource", "show", "vip", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["properties"]["netns"], names[0].as_str());
    assert_eq!(
        r["node_properties"]["osdb-back"]["netns"],
        names[1].as_str()
    );
    assert_eq!(
        r["node_properties"]["osdb-third"]["netns"],
        names[2].as_str()
    );
    let table = text(&c.cli(&["resource", "show", "vip"]).stdout);
    assert!(
        table.contains("properties on osdb-back") && table.contains(&names[1]),
        "{table}"
    );
}
