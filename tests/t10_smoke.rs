//! The README's main command, as a user runs it: `nonstop up` with no arguments starts three
//! daemons running the chat example, `nonstop status` shows it, `nonstop down` stops it all.

mod e2e;

use std::process::Command;

use e2e::{BIN, text};

#[test]
fn up_status_down_with_the_built_in_example() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let up = run(&["up", "--wait-secs", "60"]);
    let stopper = scopeguard(tmp.path());
    assert!(
        up.status.success(),
        "{}{}",
        text(&up.stdout),
        text(&up.stderr)
    );
    assert!(
        text(&up.stdout).contains("group SOCKET_GROUP     Online   on osdb-serv"),
        "{}",
        text(&up.stdout)
    );
    for n in ["osdb-serv", "osdb-back", "osdb-third"] {
        assert!(
            tmp.path()
                .join(".nonstop")
                .join(n)
                .join("daemon.pid")
                .exists()
        );
    }
    let status = run(&["status", "--output", "json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["groups"][0]["name"], "SOCKET_GROUP");
    assert_eq!(v["nodes"].as_array().map(|n| n.len()), Some(3));
    let members = v["members"].as_array().expect("members");
    assert_eq!(members.len(), 3, "three controller members");
    assert_eq!(
        members.iter().filter(|m| m["role"] == "leader").count(),
        1,
        "{members:?}"
    );
    let again = run(&["up"]);
    assert_eq!(again.status.code(), Some(1), "a second up refuses");
    assert!(
        text(&again.stderr).contains("is already running"),
        "{}",
        text(&again.stderr)
    );
    drop(stopper);
    let status = run(&["status"]);
    assert_eq!(status.status.code(), Some(2), "after down nothing answers");
}

/// Runs `nonstop down` when dropped, so a failed assertion leaves nothing running.
fn scopeguard(dir: &std::path::Path) -> impl Drop {
    struct Down(std::path::PathBuf);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Command::new(BIN).arg("down").current_dir(&self.0).output();
        }
    }
    Down(dir.to_path_buf())
}
