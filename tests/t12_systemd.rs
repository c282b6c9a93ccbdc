//! The systemd unit shipped in deploy/nonstop.service, as systemd would run it: its ExecStart
//! (the same arguments, this build's binary, a test node.yaml), with `NOTIFY_SOCKET` and
//! `WATCHDOG_USEC` set as systemd sets them for `Type=notify` and `WatchdogSec`. The daemon
//! says READY=1 once it serves, WATCHDOG=1 at half the interval, and STOPPING=1 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nonstop");

/// The arguments of the unit's ExecStart, after the program.
fn exec_start_args() -> Vec<String> {
    let unit = include_str!("../deploy/nonstop.service");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart in deploy/nonstop.service");
    let mut words = line.split_whitespace().map(String::from);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/nonstop"));
    words.collect()
}

fn unit_has(line: &str) -> bool {
    include_str!("../deploy/nonstop.service")
        .lines()
        .any(|l| l.trim() == line)
}

/// The messages that arrive within `within`, until `until` says enough.
fn receive(
    sock: &UnixDatagram,
    within: Duration,
    until: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
        }
    }
    got
}

#[test]
fn the_unit_runs_the_daemon_as_type_notify_with_a_watchdog() {
    assert!(unit_has("Type=notify") && unit_has("WatchdogSec=10"));
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("cluster.yaml"), "nodes: [{name: a}]\n").unwrap();
    let node_yaml = dir.path().join("node.yaml");
    std::fs::write(
        &node_yaml,
        format!(
            "node: a\ndata_dir: data\ninsecure: true\nlisten: 127.0.0.1:{port}\ntiming: fast\n\
             controller: {{id: 1, members: {{1: 127.0.0.1:{port}}}, cluster: cluster.yaml}}\n\
             agent: {{plugin_dirs: []}}\n"
        ),
    )
    .unwrap();
    let socket = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let args: Vec<String> = exec_start_args()
        .into_iter()
        .map(|a| {
            if a == "/etc/nonstop/node.yaml" {
                node_yaml.display().to_string()
            } else {
                a
            }
        })
        .collect();
    // systemd names the main process in WATCHDOG_PID: the shell's pid, which exec hands on.
    let mut daemon = Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", BIN])
        .args(&args)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "400000")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    // A failed assertion must not leave the daemon running.
    struct KillOnDrop(Option<u32>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(pid) = self.0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let mut reaper = KillOnDrop(Some(daemon.id()));

    let got = receive(&sock, Duration::from_secs(20), |g| {
        g.iter().any(|m| m == "READY=1")
    });
    assert!(got.iter().any(|m| m == "READY=1"), "{got:?}\n{}", log());
    let dogs = |g: &[String]| g.iter().filter(|m| *m == "WATCHDOG=1").count();
    let got = receive(&sock, Duration::from_secs(2), |g| dogs(g) >= 3);
    assert!(
        dogs(&got) >= 3,
        "three WATCHDOG=1 at 200 ms within 2 s: {got:?}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let got = receive(&sock, Duration::from_secs(20), |g| {
        g.iter().any(|m| m == "STOPPING=1")
    });
    assert!(got.iter().any(|m| m == "STOPPING=1"), "{got:?}\n{}", log());
    let status = daemon.wait().unwrap();
    // Reaped: its pid may belong to another process from now on.
    reaper.0 = None;
    assert!(status.success(), "{status:?}\n{}", log());
}
