//! An unmodified OCF agent's meta-data is its schema (issue 14): a cluster.yaml uses
//! `ocf:heartbeat:Dummy` without declaring it in `types:`. The daemons read Dummy's meta-data
//! and report it to the leader; `apply` checks the resource against it, the
//! group comes Online, and a parameter the meta-data does not list is refused, naming it, by
//! `apply` and by `config check` on this machine (where the agent is installed); so is a
//! second Dummy with the same `state` file (`unique="1"` in the meta-data). The same holds
//! for an `exec` plug-in that answers `meta-data`, and IPaddr2 holds an address in network
//! namespaces, one at a time.

mod e2e;

use std::path::Path;
use std::time::Duration;

use e2e::netns::{DUMMY as VIP_NIC, Namespaces};
use e2e::{LocalCluster, cluster_yaml, text};

const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

/// Whether Dummy is installed; a skip, loudly, except on CI.
fn dummy_installed(test: &str) -> bool {
    if Path::new(DUMMY).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI=true: {test} needs {DUMMY} (Debian's resource-agents)");
    }
    eprintln!("!!! SKIPPED {test}: needs {DUMMY} (apt-get install resource-agents)");
    false
}

/// The chat cluster plus OCF_GROUP, whose one resource is a Dummy with `props`.
fn with_dummy(chat_port: u16, props: &str) -> String {
    format!(
        "{}  - name: OCF_GROUP
    owners: [osdb-back, osdb-third]
    resources:
      - name: dummy
        type: ocf:heartbeat:Dummy
        properties: {{{props}}}
",
        cluster_yaml("fast", chat_port)
    )
}

