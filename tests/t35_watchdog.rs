//! `nonstop watchdog` as a real process: given a state file naming the process group of a
//! `sleep` the test started, it leaves it alone before the lease's end and kills it just after;
//! the end of input with a lease (the daemon died) kills it at once; `none` then the end of
//! input makes it exit at once and kill nothing; garbled lines are ignored.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};
use nonstop_agent::state_file::{Started, StartedMap, write_atomically};
use nonstop_contract::HandlerRef;
use nonstop_resource_types::Footprint;
use nonstop_resource_types::procs::ProcessGroup;

const BIN: &str = env!("CARGO_BIN_EXE_nonstop");

fn now_ms() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000
}

/// A `sleep 60` in a process group of its own, as the process handler starts resources.
fn sleeper() -> Child {
    use std::os::unix::process::CommandExt;
    Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap()
}

/// A state file naming `child`'s process group as resource "app" of type `process`.
fn state_file(dir: &Path, child: &Child) -> std::path::PathBuf {
    let group = ProcessGroup::led_by(child.id() as i32);
    write_state(dir, group)
}

/// A state file naming `group` as resource "app" of type `process`.
fn write_state(dir: &Path, group: ProcessGroup) -> std::path::PathBuf {
    let started = Started {
        type_name: "app-server".into(),
        handler: HandlerRef::Builtin("process".into()),
        footprint: Footprint {
            process_groups: vec![group],
            ..Footprint::default()
        },
    };
    let map: StartedMap = [("app".to_string(), started)].into();
    let path = dir.join("agent-state.json");
    write_atomically(&path, &serde_json::to_vec(&map).unwrap()).unwrap();
    path
}

fn watchdog(state: &Path) -> (Child, ChildStdin) {
    let mut child = Command::new(BIN)
        .args(["watchdog", "--state", state.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

fn say(stdin: &mut ChildStdin, line: &str) {
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
}

fn alive(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

/// Waits (up to `within`) until `child` has ended; whether it did.
fn ends_within(child: &mut Child, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if !alive(child) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn it_kills_the_resources_just_after_the_lease_runs_out_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = sleeper();
    let state = state_file(dir.path(), &app);
    let (mut wd, mut input) = watchdog(&state);
    let deadline = now_ms() + 800;
    say(&mut input, &deadline.to_string());
    while now_ms() + 20 < deadline {
        assert!(alive(&mut app), "killed before the lease's end");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        ends_within(&mut app, Duration::from_secs(3)),
        "never killed"
    );
    let late = now_ms().saturating_sub(deadline);
    eprintln!("killed {late} ms after the lease's end");
    assert!(late <= 300, "killed {late} ms after the lease's end");
    // It keeps watching: the daemon may come back.
    assert!(
        alive(&mut wd),
        "the watchdog exits only when its input ends"
    );
    drop(input);
    assert!(ends_within(&mut wd, Duration::from_secs(2)));
    let log = stderr_of(wd);
    assert!(log.contains("fencing 1 resource(s): app"), "{log}");
}

#[test]
fn none_then_end_of_input_exits_at_once_and_kills_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = sleeper();
    let state = state_file(dir.path(), &app);
    let (mut wd, mut input) = watchdog(&state);
    say(&mut input, &(now_ms() + 1000).to_string());
    say(&mut input, "none");
    drop(input);
    assert!(
        ends_within(&mut wd, Duration::from_millis(500)),
        "still running"
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert!(alive(&mut app), "killed after `none`");
    let _ = app.kill();
}

#[test]
fn the_end_of_input_with_a_lease_fences_at_once_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = sleeper();
    let state = state_file(dir.path(), &app);
    let (mut wd, mut input) = watchdog(&state);
    let deadline = now_ms() + 5_000;
    say(&mut input, &deadline.to_string());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        alive(&mut app),
        "killed while the daemon lived, before the lease's end"
    );
    // The daemon dies (kill -9): its end of the pipe closes. Nobody can renew the lease, so
    // the watchdog does not wait for its end.
    drop(input);
    let start = Instant::now();
    assert!(
        ends_within(&mut app, Duration::from_secs(2)),
        "not killed when the daemon died"
    );
    eprintln!("killed {:?} after the daemon died", start.elapsed());
    assert!(now_ms() < deadline, "it waited for the lease's end");
    assert!(ends_within(&mut wd, Duration::from_secs(2)), "did not exit");
}

#[test]
fn garbled_lines_are_ignored_and_never_fence_early() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = sleeper();
    let state = state_file(dir.path(), &app);
    let (mut wd, mut input) = watchdog(&state);
    let deadline = now_ms() + 700;
    say(&mut input, &deadline.to_string());
    for junk in ["garbage", "12x", "", "-1", "99999999999999999999999999"] {
        say(&mut input, junk);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(&mut wd), "the watchdog crashed on a garbled line");
    assert!(alive(&mut app), "a garbled line fenced early");
    assert!(
        ends_within(&mut app, Duration::from_secs(3)),
        "never killed"
    );
    assert!(now_ms() >= deadline);
    drop(input);
    assert!(ends_within(&mut wd, Duration::from_secs(2)));
    let log = stderr_of(wd);
    assert!(log.contains("ignoring \"garbage\""), "{log}");
}

#[test]
fn a_new_deadline_after_a_fence_guards_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = sleeper();
    let state = state_file(dir.path(), &first);
    let (mut wd, mut input) = watchdog(&state);
    say(&mut input, &now_ms().to_string());
    assert!(
        ends_within(&mut first, Duration::from_secs(2)),
        "a past deadline fences"
    );
    // The daemon resumed, started its resource again and renewed the lease.
    let mut second = sleeper();
    state_file(dir.path(), &second);
    let deadline = now_ms() + 500;
    say(&mut input, &deadline.to_string());
    std::thread::sleep(Duration::from_millis(250));
    assert!(alive(&mut second), "killed before the new deadline");
    assert!(
        ends_within(&mut second, Duration::from_secs(3)),
        "never killed"
    );
    assert!(now_ms() >= deadline);
    drop(input);
    assert!(ends_within(&mut wd, Duration::from_secs(2)));
}

