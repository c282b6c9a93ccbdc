//! The daemons' Prometheus endpoints, scraped from outside as Prometheus would: `up` lists one
//! URL per node in DIR/metrics; what they serve passes `promtool check metrics` (Debian's
//! prometheus package); a node lost and a resource killed show up as the counters, states and
//! the fail-over histogram say; `/health` answers 200 on a healthy node.

mod e2e;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::LocalCluster;

/// GET `url` (`http://127.0.0.1:PORT/PATH`) over plain HTTP/1.0: the status code and body.
fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Scrapes `url` until `series` reaches at least `want` (or panics after 30 s).
fn wait_for(url: &str, series: &str, want: f64) -> String {
    let start = Instant::now();
    loop {
        let (_, body) = get(url);
        if sample(&body, series).is_some_and(|v| v >= want) {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{series} never reached {want} at {url}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `promtool check metrics` on `text`, or `None` when promtool is not installed (the test
/// then says so, and fails under CI).
fn promtool(text: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("!!! SKIPPED promtool: apt-get install prometheus");
            return None;
        }
        Err(e) => panic!("CI=true: promtool (Debian's prometheus) is needed: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

#[test]
fn every_node_serves_metrics_that_follow_a_fail_over_and_a_restart() {
    let mut c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let listed = std::fs::read_to_string(c.dir.join("metrics")).unwrap();
    let urls: Vec<&str> = listed.lines().collect();
    assert_eq!(urls.len(), 3, "one URL per node: {listed}");
    for url in &urls {
        let body = wait_for(
            url,
            "nonstop_group_state{group=\"SOCKET_GROUP\",state=\"Online\"}",
            1.0,
        );
        if let Some((ok, said)) = promtool(&body) {
            assert!(ok, "promtool check metrics: {said}\n{body}");
        }
        let (code, health) = get(&url.replace("/metrics", "/health"));
        assert_eq!(code, 200, "{health}");
        assert!(health.contains("\"healthy\": true"), "{health}");
    }
    let serv = urls[0];
    let body = wait_for(
        serv,
        "nonstop_handler_call_duration_seconds_count{type=\"chat-server\",action=\"online\",result=\"ok\"}",
        1.0,
    );
    assert!(
        sample(&body, "nonstop_agent_lease_remaining_seconds").is_some_and(|v| v > 0.0),
        "{body}"
    );
    assert!(body.contains("nonstop_agent_heartbeat_rtt_seconds_count{member=\"1\"}"));
    assert_eq!(
        sample(
            &body,
            "nonstop_group_owner{group=\"SOCKET_GROUP\",node=\"osdb-serv\"}"
        ),
        Some(1.0)
    );

    // The home node is lost: the others count the fail-over and time it.
    c.kill("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    let back = urls[1];
    let body = wait_for(
        back,
        "nonstop_failover_duration_seconds_count{reason=\"node-down\"}",
        1.0,
    );
    assert_eq!(
        sample(
            &body,
            "nonstop_group_moves_total{group=\"SOCKET_GROUP\",reason=\"node-down\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "nonstop_node_state{node=\"osdb-serv\",state=\"Down\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "nonstop_group_owner{group=\"SOCKET_GROUP\",node=\"osdb-back\"}"
        ),
        Some(1.0)
    );
    let took = sample(
        &body,
        "nonstop_failover_duration_seconds_sum{reason=\"node-down\"}",
    );
    assert!(took.is_some_and(|t| t > 0.0 && t < 30.0), "{body}");
    // The third member agrees: it counted the same transitions from the same log.
    let third = wait_for(
        urls[2],
        "nonstop_group_moves_total{group=\"SOCKET_GROUP\",reason=\"node-down\"}",
        1.0,
    );
    assert_eq!(
        sample(
            &third,
            "nonstop_failover_duration_seconds_sum{reason=\"node-down\"}"
        ),
        took
    );

    // The chat server is killed on osdb-back: it restarts in place, and that is counted.
    c.disturb("kill the chat server");
    for pid in c.chat_pids() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_for(
        back,
        "nonstop_resource_restarts_total{resource=\"chat\",group=\"SOCKET_GROUP\",node=\"osdb-back\"}",
        1.0,
    );
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    c.check();
}

#[test]
fn a_bad_metrics_listen_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = tmp.path().join("node.yaml");
    std::fs::write(
        &yaml,
        "node: a\ndata_dir: d\ninsecure: true\nlisten: 127.0.0.1:7701\nagent: {controllers: [127.0.0.1:7701]}\n\
         metrics_listen: 10.1.2.3:9100\n",
    )
    .unwrap();
    let out = Command::new(e2e::BIN)
        .args(["run", "--config", yaml.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("metrics_listen") && err.contains("10.1.2.3:9100 is not a loopback address"),
        "{err}"
    );
}