#[test]
fn an_undeclared_ocf_agent_runs_and_its_meta_data_refuses_unknown_parameters() {
    if !dummy_installed("t27_ocf_meta_data") {
        return;
    }
    let c = LocalCluster::start("fast");
    let dir = c.tmp.path();
    let state = dir.join("dummy.state");
    let good = dir.join("good.yaml");
    let props = format!("state: {}", state.display());
    std::fs::write(&good, with_dummy(c.chat_port, &props)).unwrap();
    let bad = dir.join("bad.yaml");
    let bad_props = format!("{props}, bogus: x");
    std::fs::write(&bad, with_dummy(c.chat_port, &bad_props)).unwrap();
    let said =
        "ocf:heartbeat:Dummy takes no parameter \"bogus\" (its meta-data lists: state, fake)";

    // config check reads Dummy's meta-data here, and names the field at its line.
    let out = c.cli(&["config", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = c.cli(&["config", "check", bad.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.yaml:") && err.contains("properties.bogus") && err.contains(said),
        "{err}"
    );

    // The daemons read their agents' meta-data in the background (seconds for Debian's 141)
    // and report them: until then apply does not know the type.
    until_reported(&c, &good, "no node of the cluster reported");

    // apply: refused whole, naming the parameter; nothing changes.
    let out = c.cli(&["apply", bad.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("properties.bogus") && err.contains(said),
        "{err}"
    );
    assert!(
        c.group("OCF_GROUP").is_none(),
        "a refused apply adds nothing"
    );

    // The file without it: the group runs on its home node, through the agent's start.
    let out = c.cli(&["apply", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    c.wait_online("OCF_GROUP", "osdb-back", Duration::from_secs(30));
    assert!(state.exists(), "Dummy's start writes its state file");

    // Dummy's meta-data marks `state` unique="1": a second Dummy on the same file is refused
    // by apply, naming both; nothing changes.
    let twice = dir.join("twice.yaml");
    let second = format!(
        "{}      - name: dummy2\n        type: ocf:heartbeat:Dummy\n        properties: {{{props}}}\n",
        with_dummy(c.chat_port, &props)
    );
    std::fs::write(&twice, second).unwrap();
    let out = c.cli(&["apply", twice.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "resource \"dummy2\": properties.state: resource \"dummy\" has the same value"
        ) && err.contains("ocf:heartbeat:Dummy says no two of its resources may share \"state\""),
        "{err}"
    );
    let shown = c.cli(&["resource", "show", "dummy2"]);
    assert!(!shown.status.success(), "a refused apply adds nothing");

    // Taken offline through the agent's stop.
    let out = c.cli(&["group", "offline", "OCF_GROUP"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while state.exists() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!state.exists(), "Dummy's stop removes its state file");
}

/// The same for an `exec` plug-in that answers `meta-data` (examples/plugins/sleeper, loaded
/// through `up --plugin-dir`): undeclared, checked against its own schema (an unknown
/// parameter and a value past its `max` are refused, naming them), run by the agent; the
/// daemon it starts is seen in /proc, and gone once the group is taken offline.
#[test]
fn an_undeclared_exec_plug_in_runs_with_its_meta_data_as_the_schema() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins");
    let c = LocalCluster::start_full(
        "fast",
        |port, _| cluster_yaml("fast", port),
        |rules, _, _| rules,
        &["--plugin-dir", plugins.to_str().unwrap()],
    );
    let dir = c.tmp.path();
    let file = |name: &str, props: &str| {
        let path = dir.join(name);
        let yaml = format!(
            "{}  - name: SLEEP_GROUP
    owners: [osdb-back, osdb-third]
    resources:
      - name: napper
        type: sleeper
        properties: {{{props}}}
",
            cluster_yaml("fast", c.chat_port)
        );
        std::fs::write(&path, yaml).unwrap();
        path
    };
    let good = file("good.yaml", "message: hello from the test");
    until_reported(&c, &good, "unknown type \"sleeper\"");
    for (props, field, said) in [
        (
            "bogus: x",
            "properties.bogus",
            "sleeper takes no parameter \"bogus\"",
        ),
        ("start_delay: 4000", "properties.start_delay", "3600"),
    ] {
        let bad = file("bad.yaml", props);
        let out = c.cli(&["apply", bad.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(field) && err.contains(said), "{err}");
        assert!(
            c.group("SLEEP_GROUP").is_none(),
            "a refused apply adds nothing"
        );
    }
    let out = c.cli(&["apply", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.wait_online("SLEEP_GROUP", "osdb-back", Duration::from_secs(30));
    // The plug-in keeps its daemon's pid in the resource's folder on osdb-back.
    let pid_file = c
        .dir
        .join("osdb-back/agent/resources/napper/sleeper-napper.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(
        cmdline, b"sleep\x001000000\x00",
        "pid {pid} is the plug-in's daemon"
    );
    let log = std::fs::read_to_string(pid_file.with_extension("pid.log")).unwrap();
    assert!(log.starts_with("hello from the test"), "{log}");

    let out = c.cli(&["group", "offline", "SLEEP_GROUP"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < until,
            "pid {pid} outlived offline"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

/// Inside each namespace alone, so runs side by side do not collide.
const VIP: &str = "198.18.27.10";

/// An address held by ocf:heartbeat:IPaddr2, undeclared, on real daemons: each node acts in a
/// network namespace of its own (the agent's own `network_namespace` parameter, localized per
/// node). The address is in the home node's namespace only; it follows an operator's move; when
/// the owner's daemon is killed, its watchdog runs the agent's stop before the other node adds
/// it; after offline it is nowhere. An outside watcher samples every namespace all along: never
/// two at once.
#[test]
fn ipaddr2_undeclared_holds_the_address_in_one_namespace_at_a_time() {
    if !Path::new(IPADDR2).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true: {IPADDR2} is missing"
        );
        eprintln!("!!! SKIPPED: needs {IPADDR2} (apt-get install resource-agents)");
        return;
    }
    let Some(ns) = Namespaces::or_skip("t27", &["serv", "back"]) else {
        return;
    };
    let (serv, back) = (ns.names[0].as_str(), ns.names[1].as_str());
    let c = LocalCluster::start("fast");
    let file = c.tmp.path().join("vip.yaml");
    let yaml = format!(
        "{}  - name: VIP_GROUP
    owners: [osdb-serv, osdb-back]
    resources:
      - name: vip
        type: ocf:heartbeat:IPaddr2
        properties: {{ip: {VIP}, cidr_netmask: 24, nic: {VIP_NIC}, network_namespace: {serv}}}
        node_properties:
          osdb-back: {{network_namespace: {back}}}
",
        cluster_yaml("fast", c.chat_port)
    );
    std::fs::write(&file, yaml).unwrap();
    until_reported(&c, &file, "no node of the cluster reported");
    let watch = ns.watch(VIP.parse().unwrap(), 24);
    let out = c.cli(&["apply", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.wait_online("VIP_GROUP", "osdb-serv", Duration::from_secs(30));
    watch.wait_for(&[serv], Duration::from_secs(5));

    let out = c.cli(&["group", "move", "VIP_GROUP", "--to", "osdb-back", "--wait"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    watch.wait_for(&[back], Duration::from_secs(5));

    c.kill("osdb-back");
    // Fast profile: well under a second as a rule; the bound is for a loaded 2-core CI
    // machine (this wait timed out once at 15 s in ~40 repeated runs beside other e2e tests).
    let took = c.wait_online("VIP_GROUP", "osdb-serv", Duration::from_secs(30));
    eprintln!("owner killed -> Online on osdb-serv in {took:?}");
    watch.wait_for(&[serv], Duration::from_secs(5));
    c.restart("osdb-back");

    let out = c.cli(&["group", "offline", "VIP_GROUP"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    watch.wait_for(&[], Duration::from_secs(10));
    let seen = watch.stop();
    assert!(
        seen.errors.is_empty(),
        "the watcher failed: {:?}",
        seen.errors
    );
    assert_eq!(seen.ever, [serv.to_string(), back.to_string()].into());
    assert_eq!(
        seen.max_at_once,
        1,
        "the address was in two namespaces at once: {:?}\n{}",
        seen.first_overlap,
        c.logs()
    );
}

/// Waits until `apply --dry-run FILE` passes: the nodes have reported their types. Until
/// then it must fail saying `unknown`.
fn until_reported(c: &LocalCluster, file: &Path, unknown: &str) {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = c.cli(&["apply", "--dry-run", file.to_str().unwrap()]);
        if out.status.success() {
            return;
        }
        let err = text(&out.stderr);
        assert!(err.contains(unknown), "{err}");
        assert!(std::time::Instant::now() < until, "never reported: {err}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
