//! `nonstop cert`, run as an operator runs it: a CA, a node's and a user's certificate, `show`
//! reading them back, and every bad argument refused with exit 1, naming it, writing nothing.

use std::path::Path;
use std::process::{Command, Output};

fn nonstop(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("nonstop runs")
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{needle:?} not in: {err}");
}

#[test]
fn a_ca_signs_a_node_and_a_user_and_show_reads_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(&nonstop(&["cert", "init", "--out", "ca"], d));
    let args = [
        "cert",
        "node",
        "n1",
        "--ca",
        "ca",
        "--address",
        "198.18.0.1",
        "--address",
        "n1.example",
        "--out",
        "n1",
    ];
    ok(&nonstop(&args, d));
    let user = [
        "cert", "user", "ops", "--role", "operator", "--ca", "ca", "--out", "ops",
    ];
    ok(&nonstop(&user, d));
    let node = ok(&nonstop(&["cert", "show", "n1/cert.pem"], d));
    assert!(node.contains("identity:   node n1"), "{node}");
    assert!(
        node.contains("addresses:  198.18.0.1, n1.example"),
        "{node}"
    );
    assert!(
        node.contains("(364 days left)") || node.contains("(365 days left)"),
        "{node}"
    );
    let ops = ok(&nonstop(&["cert", "show", "ops/cert.pem"], d));
    assert!(ops.contains("identity:   user ops (operator)"), "{ops}");
    assert!(ops.contains("role:       operator"), "{ops}");
    let ca = ok(&nonstop(&["cert", "show", "ca/ca.pem"], d));
    assert!(ca.contains("identity:   cluster CA"), "{ca}");
}

#[test]
fn bad_arguments_are_refused_naming_them_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(&nonstop(&["cert", "init", "--out", "ca"], d));
    let before = std::fs::read_dir(d).unwrap().count();
    let node = |name: &str, addr: &str| {
        nonstop(
            &[
                "cert",
                "node",
                name,
                "--ca",
                "ca",
                "--address",
                addr,
                "--out",
                "x",
            ],
            d,
        )
    };
    refused(&node("../n", "127.0.0.1"), "NAME");
    refused(&node("n", "127.0.0.1:7701"), "--address");
    refused(
        &nonstop(
            &[
                "cert", "user", "u", "--role", "root", "--ca", "ca", "--out", "x",
            ],
            d,
        ),
        "--role: \"root\": use viewer, operator or admin",
    );
    refused(
        &nonstop(
            &[
                "cert",
                "node",
                "n",
                "--ca",
                "nowhere",
                "--address",
                "::1",
                "--out",
                "x",
            ],
            d,
        ),
        "nowhere/ca.pem",
    );
    refused(
        &nonstop(&["cert", "init", "--out", "ca"], d),
        "exists already",
    );
    refused(
        &nonstop(&["cert", "init", "--out", "y", "--days", "0"], d),
        "--days",
    );
    refused(&nonstop(&["cert", "show", "ca/key.pem"], d), "ca/key.pem");
    assert_eq!(
        std::fs::read_dir(d).unwrap().count(),
        before,
        "something was written"
    );
}
