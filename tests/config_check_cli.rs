//! `nonstop config check FILE`, run as a user runs it: exit codes, the summary line, every
//! error as `FILE:LINE:COL: message`, and nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nonstop(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("nonstop runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_example_is_valid() {
    let out = nonstop(&["config", "check", "examples/cluster.yaml"], &root());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 3 nodes, 2 groups, 3 resources\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn alerts_are_counted_and_a_bad_one_is_named() {
    let fixtures = root().join("controller/tests/fixtures/config");
    let out = nonstop(&["config", "check", "good/alerts.yaml"], &fixtures);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 2 nodes, 0 groups, 0 resources, 2 alerts\n"
    );
    let out = nonstop(&["config", "check", "bad/alert_kind.yaml"], &fixtures);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bad/alert_kind.yaml:3:60: alerts[0].kinds[1]: unknown kind \"nodes\"; expected one of \
         node, resource, fencing, group, drill\n1 error\n"
    );
}

#[test]
fn a_bad_file_exits_1_with_every_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "nodes:\n  - name: osdb-serv\ngroups:\n  - name: SOCKET_GROUP\n    owners: \
               [osdb-serv, osdb-bak]\n  - name: SOCKET_GROUP\n    owners: [osdb-serv]\n";
    std::fs::write(dir.path().join("cluster.yaml"), bad).unwrap();
    let out = nonstop(&["config", "check", "cluster.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "cluster.yaml:5:25: group \"SOCKET_GROUP\": owners names unknown node \"osdb-bak\"\n\
         cluster.yaml:6:11: group \"SOCKET_GROUP\": defined twice (first at line 4)\n\
         2 errors\n"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "config check wrote a file");
}

