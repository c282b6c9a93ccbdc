//! The event history as an operator follows it: `nonstop events --follow` keeps going when
//! the member serving it is killed (it watches again on the next member, from the last
//! revision it printed: no gap, no event twice), and a member started again serves the
//! events from before its restart once, from its file (DATA_DIR/raft/events.redb).

mod e2e;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{BIN, LocalCluster, text};

/// (revision, summary, at) of each event, in order.
type Seen = Vec<(u64, String, u64)>;

fn parse(v: &serde_json::Value) -> (u64, String, u64) {
    (
        v["revision"].as_u64().unwrap(),
        v["event"].to_string(),
        v["at_ms"].as_u64().unwrap(),
    )
}

/// `events -o json` through `node` alone.
fn events_via(c: &LocalCluster, node: &str) -> Seen {
    let out = c.cli_via(&[node], &["events", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.iter().map(parse).collect()
}

#[test]
fn follow_survives_the_death_of_its_member_without_gaps_or_repeats() {
    let mut c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    // Follow through the home node's member first, then the others.
    let urls: Vec<String> = ["osdb-serv", "osdb-back", "osdb-third"]
        .iter()
        .map(|n| c.url(n))
        .collect();
    let mut child = Command::new(BIN)
        .args([
            "events",
            "--follow",
            "-o",
            "json",
            "--endpoint",
            &urls.join(","),
        ])
        .current_dir(c.tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let followed: Arc<Mutex<Seen>> = Arc::default();
    let out = child.stdout.take().unwrap();
    let sink = followed.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            sink.lock().unwrap().push(parse(&v));
        }
    });
    let wait_for = |what: &str, pred: &dyn Fn(&Seen) -> bool| {
        let start = Instant::now();
        while !pred(&followed.lock().unwrap()) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the follower never saw {what}: {:#?}",
                followed.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("the history", &|s| !s.is_empty());

    // The member it follows dies with its node: the group fails over meanwhile.
    c.kill("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-back", Duration::from_secs(30));
    wait_for("the move", &|s| {
        s.iter()
            .any(|(_, e, _)| e.contains("group-placed") && e.contains("osdb-back"))
    });
    // It comes back and the group fails back: more events, followed on another member now.
    c.restart("osdb-serv");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let truth = events_via(&c, "osdb-back");
    let last = truth.last().unwrap().0;
    wait_for("the fail-back", &|s| {
        s.last().is_some_and(|(r, _, _)| *r >= last)
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    assert!(
        stderr.contains("watching again from revision"),
        "it had to watch again: {stderr}"
    );

    let followed = followed.lock().unwrap().clone();
    let seen: Vec<_> = followed
        .iter()
        .filter(|(r, _, _)| *r <= last)
        .cloned()
        .collect();
    assert_eq!(
        seen, truth,
        "what was followed is what the cluster recorded, once each"
    );

    // The member started again serves the same history, from before its restart, once.
    let again = events_via(&c, "osdb-serv");
    let again: Vec<_> = again.into_iter().filter(|(r, _, _)| *r <= last).collect();
    assert_eq!(again, truth);
    let unique: BTreeSet<_> = again.iter().collect();
    assert_eq!(unique.len(), again.len(), "no event twice");
    assert!(c.dir.join("osdb-serv/raft/events.redb").exists());
    c.check();
}
