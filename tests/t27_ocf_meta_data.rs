//! An unmodified OCF agent's meta-data is its schema (issue 14): a cluster.yaml uses
//! `ocf:heartbeat:Dummy` without declaring it in `types:`. The daemons read Dummy's meta-data
//! and report it to the leader; `apply` checks the resource against it, the
//! group comes Online, and a parameter the meta-data does not list is refused, naming it, by
//! `apply` and by `config check` on this machine (where the agent is installed); so is a
//! second Dummy with the same `state` file (`unique="1"` in the meta-data).

mod e2e;

use std::path::Path;
use std::time::Duration;

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
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = c.cli(&["apply", "--dry-run", good.to_str().unwrap()]);
        if out.status.success() {
            break;
        }
        let err = text(&out.stderr);
        assert!(err.contains("no node of the cluster reported"), "{err}");
        assert!(std::time::Instant::now() < until, "never reported: {err}");
        std::thread::sleep(Duration::from_millis(250));
    }

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
