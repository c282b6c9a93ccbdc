//! The outside checker checks itself: the e2e tests trust it to see two copies and unexplained
//! exits, and to see nothing where there is nothing. Plain processes, no daemon.
//!
//! A wrapper (a pyenv shim is one: `python3` on a developer's machine is a bash script) forks
//! subshells that carry its command line and then execs into the real program: neither is a
//! second copy nor an exit. Two independent starts are two copies, and a death outside a
//! declared cause is a violation.

mod e2e;

use std::process::{Child, Command};
use std::time::Duration;

use e2e::checker::{Checker, Rules};

fn tag(what: &str) -> String {
    format!("nonstop-checker-{what}-{}", std::process::id())
}

/// `bash -c SCRIPT TAG`: the tag is the shell's $0, so it is in the command line of the shell
/// and of every subshell it forks, but not of a program it execs.
fn shell(script: &str, tag: &str) -> Child {
    Command::new("bash")
        .args(["-c", script, tag])
        .spawn()
        .expect("bash")
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn a_wrapper_that_forks_subshells_and_execs_is_one_copy_that_never_exited() {
    let t = tag("wrapper");
    let checker = Checker::start(Rules::default().process("wrapper", &t));
    // Subshells that stay shells for a while (a second command keeps bash from exec'ing), then
    // the shell becomes a program whose command line no longer holds the tag.
    let c = shell(
        "for i in 1 2 3; do (sleep 0.2; true); done; exec sleep 30",
        &t,
    );
    std::thread::sleep(Duration::from_millis(1200));
    let violations = checker.violations();
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(checker.most("wrapper"), 1);
    assert!(checker.exits().is_empty(), "{:?}", checker.exits());
    // Its real death, inside a declared cause, is an exit with that cause.
    checker.cause("the test kills it", Duration::from_secs(5));
    stop(c);
    std::thread::sleep(Duration::from_millis(200));
    let exits = checker.exits();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0].cause.as_deref(), Some("the test kills it"));
    assert!(checker.finish().is_empty());
}

#[test]
fn two_independent_starts_are_two_copies_and_a_death_without_cause_is_a_violation() {
    let t = tag("twice");
    let checker = Checker::start(Rules::default().process("twice", &t));
    let a = shell("sleep 30; true", &t);
    let b = shell("sleep 30; true", &t);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(checker.most("twice"), 2);
    stop(b);
    std::thread::sleep(Duration::from_millis(300));
    stop(a);
    let v = checker.finish();
    assert!(
        v.iter().any(|v| v.what.starts_with("2 copies of twice")),
        "{v:?}"
    );
    assert!(
        v.iter().any(|v| v.what.contains("exited with no cause")),
        "{v:?}"
    );
}

#[test]
fn a_scoped_rule_counts_only_the_processes_whose_environment_holds_its_text() {
    let t = tag("scoped");
    let scope = format!("NONSTOP_CHECKER_SCOPE_{}", std::process::id());
    let checker = Checker::start(
        Rules::default()
            .process("scoped", &t)
            .within("scoped", &scope),
    );
    // Ours (the scope in its environment) and another test's copy of the same command line.
    let ours = Command::new("bash")
        .args(["-c", "sleep 30; true", &t])
        .env(&scope, "1")
        .spawn()
        .expect("bash");
    let theirs = shell("sleep 30; true", &t);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(checker.most("scoped"), 1);
    checker.cause("the test stops both", Duration::from_secs(5));
    stop(theirs);
    stop(ours);
    assert!(checker.finish().is_empty());
}
