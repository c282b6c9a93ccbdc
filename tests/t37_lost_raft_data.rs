//! A controller member whose raft log was emptied while its daemon was down: the daemon must
//! refuse to start, naming the file and saying what to do, instead of starting on an empty log
//! as a member that forgot what it acknowledged.

mod e2e;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{BIN, LocalCluster, NODES};

#[test]
fn i10_6_a_daemon_refuses_to_start_on_an_emptied_raft_log() {
    let c = LocalCluster::start("fast");
    let leader = c.leader_node();
    let (i, node) = NODES
        .iter()
        .enumerate()
        .find(|(_, n)| **n != leader)
        .unwrap();
    c.kill(node);
    // node.yaml says `data_dir: .`: the daemon names it without the `.`.
    let log = c.dir.join(node).join("raft").join("raft.redb");
    // Emptied while its daemon is down (killed: give it a moment to be gone).
    let start = Instant::now();
    loop {
        std::fs::File::create(&log).unwrap();
        let mut run = Command::new(BIN)
            .args(["run", "--config"])
            .arg(c.dir.join(node).join("node.yaml"))
            .current_dir(c.dir.join(node))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = run.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let Some(status) = status else {
            let _ = run.kill();
            let _ = run.wait();
            panic!("the daemon of {node} started on an emptied raft.redb");
        };
        let stderr = std::io::read_to_string(run.stderr.take().unwrap()).unwrap();
        if stderr.contains("Address already in use") && start.elapsed() < Duration::from_secs(10) {
            // The killed daemon still holds its port.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(status.code(), Some(1), "{stderr}");
        let id = i + 1;
        assert!(
            stderr.contains(&format!("{}: it is empty", log.display()))
                && stderr.contains("this member's data was lost")
                && stderr.contains(&format!("nonstop member remove {id}")),
            "{stderr}"
        );
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "changed nothing");
        return;
    }
}

/// Found by the fault campaign: `up --dir` right after a member's daemon stopped believed the
/// node was running (the cluster still showed it Up from before, within `node_timeout`) while
/// the daemon it had just started refused its emptied raft log and exited. `up` must wait for
/// the daemons it started, and say which one exited and why.
#[test]
fn i10_6_up_names_the_daemon_that_refused_its_emptied_log() {
    let c = LocalCluster::start("default");
    let leader = c.leader_node();
    let node = *NODES.iter().find(|n| **n != leader).unwrap();
    let pid = c.pid(node);
    c.signal(node, "TERM");
    let gone = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "{node} did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = c.dir.join(node).join("raft").join("raft.redb");
    std::fs::File::create(&log).unwrap();
    // At once: the cluster still shows the node Up (node_timeout is 2 s in this profile).
    let dir = c.dir.to_str().unwrap();
    let out = c.cli(&["up", "--dir", dir, "--wait-secs", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{node}: its daemon (pid")) && stderr.contains("exited"),
        "{stderr}"
    );
    assert!(
        stderr.contains("it is empty"),
        "the daemon's reason: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
}
