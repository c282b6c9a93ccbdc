//! The README's main command, as a user runs it: from a fresh clone of this repository, the
//! command the README gives (`cargo run --release -- up`, read from the README itself) starts
//! three daemons running the chat example, `nonstop status` shows it, `nonstop down` stops it
//! all. The README's other command is the one CI runs (`.ci/run` calls it): checked to be so.
//! The release build here is made at optimisation level 0 (the command and the code are the
//! same; only the compiler's effort differs), to keep the suite within its time.

mod e2e;

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{BIN, text};

/// The two commands of the README's "The two commands" section: (main job, test suite).
fn readme_commands() -> (String, String) {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## The two commands")
        .nth(1)
        .expect("README has a section \"The two commands\"");
    let blocks: Vec<String> = section
        .split("```sh\n")
        .skip(1)
        .take(2)
        .map(|b| b.split("```").next().unwrap_or("").trim().to_string())
        .collect();
    assert_eq!(blocks.len(), 2, "two sh blocks in the README's section");
    (blocks[0].clone(), blocks[1].clone())
}

/// A fresh clone of this repository (what is committed) in `dir`.
fn fresh_clone(dir: &Path) -> PathBuf {
    let src = env!("CARGO_MANIFEST_DIR");
    let dest = dir.join("nonstop");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks", src])
        .arg(&dest)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git clone: {}", text(&out.stderr));
    dest
}

#[test]
fn the_readme_commands_from_a_fresh_clone() {
    let (main, tests) = readme_commands();
    assert_eq!(tests, "./scripts/test.sh");
    let ci = include_str!("../.ci/run");
    assert!(
        ci.contains("scripts/test.sh"),
        "CI runs the README's test command:\n{ci}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let clone = fresh_clone(tmp.path());
    // The suite's own target folder: in CI the release build happens here, once.
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    // The optimisation level is lowered for this build: what is checked is that the command
    // works from a fresh clone, not how long the compiler takes to optimise (seven minutes of
    // the suite's twenty on a 2-core machine; about three at level 0).
    let up = Command::new("sh")
        .args(["-c", &main])
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .output()
        .unwrap();
    let stopper = scopeguard(&clone);
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(&clone)
            .output()
            .unwrap()
    };
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
        assert!(clone.join(".nonstop").join(n).join("daemon.pid").exists());
    }
    let status = run(&["status", "--output", "json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["groups"][0]["name"], "SOCKET_GROUP");
    assert_eq!(v["nodes"].as_array().map(|n| n.len()), Some(3));
    let leader = v["leader_node"].as_str().unwrap_or_default();
    assert!(
        ["osdb-serv", "osdb-back", "osdb-third"].contains(&leader),
        "the status names the leader's node: {v}"
    );
    let members = v["members"].as_array().expect("members");
    assert_eq!(members.len(), 3, "three controller members");
    assert_eq!(
        members.iter().filter(|m| m["role"] == "leader").count(),
        1,
        "{members:?}"
    );
    let resolved = run(&["service", "resolve", "CHAT", "--output", "json"]);
    assert!(resolved.status.success(), "{}", text(&resolved.stderr));
    let r: serde_json::Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(r["routes"][0]["node"], "osdb-serv", "{r}");
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

    // `up` again starts the same cluster as it was, from its data.
    let _stopper = scopeguard(&clone);
    let up = run(&["up"]);
    let out = text(&up.stdout);
    assert!(up.status.success(), "{out}{}", text(&up.stderr));
    for n in ["osdb-serv", "osdb-back", "osdb-third"] {
        assert!(out.contains(&format!("started {n} again (pid ")), "{out}");
    }
    assert!(
        out.contains("group SOCKET_GROUP     Online   on osdb-serv"),
        "{out}"
    );

    // docs/deploy.md installs with `cargo install --path .`: the release build the README's
    // command made is reused, and the installed binary works.
    let root = tmp.path().join("root");
    let install = Command::new(env!("CARGO"))
        .args(["install", "--path", ".", "--locked", "--offline", "--root"])
        .arg(&root)
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", text(&install.stderr));
    let version = Command::new(root.join("bin").join("nonstop"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        version.status.success() && text(&version.stdout).starts_with("nonstop "),
        "{}",
        text(&version.stdout)
    );
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

/// `up` with flags it cannot honour says which flag and why, and leaves no folder behind.
#[test]
fn up_refuses_bad_flags_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.yaml");
    std::fs::write(&file, "nodes: [{name: a}]\n").unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let f = file.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["up", f, "--nodes", "4", "--dir", d],
            "--nodes 4: only with the built-in example",
        ),
        (
            &["up", "--nodes", "0", "--dir", d],
            "--nodes 0: run 1 to 9 nodes",
        ),
        (
            &["up", "--timing", "slow", "--dir", d],
            "--timing slow: default or fast",
        ),
        (
            &["up", "nothing.yaml", "--dir", d],
            "nothing.yaml: No such file",
        ),
        (
            &["up", "--plugin-dir", "no/such/folder", "--dir", d],
            "--plugin-dir: no/such/folder: No such file",
        ),
        (&["up", "--plugin-dir", f, "--dir", d], "is not a folder"),
    ];
    for (args, message) in cases {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!dir.exists(), "{args:?} created {d}");
    }
}

/// A node's files go to DIR/<node>/: a node named `..` put them beside DIR (where `down` does
/// not look). `up` refuses the name, naming the node and the field, before creating anything.
#[test]
fn i10_8_up_refuses_a_node_named_dot_dot_before_creating_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("c.yaml"),
        "nodes: [{name: \"..\"}, {name: b}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["up", "c.yaml", "--dir", "d", "--base-port", "7791"])
        .args(["--wait-secs", "1"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("c.yaml:1:16: node \"..\": name: use 1 to 63 letters"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["c.yaml"], "up created files");
}
