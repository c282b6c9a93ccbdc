//! Alerts with real daemons and Debian's Pacemaker alert agent (pacemaker-common's
//! alert_file.sh.sample, unmodified): the raft leader runs it for a resource's start and stop
//! and for a node lost, and it writes Pacemaker's lines to the file its recipient names. An
//! agent that hangs past its timeout and one that fails are logged, and hold up nothing: the
//! group still moves at once when its node dies.

mod e2e;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::{LocalCluster, NODES, cluster_yaml};

const SAMPLE: &str = "/usr/share/pacemaker/alerts/alert_file.sh.sample";

/// Whether Pacemaker's sample agent is installed (the test is skipped without it, except on CI).
fn alert_file(test: &str) -> bool {
    if Path::new(SAMPLE).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI=true: {test} needs {SAMPLE} (Debian's pacemaker-common)");
    }
    eprintln!("!!! SKIPPED {test}: needs {SAMPLE} (apt-get install pacemaker-common)");
    false
}

/// Writes an executable script into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// The chat cluster with the sample agent, copied into `dir`, writing to `dir/alerts.log`, and
/// the alerts `more` adds (YAML list items).
fn with_alerts(dir: &Path, chat_port: u16, more: &str) -> String {
    let sample = std::fs::read_to_string(SAMPLE).unwrap();
    let agent = script(dir, "alert_file.sh", &sample);
    format!(
        "{}alerts:\n  - name: file\n    path: {}\n    recipients: [{}]\n{more}",
        cluster_yaml("fast", chat_port),
        agent.display(),
        dir.join("alerts.log").display()
    )
}

/// Waits until the sample agent's file has a line containing `text`; returns that line.
fn line(c: &LocalCluster, text: &str) -> String {
    let log = c.tmp.path().join("alerts.log");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(l) = lines.lines().find(|l| l.contains(text)) {
            return l.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no alert line with {text:?} in {}:\n{lines}\n{}",
            log.display(),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node other than `but`.
fn another(but: &[&str]) -> &'static str {
    NODES.into_iter().find(|n| !but.contains(n)).unwrap()
}

#[test]
fn pacemakers_alert_file_agent_logs_starts_stops_and_a_lost_node() {
    if !alert_file("t17") {
        return;
    }
    let mut c = LocalCluster::start_watched(
        "fast",
        |port, dir| with_alerts(dir, port, ""),
        |rules, _, _| rules,
    );
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let start = line(
        &c,
        "Resource operation 'start' for 'chat' on 'osdb-serv': ok",
    );
    // Pacemaker's default timestamp format, then the agent's own words.
    let stamp = start.split(": ").next().unwrap();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    assert!(
        stamp.len() == 15 && digits.len() == 12 && &stamp[8..9] == ".",
        "%H:%M:%S.%06N: {start}"
    );
    line(&c, "Node 'osdb-serv' is now 'member'");

    // A bad alert is refused by the cluster, naming its field; a good one is told by name.
    let file = c.tmp.path().join("cluster.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let more = c.tmp.path().join("more.yaml");
    std::fs::write(
        &more,
        format!("{yaml}  - {{ name: pager, path: page-ops }}\n"),
    )
    .unwrap();
    let out = c.cli(&["apply", more.to_str().unwrap()]);
    let err = e2e::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("alerts[1].path: \"page-ops\" is not an absolute path"),
        "{err}"
    );
    std::fs::write(
        &more,
        format!("{yaml}  - {{ name: pager, path: /bin/true }}\n"),
    )
    .unwrap();
    let out = c.cli(&["apply", more.to_str().unwrap(), "--dry-run"]);
    assert!(e2e::text(&out.stdout).contains("+ alert pager"), "{out:?}");

    // A move: the chat server stops on osdb-serv and starts on a node that does not lead.
    let leader = c.leader_node();
    let to = another(&[leader, "osdb-serv"]);
    c.move_and_wait(to);
    line(
        &c,
        "Resource operation 'stop' for 'chat' on 'osdb-serv': ok",
    );
    line(
        &c,
        &format!("Resource operation 'start' for 'chat' on '{to}': ok"),
    );

    // Its node's daemon dies: the leader declares it lost.
    c.kill(to);
    line(&c, &format!("Node '{to}' is now '{}'", "lost"));
    // Group and drill alerts go only to alerts that ask for them: the file has none.
    let all = std::fs::read_to_string(c.tmp.path().join("alerts.log")).unwrap();
    assert!(!all.contains("Unhandled"), "{all}");
    c.check();
}

#[test]
fn slow_and_failing_agents_are_logged_and_do_not_delay_a_fail_over() {
    if !alert_file("t17") {
        return;
    }
    let mut c = LocalCluster::start_watched(
        "fast",
        |port, dir| {
            let slow = script(dir, "slow.sh", "#!/bin/sh\nsleep 60\n");
            let broken = script(
                dir,
                "broken.sh",
                "#!/bin/sh\necho \"cannot reach the pager\" >&2\nexit 1\n",
            );
            let more = format!(
                "  - {{ name: slow, path: {}, timeout: 5s }}\n  - {{ name: broken, path: {} }}\n",
                slow.display(),
                broken.display()
            );
            with_alerts(dir, port, &more)
        },
        |rules, _, _| rules,
    );
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    line(
        &c,
        "Resource operation 'start' for 'chat' on 'osdb-serv': ok",
    );
    let (owner, leader) = c.owner_apart_from_leader();

    // The owner's daemon dies. Each event of the fail-over (the node lost, the chat server and
    // the marker stopped and started) calls the slow agent, which holds on for 5 s each time:
    // were anything to wait for it, the group would be seconds late.
    let started = Instant::now();
    c.kill(owner);
    let moved_to = loop {
        let g = c.group("SOCKET_GROUP").unwrap_or_default();
        if g["state"] == "Online" && g["owner"] != owner {
            break g["owner"].as_str().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "SOCKET_GROUP did not leave {owner}: {g}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    eprintln!("t17: kill -9 {owner} -> Online on {moved_to}: {took:?} (leader {leader})");
    assert!(
        took < Duration::from_secs(4),
        "the fail-over took {took:?}: it waited for an alert agent"
    );
    line(&c, &format!("Node '{owner}' is now 'lost'"));
    line(
        &c,
        &format!("Resource operation 'start' for 'chat' on '{moved_to}': ok"),
    );

    // Both failures are in the leader's log: the agent, how it ended, its last line.
    let wait = Instant::now();
    let (broken, slow) = loop {
        let log = c.log(leader);
        let failed = |alert: &str| {
            log.lines()
                .find(|l| l.contains("alert agent failed") && l.contains(&format!("alert={alert}")))
                .map(str::to_string)
        };
        if let (Some(b), Some(s)) = (failed("broken"), failed("slow")) {
            break (b, s);
        }
        assert!(
            wait.elapsed() < Duration::from_secs(30),
            "no warnings for both agents in {leader}'s log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        broken.contains("WARN") && broken.contains("exit code 1: cannot reach the pager"),
        "{broken}"
    );
    assert!(
        slow.contains("WARN") && slow.contains("timed out after 5s (killed)"),
        "{slow}"
    );
    c.check();
}
