//! The local cluster's layout on disk and on loopback, shared by `up` and `down`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nonstop_pki::Links;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::cluster::{Group, GroupState, NodeState, StatusRequest, Target};
use tonic::transport::Channel;

/// Node names, ports and controller members of a local cluster.
#[derive(Debug)]
pub struct Layout {
    names: Vec<String>,
    /// Which nodes are witnesses: controller members without an agent.
    witnesses: Vec<bool>,
    base_port: u16,
    /// Mutual TLS (each node's identity in `DIR/<node>/tls`), or plain (`--insecure`).
    secure: bool,
    /// `agent.plugin_dirs` of every node (empty: the default).
    plugin_dirs: Vec<std::path::PathBuf>,
}

impl Layout {
    /// Nodes on consecutive ports from `base_port`, over TLS when `secure`.
    pub fn new(names: &[String], base_port: u16, secure: bool) -> Self {
        Layout {
            names: names.to_vec(),
            witnesses: vec![false; names.len()],
            base_port,
            secure,
            plugin_dirs: Vec::new(),
        }
    }

    /// The same, with the agents loading `exec` plug-ins from `dirs` (absolute) instead of
    /// the default folder.
    pub fn with_plugin_dirs(mut self, dirs: &[std::path::PathBuf]) -> Self {
        self.plugin_dirs = dirs.to_vec();
        self
    }

    /// The same, with the nodes `witness` names as witnesses (no agent); each must be a
    /// controller member, one of the first [`Layout::members`] nodes.
    pub fn with_witnesses(mut self, witness: impl Fn(&str) -> bool) -> Result<Self, String> {
        self.witnesses = self.names.iter().map(|n| witness(n)).collect();
        let members = self.members();
        if let Some((n, _)) = (self.names.iter().zip(&self.witnesses))
            .skip(members)
            .find(|(_, w)| **w)
        {
            return Err(format!(
                "node {n} is a witness but not a controller member: `up` makes the first \
                 {members} nodes of the file members, so list the witnesses among them"
            ));
        }
        Ok(self)
    }

    /// The gRPC address of node `i`.
    pub fn address(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.base_port as usize + i)
    }

    /// How many nodes are controller members: 1, 3 or 5 (the first ones).
    pub fn members(&self) -> usize {
        match self.names.len() {
            0..=2 => 1,
            3..=4 => 3,
            _ => 5,
        }
    }

    /// The members' URLs, one per line (what the CLI reads from `.nonstop/endpoints`).
    pub fn endpoints(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        (0..self.members())
            .map(|i| format!("{scheme}://{}\n", self.address(i)))
            .collect()
    }

    /// node.yaml of node `i`.
    pub fn node_yaml(&self, i: usize, cluster: &Path, timing: &str) -> String {
        let security = if self.secure {
            "tls: {dir: tls}"
        } else {
            "insecure: true"
        };
        // A witness runs no agent: it votes, and runs nothing.
        let mut fields = Vec::new();
        if i >= self.members() {
            let addrs: Vec<String> = (0..self.members()).map(|m| self.address(m)).collect();
            fields.push(format!("controllers: [{}]", addrs.join(", ")));
        }
        if !self.plugin_dirs.is_empty() {
            // Quoted as JSON strings, which YAML reads as they are.
            let dirs: Vec<String> = (self.plugin_dirs.iter())
                .map(|d| serde_json::to_string(&d.to_string_lossy()).unwrap_or_default())
                .collect();
            fields.push(format!("plugin_dirs: [{}]", dirs.join(", ")));
        }
        let agent = match self.witnesses[i] {
            true => String::new(),
            false => format!("agent: {{{}}}\n", fields.join(", ")),
        };
        let mut y = format!(
            "node: {}\ndata_dir: .\n{security}\nlisten: {}\ntiming: {timing}\n{agent}\
             metrics_listen: 127.0.0.1:0\ndashboard_listen: 127.0.0.1:0\n",
            self.names[i],
            self.address(i)
        );
        let members: Vec<String> = (0..self.members())
            .map(|m| format!("{}: {}", m + 1, self.address(m)))
            .collect();
        if i < self.members() {
            let _ = write!(
                y,
                "controller:\n  id: {}\n  members: {{{}}}\n  cluster: {}\n",
                i + 1,
                members.join(", "),
                cluster.display()
            );
        }
        y
    }

    /// The controller members' addresses.
    pub fn member_addresses(&self) -> Vec<String> {
        (0..self.members()).map(|i| self.address(i)).collect()
    }
}

