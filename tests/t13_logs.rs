//! What the daemons write into their logs: no terminal colour codes in a file, raft-rs's own
//! chatter left out at the default level, and JSON lines (timestamp, level, target, fields)
//! with `--log-format json`, from the daemon and its watchdog alike.

mod e2e;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{BIN, free_ports, text};

/// A one-node cluster with no group, started by `nonstop up` in `dir` with `extra` options;
/// returns its daemon.log once the node is Up (and the cluster stopped).
fn log_of(dir: &Path, extra: &[&str]) -> String {
    std::fs::write(dir.join("cluster.yaml"), "nodes: [{name: solo}]\n").unwrap();
    let port = free_ports(1).to_string();
    let state = dir.join(".nonstop");
    let out = Command::new(BIN)
        .args(["up", "cluster.yaml", "--dir", state.to_str().unwrap()])
        .args(["--base-port", &port, "--timing", "fast"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let log = state.join("solo/daemon.log");
    let start = Instant::now();
    // The agent's registration and its watchdog's start are in the log by now; wait for both.
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("watchdog started")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no watchdog line"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new(BIN)
        .args(["down", "--dir", state.to_str().unwrap()])
        .output();
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn a_daemon_log_has_no_colour_codes_and_no_raft_chatter() {
    let tmp = tempfile::tempdir().unwrap();
    let log = log_of(tmp.path(), &[]);
    assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log}");
    assert!(
        log.contains("INFO nonstop::daemon::roles: running node=solo"),
        "{log}"
    );
    // raft-rs logs "became leader" at info through slog: left out unless RUST_LOG asks.
    assert!(!log.contains("became leader"), "{log}");
}

#[test]
fn json_log_lines_carry_timestamp_level_target_and_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let log = log_of(tmp.path(), &["--log-format", "json"]);
    assert!(!log.contains('\u{1b}'), "{log}");
    let mut watchdog = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        watchdog |= v["target"] == "nonstop::watchdog";
    }
    assert!(watchdog, "the watchdog logs JSON too:\n{log}");
    let node_yaml = std::fs::read_to_string(tmp.path().join(".nonstop/solo/node.yaml")).unwrap();
    assert!(node_yaml.contains("log_format: json"), "{node_yaml}");
}
