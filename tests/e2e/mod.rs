//! A local cluster of real `nonstop` daemons for end-to-end tests: started with `nonstop up`
//! in a temporary folder, on free loopback ports, with the chat server on a port of its own so
//! that tests can run side by side. What the tests check is what the resources themselves show:
//! is the chat process running, does its port answer.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod checker;
pub mod netns;

use checker::{Checker, Rules};

/// How long a disturbance (a kill, a move, a restart) explains exits and failures for the
/// outside checker.
pub const CAUSE_WINDOW: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_nonstop");

/// A running local cluster; stopped (and every process it started killed) when dropped. An
/// outside checker (checker.rs) watches it from before it starts: never two chat servers or
/// two markers, no exit of either that no disturbance of the test explains, decoys untouched.
/// A test that passed fails at the drop if the checker saw a violation.
pub struct LocalCluster {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub base_port: u16,
    pub chat_port: u16,
    pub checker: Option<Checker>,
    /// One cluster at a time per test process: three debug daemons per test on a 2-core machine
    /// are enough; four clusters at once starve their leases (300 ms in the fast profile). Under
    /// `cargo test` that holds per binary; cargo-nextest (scripts/test.sh) runs each test as its
    /// own process, one per core (.config/nextest.toml).
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Taken by each [`LocalCluster`] for its lifetime.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The command-line needle of this cluster's chat server.
pub fn chat_needle(chat_port: u16) -> String {
    format!("chat-server --listen 127.0.0.1:{chat_port}")
}

/// The name of this cluster's marker (a `nonstop example hold` in SOCKET_GROUP).
pub fn marker_name(chat_port: u16) -> String {
    format!("nonstop-marker-{chat_port}")
}

/// Commands of the CLI that disturb the cluster (the checker is told).
const DISTURBING: &[&str] = &[
    "up", "down", "apply", "group", "resource", "node", "member", "drill",
];

/// A loopback port nothing listens on now, and the `n - 1` after it free too, all below the
/// kernel's ephemeral range. A port from that range can be taken, between the choice and the
/// bind, as the local end of some outgoing connection (the agents' and the CLI's): a chat
/// server started later, or a daemon started again on its old port, then fails to bind and
/// its resource gives up (seen once in the suite).
pub fn free_ports(n: u16) -> u16 {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral.saturating_sub(n).max(11_000));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()) << 32;
    let mut rng = Rng(seed | 1);
    loop {
        let base = low + rng.below(usize::from(high - low)) as u16;
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

impl LocalCluster {
    /// Three nodes (osdb-serv, osdb-back, osdb-third) running the chat server in SOCKET_GROUP,
    /// with the given cluster timing profile (`default` or `fast`).
    pub fn start(timing: &str) -> LocalCluster {
        Self::start_with(timing, |chat_port| cluster_yaml(timing, chat_port))
    }

    /// The same three nodes running the cluster.yaml that `yaml` writes for a chat port.
    pub fn start_with(timing: &str, yaml: impl FnOnce(u16) -> String) -> LocalCluster {
        Self::start_watched(timing, |port, _| yaml(port), |rules, _, _| rules)
    }

    /// The same, with the cluster's folder given to `yaml` (for files of its own), and more for
    /// the outside checker to watch (`watch` adds to the rules, given the chat port and folder).
    pub fn start_watched(
        timing: &str,
        yaml: impl FnOnce(u16, &std::path::Path) -> String,
        watch: impl FnOnce(Rules, u16, &std::path::Path) -> Rules,
    ) -> LocalCluster {
        Self::start_full(timing, yaml, watch, &[])
    }

    /// [`LocalCluster::start_watched`], with more arguments to `nonstop up`.
    pub fn start_full(
        timing: &str,
        yaml: impl FnOnce(u16, &std::path::Path) -> String,
        watch: impl FnOnce(Rules, u16, &std::path::Path) -> Rules,
        up_args: &[&str],
    ) -> LocalCluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        // NONSTOP_TEST_KEEP=1 keeps the cluster's folder (daemon logs, data) for a post-mortem.
        let tmp = tempfile::Builder::new()
            .disable_cleanup(std::env::var_os("NONSTOP_TEST_KEEP").is_some())
            .tempdir()
            .unwrap();
        let base_port = free_ports(3);
        let chat_port = free_ports(1);
        let cluster = tmp.path().join("cluster.yaml");
        std::fs::write(&cluster, yaml(chat_port, tmp.path())).unwrap();
        let dir = tmp.path().join(".nonstop");
        let rules = Rules::default()
            .process("chat server", &chat_needle(chat_port))
            .process("marker", &marker_name(chat_port))
            .decoys(2);
        let checker = Checker::start(watch(rules, chat_port, tmp.path()));
        let out = Command::new(BIN)
            .args([
                "up",
                cluster.to_str().unwrap(),
                "--dir",
                dir.to_str().unwrap(),
            ])
            .args([
                "--base-port",
                &base_port.to_string(),
                "--timing",
                timing,
                "--wait-secs",
                "60",
            ])
            .args(up_args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let c = LocalCluster {
            tmp,
            dir,
            base_port,
            chat_port,
            checker: Some(checker),
            _turn: turn,
        };
        assert!(
            out.status.success(),
            "nonstop up failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        c
    }

    /// Tells the outside checker that the test disturbs the cluster now (`what`).
    pub fn disturb(&self, what: &str) {
        self.disturb_for(what, CAUSE_WINDOW);
    }

    /// The cluster has settled: every disturbance's window ends `grace` from now.
    pub fn calm(&self, grace: Duration) {
        if let Some(c) = &self.checker {
            c.calm(grace);
        }
    }

    /// The same, for a disturbance whose effects end within `window`.
    pub fn disturb_for(&self, what: &str, window: Duration) {
        if let Some(c) = &self.checker {
            c.cause(what, window);
        }
    }

    /// Runs a `nonstop` command against this cluster (a disturbing one is told to the checker).
    pub fn cli(&self, args: &[&str]) -> Output {
        if args.first().is_some_and(|a| DISTURBING.contains(a)) {
            self.disturb(&args.join(" "));
        }
        Command::new(BIN)
            .args(args)
            .current_dir(self.tmp.path())
            .output()
            .unwrap()
    }

    /// A group as `nonstop group show -o json` gives it.
    pub fn group(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.cli(&["group", "show", name, "--output", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits until `group` is Online on `node`; returns how long it took.
    pub fn wait_online(&self, group: &str, node: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(g) = self.group(group)
                && g["state"] == "Online"
                && g["owner"] == node
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{group} not Online on {node} within {within:?}: {:?}\n{}",
                self.group(group),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of a node's daemon.
    pub fn pid(&self, node: &str) -> i32 {
        let t = std::fs::read_to_string(self.dir.join(node).join("daemon.pid")).unwrap();
        t.trim().parse().unwrap()
    }

    /// Kills a node's daemon with SIGKILL.
    pub fn kill(&self, node: &str) {
        self.disturb(&format!("kill -9 {node}"));
        let _ = Command::new("kill")
            .args(["-9", &self.pid(node).to_string()])
            .status();
    }

    /// Starts a stopped node's daemon again, as an operator does: `nonstop up` on the cluster's
    /// folder starts the nodes that are not running from their node.yaml, and waits until they
    /// have joined and no group is on its way.
    pub fn restart(&self, node: &str) {
        let dir = self.dir.to_str().unwrap();
        let out = self.cli(&["up", "--dir", dir, "--wait-secs", "30"]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("started {node} again (pid ")),
            "nonstop up --dir (restart {node}):\n{stdout}{}\n{}",
            text(&out.stderr),
            self.logs()
        );
    }

    /// Starts a node's daemon from its folder with `extra` arguments to `nonstop run`, logging
    /// to its daemon.log and recording its pid in daemon.pid.
    fn spawn_daemon(&self, node: &str, extra: &[&str]) -> std::process::Child {
        self.spawn_daemon_with_env(node, extra, &[])
    }

    /// As `spawn_daemon`, with `env` added to the daemon's environment.
    pub fn spawn_daemon_with_env(
        &self,
        node: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        self.disturb(&format!("start {node}"));
        let d = self.dir.join(node);
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(d.join("daemon.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config", d.join("node.yaml").to_str().unwrap()])
            .args(extra)
            .envs(env.iter().copied())
            .current_dir(&d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        std::fs::write(d.join("daemon.pid"), format!("{}\n", child.id())).unwrap();
        child
    }

    /// Moves SOCKET_GROUP to `to` and waits until it is Online there.
    pub fn move_and_wait(&self, to: &str) {
        let out = self.cli(&[
            "group",
            "move",
            "SOCKET_GROUP",
            "--to",
            to,
            "--wait",
            "--timeout",
            "30s",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// SOCKET_GROUP's owner and the raft leader, made different nodes (the group is moved off
    /// the leader if it runs there): (owner, leader).
    pub fn owner_apart_from_leader(&self) -> (&'static str, &'static str) {
        let leader = self.leader_node();
        let g = self.group("SOCKET_GROUP").expect("the group");
        let owner = *NODES
            .iter()
            .find(|n| g["owner"] == **n)
            .expect("the group has an owner");
        if owner != leader {
            return (owner, leader);
        }
        let other = *NODES.iter().find(|n| **n != leader).expect("three nodes");
        self.move_and_wait(other);
        (other, leader)
    }

    /// Whether the chat server answers on its port with its greeting, within 5 s: a process
    /// resource is Online once its process runs, a moment before the server has bound its port.
    pub fn chat_answers(&self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.chat_answers_now() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the chat server answers on its port with its greeting, now.
    pub fn chat_answers_now(&self) -> bool {
        let Ok(s) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.chat_port).into(),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("WELCOME")
    }

    /// How many chat server processes of this cluster run now (their command line names the
    /// cluster's chat port).
    pub fn chat_processes(&self) -> usize {
        count_processes(&format!("127.0.0.1:{}", self.chat_port))
    }

    /// Samples `chat_processes` every 10 ms in the background; the maximum seen is kept.
    pub fn watch_chat(&self) -> ChatWatch {
        self.watch_chat_at(&format!("127.0.0.1:{}", self.chat_port))
    }

    /// Samples every 10 ms how many chat servers run whose command line names `needle` (the
    /// address they listen on); the maximum seen is kept.
    pub fn watch_chat_at(&self, needle: &str) -> ChatWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let needle = needle.to_string();
        let (s, m) = (stop.clone(), max.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                m.fetch_max(count_processes(&needle), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        ChatWatch { stop, max }
    }

    /// The tail of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in ["osdb-serv", "osdb-back", "osdb-third"] {
            let log =
                std::fs::read_to_string(self.dir.join(n).join("daemon.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("slog")).collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            out += &format!("--- {n}\n{tail}\n");
        }
        out
    }
}

impl LocalCluster {
    /// Stops the outside checker and fails the test if it saw a violation: first the cluster's
    /// event history is checked for resource failures no disturbance explains. Called by the
    /// drop (unless the test already failed); call it earlier to check at a point of the test.
    pub fn check(&mut self) {
        if let Some(failure) = self.violations() {
            panic!("{failure}");
        }
    }

    /// Stops the checker; what it saw wrong, as a failure message.
    fn violations(&mut self) -> Option<String> {
        let checker = self.checker.take()?;
        let out = self.cli_quiet(&["events", "--output", "json"]);
        if let Ok(events) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            checker.check_events(&events);
        }
        let report = checker.report();
        let violations = checker.finish();
        (!violations.is_empty()).then(|| {
            format!(
                "the outside checker saw {} violation(s):\n{report}\n{}",
                violations.len(),
                self.logs()
            )
        })
    }

    /// Runs a `nonstop` command without telling the checker.
    fn cli_quiet(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.tmp.path())
            .output()
            .unwrap()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let failure = if std::thread::panicking() {
            None
        } else {
            self.violations()
        };
        let _ = Command::new(BIN)
            .args(["down", "--dir", self.dir.to_str().unwrap()])
            .output();
        // Whatever a daemon started dies with it; make sure of it for a test that failed midway.
        for needle in [chat_needle(self.chat_port), marker_name(self.chat_port)] {
            let _ = Command::new("pkill").args(["-9", "-f", &needle]).status();
        }
        if let Some(failure) = failure {
            panic!("{failure}");
        }
    }
}

/// The maximum number of chat processes seen at once, while the watch runs.
pub struct ChatWatch {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
}

impl ChatWatch {
    /// Stops watching; the maximum seen.
    pub fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.max.load(Ordering::SeqCst)
    }
}

fn count_processes(needle: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("chat-server") && c.contains(needle))
        .count()
}

pub fn cluster_yaml(timing: &str, chat_port: u16) -> String {
    format!(
        "timing: {timing}
nodes: [{{name: osdb-serv}}, {{name: osdb-back}}, {{name: osdb-third}}]
types:
  - name: chat-server
    base: process
    properties: [{{name: MaxUser, type: int, min: 1, max: 10, default: 10}}]
groups:
  - name: SOCKET_GROUP
    owners: [osdb-serv, osdb-back, osdb-third]
    resources:
      - name: chat
        type: chat-server
        properties:
          command: {BIN}
          args: [example, chat-server, --listen, \"127.0.0.1:{chat_port}\"]
          check_tcp: \"127.0.0.1:{chat_port}\"
          MaxUser: 10
          reload_signal: HUP
      - name: marker
        type: process
        properties:
          command: {BIN}
          args: [example, hold, {marker}, --term-delay, 1s]
",
        marker = marker_name(chat_port)
    )
}

/// A small deterministic generator (xorshift), so that a run with a given seed can be repeated.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The environment variable `name` parsed, or `default` when it is unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// The node names of the local cluster, in port order.
pub const NODES: [&str; 3] = ["osdb-serv", "osdb-back", "osdb-third"];

impl LocalCluster {
    /// The node whose daemon leads raft now, waiting up to 20 s for a leader.
    pub fn leader_node(&self) -> &'static str {
        let start = Instant::now();
        loop {
            let out = self.cli(&["status", "--output", "json"]);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                && let Some(addr) = v["leader"].as_str()
                && let Some(port) = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())
                && let Some(n) = NODES.get(port.wrapping_sub(self.base_port) as usize)
            {
                return n;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no leader: {}",
                text(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl LocalCluster {
    /// The pids of this cluster's chat server processes now.
    pub fn chat_pids(&self) -> Vec<i32> {
        processes(&format!("127.0.0.1:{}", self.chat_port))
    }

    /// A node's state (`Up`, `Down`, ...) as `nonstop node show` gives it.
    pub fn node_state(&self, node: &str) -> Option<String> {
        let out = self.cli(&["node", "show", node, "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["state"].as_str().map(String::from)
    }
}

fn processes(needle: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.contains("chat-server") && c.contains(needle))
        })
        .collect()
}

impl LocalCluster {
    /// Starts a node's daemon again from its folder with `--drain`: on SIGTERM it moves its
    /// groups away before it exits. The child is returned so that a test can signal it and
    /// read its exit status; it is also written to `daemon.pid`, so `nonstop down` stops it.
    pub fn restart_draining(&self, node: &str) -> std::process::Child {
        self.spawn_daemon(node, &["--drain"])
    }
}

/// Talking to some members only (the others may be stopped or cut off), and signalling daemons.
impl LocalCluster {
    /// The URL of a node's daemon (https unless the cluster was made `--insecure`).
    pub fn url(&self, node: &str) -> String {
        let i = NODES.iter().position(|n| *n == node).unwrap() as u16;
        format!("{}://127.0.0.1:{}", self.scheme(), self.base_port + i)
    }

    /// `https`, or `http` for a cluster without TLS (no admin identity in its folder).
    pub fn scheme(&self) -> &'static str {
        if self.dir.join("admin").exists() {
            "https"
        } else {
            "http"
        }
    }

    /// Runs a `nonstop` command through the daemons of `nodes` only (`--endpoint`).
    pub fn cli_via(&self, nodes: &[&str], args: &[&str]) -> Output {
        if args.first().is_some_and(|a| DISTURBING.contains(a)) {
            self.disturb(&args.join(" "));
        }
        let urls: Vec<String> = nodes.iter().map(|n| self.url(n)).collect();
        Command::new(BIN)
            .args(args)
            .args(["--endpoint", &urls.join(",")])
            .current_dir(self.tmp.path())
            .output()
            .unwrap()
    }

    /// `nonstop <kind> show <name> -o json` through `nodes`.
    pub fn show_via(&self, nodes: &[&str], kind: &str, name: &str) -> Option<serde_json::Value> {
        let out = self.cli_via(nodes, &[kind, "show", name, "--output", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits until `check` holds for `kind` `name` as `nodes` show it; how long it took.
    pub fn wait_via(
        &self,
        nodes: &[&str],
        (kind, name): (&str, &str),
        what: &str,
        within: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let shown = self.show_via(nodes, kind, name);
            if shown.as_ref().is_some_and(&check) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{kind} {name}: not {what} within {within:?}: {shown:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `group` is Online on `node`, asking `nodes` only.
    pub fn wait_online_via(&self, nodes: &[&str], group: &str, node: &str, within: Duration) {
        let what = format!("Online on {node}");
        self.wait_via(nodes, ("group", group), &what, within, |g| {
            g["state"] == "Online" && g["owner"] == node
        });
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to a node's daemon.
    pub fn signal(&self, node: &str, signal: &str) {
        self.disturb(&format!("kill -{signal} {node}"));
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid(node).to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {node}");
    }

    /// A node's daemon log.
    pub fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(node).join("daemon.log")).unwrap_or_default()
    }
}

impl LocalCluster {
    /// The pids of the watchdogs guarding a node's agent (their command line names its folder).
    pub fn watchdogs(&self, node: &str) -> Vec<u32> {
        let folder = self.dir.join(node);
        let needle = folder.to_string_lossy();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                cmd.contains(" watchdog --state ") && cmd.contains(needle.as_ref())
            })
            .collect()
    }
}