/// What `up` saw once the cluster settled.
#[derive(Debug)]
pub struct Settled {
    /// What runs where, a line per group.
    pub summary: String,
    /// The groups that are Failed, with why (`up` fails when there is any).
    pub failed: Vec<String>,
}

/// A daemon `up` started.
#[derive(Debug, Clone)]
pub struct Started {
    /// Its node.
    pub node: String,
    /// Its pid.
    pub pid: i32,
    /// Its folder (where its daemon.log is).
    pub dir: PathBuf,
    /// The address its controller member serves on; none for a node without a member.
    pub member: Option<String>,
}

/// Waits until every daemon in `started` serves: its member answers at its address (a node
/// without a member: its daemon still runs). Fails as soon as one has exited, with the end of
/// its daemon.log. What the cluster shows about the node proves nothing here: a node stopped a
/// moment ago is still Up in the cluster's eyes, and a daemon that refuses to start (an emptied
/// raft log) exits without ever answering.
pub fn wait_serving(started: &[Started], links: &Links, timeout: Duration) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let begin = Instant::now();
    let mut waiting: Vec<&Started> = started.iter().collect();
    while !waiting.is_empty() {
        still_running(started)?;
        let mut next = Vec::new();
        for s in waiting {
            let serving = match &s.member {
                Some(m) => {
                    rt.block_on(probe(links, m, Duration::from_millis(500))) == Probe::Serving
                }
                None => true,
            };
            if !serving {
                next.push(s);
            }
        }
        waiting = next;
        if waiting.is_empty() {
            break;
        }
        if begin.elapsed() > timeout {
            let names: Vec<&str> = waiting.iter().map(|s| s.node.as_str()).collect();
            return Err(format!(
                "{} did not answer within {} s (see the daemon.log files)",
                names.join(", "),
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Fails, naming the node and quoting the end of its daemon.log, if a daemon in `started` has
/// exited.
pub fn still_running(started: &[Started]) -> Result<(), String> {
    for s in started {
        if !alive(s.pid) {
            let log = s.dir.join("daemon.log");
            return Err(format!(
                "{}: its daemon (pid {}) exited:\n{}\n(the whole log: {})",
                s.node,
                s.pid,
                log_tail(&log, 3),
                log.display()
            ));
        }
    }
    Ok(())
}

/// The last `n` non-empty lines of a log, without terminal colour codes.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(strip_colours)
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `line` without ANSI escape sequences (ESC [ ... letter).
fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Waits until one of `members` answers with a leader, the nodes `joining` have joined, and no
/// group is on its way anywhere; returns what runs where.
pub fn wait(
    links: &Links,
    members: &[String],
    joining: &[String],
    timeout: Duration,
) -> Result<Settled, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(poll(links, members, joining, timeout))
}

async fn poll(
    links: &Links,
    members: &[String],
    joining: &[String],
    timeout: Duration,
) -> Result<Settled, String> {
    let start = Instant::now();
    let mut last = String::from("no member answered");
    while start.elapsed() < timeout {
        for m in members {
            match status(links, m, joining).await {
                Ok(Some(summary)) => return Ok(summary),
                Ok(None) => last = "waiting for the nodes to join and the groups to settle".into(),
                Err(e) => last = e,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "the cluster did not come up within {} s: {last} (see the daemon.log files)",
        timeout.as_secs()
    ))
}

/// A client of the member at `member` (host:port).
async fn client(links: &Links, member: &str) -> Result<ClusterServiceClient<Channel>, String> {
    let channel = links.endpoint(member)?.connect().await;
    Ok(ClusterServiceClient::new(channel.map_err(|e| {
        format!("{member}: {}", super::client::source_chain(&e))
    })?))
}

async fn status(
    links: &Links,
    member: &str,
    joining: &[String],
) -> Result<Option<Settled>, String> {
    let mut c = client(links, member).await?;
    let s = c
        .status(StatusRequest {})
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    let joined = |n: &String| {
        s.nodes
            .iter()
            .any(|x| &x.name == n && !matches!(x.state(), NodeState::Down | NodeState::Joining))
    };
    if s.leader.is_empty() || !joining.iter().all(joined) || !s.groups.iter().all(settled) {
        return Ok(None);
    }
    let mut out = format!("leader: {}\n", s.leader);
    let mut failed = Vec::new();
    for g in &s.groups {
        let place = if g.has_owner {
            format!("on {}", g.owner)
        } else {
            "(not placed)".into()
        };
        let held = if g.held.is_empty() {
            String::new()
        } else {
            format!(": {}", g.held)
        };
        let state = super::wire::group_state(g.state);
        let _ = writeln!(out, "group {:<16} {:<8} {place}{held}", g.name, state);
        if g.state() == GroupState::Failed {
            let why = if g.held.is_empty() {
                "a resource gave up".to_string()
            } else {
                g.held.clone()
            };
            failed.push(format!("group {} is Failed: {why}", g.name));
        }
    }
    Ok(Some(Settled {
        summary: out,
        failed,
    }))
}

/// Whether `up` has nothing more to wait for in a group: Online, kept offline by the
/// operator, or Failed where it is (held, or a resource gave up without a move: waiting would
/// not change it).
fn settled(g: &Group) -> bool {
    let pending = matches!(
        g.state(),
        GroupState::OnlinePending | GroupState::OfflinePending
    ) || !g.moving_to.is_empty();
    !pending
        && (g.state() == GroupState::Online
            || (g.target() == Target::Offline && g.state() == GroupState::Offline)
            || g.state() == GroupState::Failed
            || !g.held.is_empty())
}

/// What a controller member's daemon answers when asked for the cluster's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It answered (a status, or an error other than "stopped").
    Serving,
    /// Its raft member has stopped: the daemon is on its way out, or stuck there.
    MemberStopped(String),
    /// Nothing answered in time (starting, hung, or not listening).
    NoAnswer,
}

/// Asks the daemon at `member` (host:port) for the status, for at most `within`.
pub async fn probe(links: &Links, member: &str, within: Duration) -> Probe {
    let ask = async {
        let mut c = client(links, member).await.ok()?;
        Some(match c.status(StatusRequest {}).await {
            Err(s) if super::client::member_stopped(&s) => {
                Probe::MemberStopped(s.message().to_string())
            }
            _ => Probe::Serving,
        })
    };
    tokio::time::timeout(within, ask)
        .await
        .ok()
        .flatten()
        .unwrap_or(Probe::NoAnswer)
}

/// Whether `pid` is `nonstop run --config NODE_YAML` (a pid alone may have been reused).
pub fn is_daemon_of(pid: i32, node_yaml: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = (cmdline.split(|b| *b == 0))
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let wanted = node_yaml.canonicalize().ok();
    let names_it = |a: &String| {
        Path::new(a) == node_yaml || Path::new(a).canonicalize().ok() == wanted && wanted.is_some()
    };
    args.iter().any(|a| a == "run") && args.iter().any(names_it)
}

/// Stops process `pid`: SIGTERM, then SIGKILL if it still runs after `grace`; returns once it
/// is gone, true when it had to be killed.
pub fn stop(pid: i32, grace: Duration) -> bool {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !alive(pid) {
        return false;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    while alive(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The pid in `node_dir/daemon.pid`, if that process is alive.
pub fn running_pid(node_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(node_dir.join("daemon.pid")).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// Whether a process exists and is not a zombie: one of its threads still runs. (Its first
/// thread turns zombie as soon as it exits, while the others, and the sockets they hold, may
/// still be going away after a SIGKILL.)
pub fn alive(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_nodes_are_three_members() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let l = Layout::new(&names, 7701, false);
        assert_eq!(
            l.endpoints(),
            "http://127.0.0.1:7701\nhttp://127.0.0.1:7702\nhttp://127.0.0.1:7703\n"
        );
        let y = l.node_yaml(1, Path::new("/x/cluster.yaml"), "fast");
        assert!(
            y.contains("node: b\n")
                && y.contains("id: 2\n")
                && y.contains("listen: 127.0.0.1:7702")
        );
        assert!(y.contains("members: {1: 127.0.0.1:7701, 2: 127.0.0.1:7702, 3: 127.0.0.1:7703}"));
    }

    #[test]
    fn nodes_past_the_members_are_agents_only() {
        let names: Vec<String> = (1..=4).map(|i| format!("n{i}")).collect();
        let l = Layout::new(&names, 9000, false);
        let y = l.node_yaml(3, Path::new("c.yaml"), "default");
        assert!(!y.contains("controller:"));
        assert!(
            y.contains("agent: {controllers: [127.0.0.1:9000, 127.0.0.1:9001, 127.0.0.1:9002]}")
        );
    }

    #[test]
    fn plug_in_folders_reach_every_agent() {
        let names: Vec<String> = (1..=4).map(|i| format!("n{i}")).collect();
        let dirs = [std::path::PathBuf::from("/opt/my \"plugins\"")];
        let l = Layout::new(&names, 9000, false).with_plugin_dirs(&dirs);
        let want = r#"plugin_dirs: ["/opt/my \"plugins\""]"#;
        assert!(
            l.node_yaml(0, Path::new("c.yaml"), "default")
                .contains(&format!("agent: {{{want}}}"))
        );
        let y = l.node_yaml(3, Path::new("c.yaml"), "default");
        assert!(
            y.contains(&format!(
                "controllers: [127.0.0.1:9000, 127.0.0.1:9001, 127.0.0.1:9002], {want}}}"
            )),
            "{y}"
        );
        // And it reads back as the path.
        let parsed: serde_json::Value = yaml_serde::from_str(&y).unwrap();
        assert_eq!(parsed["agent"]["plugin_dirs"][0], "/opt/my \"plugins\"");
    }

    #[test]
    fn a_witness_is_a_member_without_an_agent() {
        let names: Vec<String> = ["a", "b", "w"].iter().map(|s| s.to_string()).collect();
        let l = Layout::new(&names, 9000, false)
            .with_witnesses(|n| n == "w")
            .unwrap();
        assert_eq!(l.members(), 3);
        let w = l.node_yaml(2, Path::new("c.yaml"), "default");
        assert!(
            w.contains("controller:\n  id: 3\n") && !w.contains("agent"),
            "{w}"
        );
        let a = l.node_yaml(0, Path::new("c.yaml"), "default");
        assert!(a.contains("controller:") && a.contains("agent: {}"), "{a}");
        let names: Vec<String> = (1..=4).map(|i| format!("n{i}")).collect();
        let e = Layout::new(&names, 9000, false)
            .with_witnesses(|n| n == "n4")
            .unwrap_err();
        assert!(
            e.contains("node n4 is a witness but not a controller member"),
            "{e}"
        );
    }

    #[test]
    fn up_waits_for_groups_on_their_way_only() {
        use GroupState::{Failed, Offline, OfflinePending, Online, OnlinePending};
        let g = |state: GroupState, target: Target, held: &str, moving_to: &str| Group {
            state: state as i32,
            target: target as i32,
            held: held.into(),
            moving_to: moving_to.into(),
            ..Default::default()
        };
        assert!(settled(&g(Online, Target::Online, "", "")));
        assert!(settled(&g(Offline, Target::Offline, "", "")));
        assert!(settled(&g(
            Failed,
            Target::Online,
            "fail-over limit reached",
            ""
        )));
        assert!(
            !settled(&g(Offline, Target::Online, "", "")),
            "not placed yet"
        );
        assert!(!settled(&g(OnlinePending, Target::Online, "", "")));
        assert!(!settled(&g(Online, Target::Online, "", "b")), "moving");
        assert!(!settled(&g(OfflinePending, Target::Offline, "", "")));
    }

    #[test]
    fn a_missing_pid_is_not_running() {
        assert!(!alive(i32::MAX));
        assert!(alive(std::process::id() as i32));
    }
}
