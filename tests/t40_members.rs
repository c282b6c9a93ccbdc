//! `nonstop member` against real daemons: list the members with their node names and
//! progress, transfer the leadership by node name and wait for it, time out (exit 3) on a dead
//! member, refuse bad targets naming the field (exit 1), and remove the leader (the CLI follows
//! it to the new leader).

mod e2e;

use std::time::Duration;

use e2e::{LocalCluster, text};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn members_are_listed_led_on_demand_and_removed() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));

    let list = json(&c.cli(&["member", "list", "--output", "json"]));
    let nodes: Vec<&str> = (list["members"].as_array().unwrap().iter())
        .map(|m| m["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["osdb-serv", "osdb-back", "osdb-third"], "{list}");
    for m in list["members"].as_array().unwrap() {
        assert!(
            m["matched"].as_u64().is_some(),
            "the leader's progress: {m}"
        );
        assert!(m["applied"].as_u64().unwrap() > 0, "{m}");
    }

    // Transfer by node name, to each member in turn.
    for to in ["osdb-third", "osdb-back"] {
        let out = c.cli(&["member", "transfer", "--to", to]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("({to}) leads now")),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(c.leader_node(), to);
    }

    // Bad targets: exit 1, the field named.
    let out = c.cli(&["member", "transfer", "--to", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: --to: no controller member runs on node \"nobody\""),
        "{}",
        text(&out.stderr)
    );
    let out = c.cli(&["member", "transfer", "--to", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("to: member 9 is not a voter"),
        "{}",
        text(&out.stderr)
    );

    // A member that is down never takes over: exit 3 once the timeout ends.
    c.kill("osdb-serv");
    let out = c.cli(&["member", "transfer", "--to", "1", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(c.leader_node(), "osdb-back");
    c.restart("osdb-serv");

    // Removing the leader: it hands over first, and the CLI follows it to the new leader.
    let out = c.cli(&["member", "remove", "osdb-back"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The answering member may have learnt of the change a moment later than the leader.
    let start = std::time::Instant::now();
    loop {
        let list = json(&c.cli(&["member", "list", "--output", "json"]));
        let ids: Vec<u64> = (list["members"].as_array().unwrap().iter())
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        if ids == [1, 3] && list["leader"] != 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_member_added_from_the_cli_catches_up_and_can_lead() {
    use std::os::unix::process::CommandExt;
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));

    // A fourth daemon, controller member only, that waits to be added. It lives beside the
    // others, so that `nonstop down` (and the cluster's drop) stops it too.
    let port = e2e::free_ports(1);
    let addr = format!("127.0.0.1:{port}");
    let members: Vec<String> = (0..3)
        .map(|i| format!("{}: 127.0.0.1:{}", i + 1, c.base_port + i))
        .chain([format!("4: {addr}")])
        .collect();
    let d = c.dir.join("osdb-fourth");
    std::fs::create_dir_all(&d).unwrap();
    // Its identity, from the cluster's CA (`up` made it), for its address.
    let ca = c.dir.join("ca");
    let tls = d.join("tls");
    let out = c.cli(&[
        "cert",
        "node",
        "osdb-fourth",
        "--ca",
        ca.to_str().unwrap(),
        "--address",
        "127.0.0.1",
        "--out",
        tls.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = format!(
        "node: osdb-fourth\ndata_dir: .\ntls: {{dir: tls}}\nlisten: {addr}\ntiming: fast\n\
         controller:\n  id: 4\n  \
         bootstrap: false\n  members: {{{}}}\n",
        members.join(", ")
    );
    std::fs::write(d.join("node.yaml"), yaml).unwrap();
    let log = std::fs::File::create(d.join("daemon.log")).unwrap();
    let mut child = std::process::Command::new(e2e::BIN)
        .args(["run", "--config", d.join("node.yaml").to_str().unwrap()])
        .current_dir(&d)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    std::fs::write(d.join("daemon.pid"), format!("{}\n", child.id())).unwrap();

    let out = c.cli(&["member", "add", "--id", "4", "--address", &addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("members now: 1, 2, 3, 4"),
        "{}",
        text(&out.stdout)
    );

    // It catches up with the others (a snapshot that names it, then the log).
    let start = std::time::Instant::now();
    loop {
        let list = json(&c.cli(&["member", "list", "--output", "json"]));
        let m = &list["members"][3];
        let leader_commit = (list["members"].as_array().unwrap().iter())
            .filter_map(|m| m["commit"].as_u64())
            .max()
            .unwrap();
        if m["node"] == "osdb-fourth" && m["applied"].as_u64() >= Some(leader_commit) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{list}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // It can lead, and the members started before it name its address as the leader's
    // (learnt from raft, not from their node.yaml).
    let out = c.cli(&["member", "transfer", "--to", "osdb-fourth"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let start = std::time::Instant::now();
    loop {
        let out = c.cli(&[
            "status",
            "--output",
            "json",
            "--endpoint",
            &format!("https://127.0.0.1:{}", c.base_port),
        ]);
        let s = json(&out);
        if s["leader"] == addr.as_str() && s["answered_by"] == "osdb-serv" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // (Should the test fail before this, dropping the cluster stops it through daemon.pid.)
    let _ = child.kill();
    let _ = child.wait();
}