/// Issue 10, item 4: a process-group number in the state file that now belongs to another
/// process (numbers come back) is never killed: the watchdog checks the leader's start time.
#[test]
fn i10_4_a_number_that_came_back_for_another_process_is_not_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut stranger = sleeper();
    let mut reused = ProcessGroup::led_by(stranger.id() as i32);
    // What the agent recorded: the same number, started at another time.
    reused.start = reused.start.map(|s| s.saturating_sub(1000));
    let state = write_state(dir.path(), reused);
    let (mut wd, mut input) = watchdog(&state);
    say(&mut input, &now_ms().to_string());
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        alive(&mut stranger),
        "the watchdog killed a process it never started"
    );
    // An older state file names bare numbers: nothing proves them ours, so nothing is killed.
    let path = dir.path().join("agent-state.json");
    let bare = format!(
        r#"{{"app": {{"type_name": "process", "handler": {{"builtin": "process"}},
            "footprint": {{"process_groups": [{}]}}}}}}"#,
        stranger.id()
    );
    std::fs::write(&path, bare).unwrap();
    say(&mut input, &(now_ms() + 1).to_string());
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        alive(&mut stranger),
        "a bare number from an old state file was killed"
    );
    drop(input);
    assert!(ends_within(&mut wd, Duration::from_secs(2)));
    let _ = stranger.kill();
}

/// With a hardware watchdog (here a plain file standing for /dev/watchdog), the watchdog feeds
/// it at once and every second while the machine is sound, and disarms it (the magic close,
/// `V`) when it exits in order.
#[test]
fn it_feeds_the_hardware_watchdog_and_disarms_it_on_an_orderly_exit() {
    let dir = tempfile::tempdir().unwrap();
    let device = dir.path().join("watchdog-device");
    std::fs::write(&device, b"").unwrap();
    let mut app = sleeper();
    let state = state_file(dir.path(), &app);
    let mut wd = Command::new(BIN)
        .args(["watchdog", "--state", state.to_str().unwrap(), "--hardware"])
        .arg(&device)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = wd.stdin.take().unwrap();
    say(&mut input, &(now_ms() + 60_000).to_string());
    std::thread::sleep(Duration::from_millis(2300));
    let fed = std::fs::read(&device).unwrap();
    assert!(
        fed.len() >= 3 && fed.iter().all(|b| *b == 0),
        "fed {fed:?} in 2.3 s"
    );
    // The agent stops in order: no lease, then the daemon goes.
    say(&mut input, "none");
    drop(input);
    assert!(ends_within(&mut wd, Duration::from_secs(3)), "did not exit");
    let fed = std::fs::read(&device).unwrap();
    assert_eq!(fed.last(), Some(&b'V'), "not disarmed: {fed:?}");
    assert!(
        alive(&mut app),
        "killed although the lease was given up in order"
    );
    let _ = app.kill();
    let _ = app.wait();
}