#[test]
fn every_bad_fixture_exits_1_and_never_panics() {
    let fixtures = root().join("controller/tests/fixtures/config/bad");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = nonstop(&["config", "check", &name], &fixtures);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with(&format!("{name}:")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn unreadable_files_are_errors_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = nonstop(&["config", "check", "missing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("missing.yaml:1:1: No such file or directory"),
        "{err}"
    );
    std::fs::write(dir.path().join("bin.yaml"), b"nodes:\n  - name: \xff\xfe\n").unwrap();
    let out = nonstop(&["config", "check", "bin.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err, "bin.yaml:2:11: the file is not UTF-8 text\n1 error\n");
}

/// Issue 17, item 9: `type list` and `type show` see the types a cluster file defines (with
/// `--file`, or the local cluster's .nonstop/cluster.yaml), and an unknown type is bad input
/// (exit 1), not "no endpoint answers" (exit 2).
#[test]
fn i17_9_type_commands_see_the_cluster_files_types_and_an_unknown_type_exits_1() {
    let file = root().join("examples/chat/cluster.yaml");
    let file = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = nonstop(&["type", "list", "--file", file], dir.path());
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("chat-server") && l.contains("cluster file")),
        "{listed}"
    );
    let out = nonstop(&["type", "show", "chat-server", "--file", file], dir.path());
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && shown.contains("MaxUser"), "{shown}");
    // The local cluster's file is read without --file.
    std::fs::create_dir(dir.path().join(".nonstop")).unwrap();
    std::fs::copy(file, dir.path().join(".nonstop/cluster.yaml")).unwrap();
    let out = nonstop(&["type", "show", "chat-server"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = nonstop(&["type", "show", "no-such-type"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown resource type \"no-such-type\"")
    );
}

/// `nonstop ... | true`: the reader is gone before anything is written. Writing to the closed
/// pipe ends the command quietly with exit 0, like `events --follow | head`, instead of a
/// panic and exit 101.
#[test]
fn i10_8_a_closed_stdout_ends_the_command_quietly() {
    let tmax = "tests/fixtures/tmax/good/mapping.m";
    for args in [
        &["config", "check", "examples/cluster.yaml"][..],
        &[
            "simulate",
            "examples/cluster.yaml",
            "--fail",
            "node:osdb-serv",
        ],
        &["tmax", "import", tmax],
        &["type", "show", "process"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_nonstop"))
            .args(args)
            .current_dir(root())
            .stdout(writer)
            .output()
            .expect("nonstop runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        // (The Tmax file's own warnings go to stderr as usual.)
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

/// A file name (or a name inside the file) with control characters must not reach the terminal
/// raw: ESC could recolour or clear it, CR could overwrite the line, LF could fake another
/// error line. They are printed as escapes (`\u{1b}`, `\r`, `\n`).
#[test]
fn i10_8_control_characters_are_escaped_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let name = "bad\u{1b}[2J\r\nX.yaml";
    std::fs::write(dir.path().join(name), "nodes:\n  - name: \"\\e[31m\"\n").unwrap();
    let tmax = "t\u{1b}]0;x\u{7}.m";
    std::fs::write(dir.path().join(tmax), "*DOMAIN\nres SHMKEY = 1\n").unwrap();
    let shown = "bad\\u{1b}[2J\\r\\nX.yaml";
    let cases: [(&[&str], String); 5] = [
        (
            &["config", "check", name],
            format!(
                "{shown}:2:11: node \"\\u{{1b}}[31m\": name: use 1 to 63 letters, digits, '_', \
                 '-', '.' or ':', starting with a letter or a digit\n1 error\n"
            ),
        ),
        (
            &["config", "check", "missing\u{1b}[2J.yaml"],
            "missing\\u{1b}[2J.yaml:1:1: No such file or directory (os error 2)\n1 error\n".into(),
        ),
        (
            &[
                "apply",
                "gone\u{9b}31m.yaml",
                "--endpoint",
                "http://127.0.0.1:1",
            ],
            "error: gone\\u{9b}31m.yaml: cannot read: No such file or directory (os error 2)\n"
                .into(),
        ),
        (
            &["tmax", "check", tmax],
            "t\\u{1b}]0;x\\u{7}.m:1:1: NST0007: section *NODE is missing".into(),
        ),
        (
            &["simulate", name],
            format!("{shown}:2:11: node \"\\u{{1b}}[31m\": name: use 1 to 63"),
        ),
    ];
    for (args, want) in cases {
        let out = nonstop(args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            !err.contains(['\u{1b}', '\r', '\u{7}', '\u{9b}']),
            "{args:?}: raw control characters in {err:?}"
        );
        assert!(err.starts_with(&want), "{args:?}: {err:?}\nwanted {want:?}");
    }
}

/// The same on stdout (`down` names the folder it looked in) and in clap's usage errors, which
/// echo the arguments.
#[test]
fn i10_8_control_characters_are_escaped_on_stdout_and_in_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = nonstop(&["down", "--dir", "x\u{1b}[2J"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no local cluster in x\\u{1b}[2J\n"
    );
    let out = nonstop(&["\u{1b}[31mbo\rgus"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: unrecognized subcommand 'bo\\rgus'"),
        "{err:?}"
    );
    assert!(!err.contains(['\u{1b}', '\r']), "{err:?}");
}

/// A fence agent installed on the checking machine is asked for its parameters
/// (`-o metadata`): one it does not list is named, with the line; a known one passes.
#[test]
fn an_installed_fence_agents_unknown_parameter_is_named() {
    if !Path::new("/usr/sbin/fence_dummy").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true: needs fence_dummy (Debian's fence-agents)"
        );
        eprintln!("!!! SKIPPED: needs fence_dummy (apt-get install fence-agents)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = |params: &str| {
        format!(
            "nodes:\n  - name: a\n    fence: {{agent: fence_dummy, params: {{{params}}}}}\n  \
             - name: b\n"
        )
    };
    std::fs::write(
        dir.path().join("bad.yaml"),
        file("status_file: /tmp/x, plugg: a"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("good.yaml"),
        file("status_file: /tmp/x, type: fail"),
    )
    .unwrap();
    let out = nonstop(&["config", "check", "bad.yaml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(
            "bad.yaml:3:70: node \"a\": fence.params.plugg: fence_dummy takes no parameter \
             \"plugg\" (its -o metadata lists: action, "
        ),
        "{err}"
    );
    let out = nonstop(&["config", "check", "good.yaml"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
