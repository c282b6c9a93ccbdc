//! A secure cluster on a real network: three network namespaces joined by a bridge (in a fourth,
//! the operator's), addresses in 198.18.50.0/24, one daemon per namespace listening on its own
//! address with mutual TLS and certificates made by `nonstop cert`, running the chat server and
//! its virtual address. The outside checker watches the whole time: never two chat servers
//! (/proc), never the address in two namespaces (netlink), nothing exits that no disturbance
//! explains.
//!
//! - a forged raft message (another node's certificate, as member 1), a forged report and a
//!   viewer's move are refused over the network;
//! - kill -9 of the owner's daemon: the group moves, and fails back when the node returns;
//! - a partition isolating the owner, both ways and one way (its inbound traffic dropped):
//!   the owner stops before the others start, and the cluster converges after the heal;
//! - a partition isolating the raft leader: the group stays where it runs.
//!
//! `T50_ROUNDS` (default 1) repeats the kill and the partitions (in odd rounds the killed owner
//! leads raft too), `T50_TIMING` (default `fast`) picks the timing profile; each round prints
//! its fail-over times and the end their p50, p99 and max:
//! `T50_ROUNDS=10 T50_TIMING=default cargo test --test t50_network -- --nocapture`. Needs root, iproute2 and nftables
//! (scripts/apt-packages.txt): a loud SKIP without them, a failure under `CI=true`. Nothing is
//! sent outside the namespaces, which are removed at the end.

mod e2e;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use e2e::checker::{Checker, Rules};
use e2e::netns::{Namespaces, VipWatch, chat_answers_in};
use e2e::{BIN, NODES, env_or, free_ports, text};
use nonstop_pki::{Links, Tls};
use nonstop_proto::agent as apb;
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use nonstop_proto::cluster as cpb;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::raft as rpb;
use nonstop_proto::raft::raft_transport_client::RaftTransportClient;
use tonic::Code;

/// Node `i`'s address.
fn address(i: usize) -> String {
    format!("198.18.50.{}", i + 1)
}

/// The operator's address, on the bridge.
const HUB: &str = "198.18.50.254";
/// The group's virtual address (on each namespace's dummy interface).
const VIP: &str = "198.18.51.10";
const PORT: u16 = 7701;

/// How a node is cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Nothing in, nothing out on its network interface.
    Both,
    /// Nothing in: what it sends leaves, no answer comes back.
    Inbound,
}

/// The cluster on its network; everything is stopped and removed on drop.
struct Net {
    nodes: Namespaces,
    hub: Namespaces,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    chat_port: u16,
    checker: Option<Checker>,
    watch: Option<VipWatch>,
    /// The daemons started, reaped at the end.
    daemons: std::cell::RefCell<Vec<std::process::Child>>,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

impl Net {
    fn start(test: &str, timing: &str) -> Option<Net> {
        let nft = Command::new("nft").arg("--version").output().is_ok();
        if !nft {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true: {test} needs nftables");
            }
            eprintln!("!!! SKIPPED {test}: needs nftables");
            return None;
        }
        let nodes = Namespaces::or_skip(test, &["n1", "n2", "n3"])?;
        let hub = Namespaces::create(&format!("{test}h"), &["hub"]).unwrap();
        let h = &hub.names[0];
        ip(&["-n", h, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", h, "addr", "add", &format!("{HUB}/24"), "dev", "br0"]);
        ip(&["-n", h, "link", "set", "br0", "up"]);
        for (i, ns) in nodes.names.iter().enumerate() {
            let port = format!("v{i}");
            ip(&[
                "-n", h, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&["-n", h, "link", "set", &port, "master", "br0", "up"]);
            let a = format!("{}/24", address(i));
            ip(&["-n", ns, "addr", "add", &a, "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        let tmp = tempfile::Builder::new()
            .disable_cleanup(std::env::var_os("NONSTOP_TEST_KEEP").is_some())
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("cluster");
        let chat_port = free_ports(1);
        let mut net = Net {
            nodes,
            hub,
            dir,
            _tmp: tmp,
            chat_port,
            checker: None,
            watch: None,
            daemons: Default::default(),
        };
        net.write(timing);
        let rules = Rules::default()
            .process("chat server", &net.needle())
            .decoys(2);
        net.checker = Some(Checker::start(rules));
        net.watch = Some(net.nodes.watch(VIP.parse().unwrap(), 24));
        for i in 0..3 {
            net.spawn(i);
        }
        Some(net)
    }

    fn needle(&self) -> String {
        format!("chat-server --listen {VIP}:{}", self.chat_port)
    }

    /// Certificates (`nonstop cert`), the cluster file, each node's node.yaml.
    fn write(&self, timing: &str) {
        let d = &self.dir;
        std::fs::create_dir_all(d).unwrap();
        let cli = |args: &[&str]| run(Command::new(BIN).args(args).current_dir(d));
        cli(&["cert", "init", "--out", "ca"]);
        for (i, n) in NODES.iter().enumerate() {
            let out = format!("{n}/tls");
            cli(&[
                "cert",
                "node",
                n,
                "--ca",
                "ca",
                "--address",
                &address(i),
                "--out",
                &out,
            ]);
        }
        cli(&[
            "cert", "user", "admin", "--role", "admin", "--ca", "ca", "--out", "admin",
        ]);
        cli(&[
            "cert", "user", "vic", "--role", "viewer", "--ca", "ca", "--out", "vic",
        ]);
        let cluster = d.join("cluster.yaml");
        std::fs::write(&cluster, self.cluster_yaml(timing)).unwrap();
        let members: Vec<String> = (0..3)
            .map(|i| format!("{}: {}:{PORT}", i + 1, address(i)))
            .collect();
        for (i, n) in NODES.iter().enumerate() {
            let yaml = format!(
                "node: {n}\ndata_dir: .\ntls: {{dir: tls}}\nlisten: {}:{PORT}\ntiming: {timing}\n\
                 controller:\n  id: {}\n  members: {{{}}}\n  cluster: {}\nagent: {{}}\n",
                address(i),
                i + 1,
                members.join(", "),
                cluster.display()
            );
            std::fs::write(d.join(n).join("node.yaml"), yaml).unwrap();
        }
    }

    /// The address and the chat server on it; each daemon acts in its own namespace, so
    /// neither needs to name one.
    fn cluster_yaml(&self, timing: &str) -> String {
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
    # Each round moves it away and back several times.
    failover_limit: {{count: 1000, window: 1h}}
    resources:
      - name: vip
        type: ip-address
        properties: {{address: {VIP}/24, interface: {dummy}}}
      - name: chat
        type: chat-server
        depends_on: [vip]
        properties: {{command: {BIN}, args: [example, chat-server, --listen, \"{VIP}:{port}\"]}}
",
            dummy = e2e::netns::DUMMY,
            port = self.chat_port
        )
    }

    fn checker(&self) -> &Checker {
        self.checker.as_ref().unwrap()
    }

    /// Starts node `i`'s daemon inside its namespace.
    fn spawn(&self, i: usize) {
        use std::os::unix::process::CommandExt;
        self.checker()
            .cause(&format!("start {}", NODES[i]), Duration::from_secs(30));
        let d = self.dir.join(NODES[i]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("daemon.log"))
            .unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.nodes.names[i],
                BIN,
                "run",
                "--config",
            ])
            .arg(d.join("node.yaml"))
            .current_dir(&d)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        std::fs::write(d.join("daemon.pid"), format!("{}\n", child.id())).unwrap();
        self.daemons.borrow_mut().push(child);
    }

    fn kill(&self, i: usize) {
        self.checker()
            .cause(&format!("kill -9 {}", NODES[i]), Duration::from_secs(30));
        let pid = std::fs::read_to_string(self.dir.join(NODES[i]).join("daemon.pid")).unwrap();
        run(Command::new("kill").args(["-9", pid.trim()]));
    }

    /// `nonstop ARGS` from the operator's namespace, through the members of `via`, as admin.
    fn cli(&self, via: &[usize], args: &[&str]) -> Output {
        let urls: Vec<String> = via
            .iter()
            .map(|i| format!("https://{}:{PORT}", address(*i)))
            .collect();
        let identity = self.dir.join("admin");
        Command::new("ip")
            .args(["netns", "exec", &self.hub.names[0], BIN])
            .args(args)
            .args(["--endpoint", &urls.join(",")])
            .arg("--identity")
            .arg(&identity)
            .output()
            .unwrap()
    }

    fn group(&self, via: &[usize]) -> Option<serde_json::Value> {
        let out = self.cli(via, &["group", "show", "SOCKET_GROUP", "-o", "json"]);
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until the group is Online on `on` as the members `via` see it; how long it took.
    fn wait_online(&self, via: &[usize], on: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let g = self.group(via);
            if g.as_ref()
                .is_some_and(|g| g["state"] == "Online" && g["owner"] == on)
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "not Online on {on} within {within:?}: {g:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Checks for `long` that the group stays Online on `on`, as the members `via` see it.
    fn stays(&self, via: &[usize], on: &str, long: Duration) {
        let start = Instant::now();
        while start.elapsed() < long {
            let g = self.group(via);
            assert!(
                g.as_ref()
                    .is_some_and(|g| g["state"] == "Online" && g["owner"] == on),
                "left {on} after {:?}: {g:?}\n{}",
                start.elapsed(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The raft leader's node, as the members `via` see it.
    fn leader(&self, via: &[usize]) -> usize {
        let start = Instant::now();
        loop {
            let out = self.cli(via, &["status", "-o", "json"]);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                && let Some(l) = v["leader"].as_str()
                && let Some(i) = (0..3).find(|i| l == format!("{}:{PORT}", address(*i)))
            {
                return i;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no leader: {}",
                text(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every node is Up, as the members `via` see it.
    fn wait_all_up(&self, via: &[usize], within: Duration) {
        let start = Instant::now();
        loop {
            let out = self.cli(via, &["node", "list", "-o", "json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let up = v
                .as_array()
                .map_or(0, |a| a.iter().filter(|n| n["state"] == "Up").count());
            if up == 3 {
                return;
            }
            assert!(start.elapsed() < within, "not all Up: {v}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cuts node `i` off from the others (nft rules in its namespace, on its network
    /// interface only: its agent still reaches its own member).
    fn cut(&self, i: usize, how: Cut) {
        self.checker().cause(
            &format!("cut {} ({how:?})", NODES[i]),
            Duration::from_secs(60),
        );
        let output = match how {
            Cut::Both => {
                "  chain out { type filter hook output priority 0; oifname \"eth0\" drop; }\n"
            }
            Cut::Inbound => "",
        };
        let rules = format!(
            "table inet nonstop_cut {{\n  chain in {{ type filter hook input priority 0; iifname \
             \"eth0\" drop; }}\n{output}}}\n"
        );
        let file = self.dir.join("cut.nft");
        std::fs::write(&file, rules).unwrap();
        run(Command::new("ip").args([
            "netns",
            "exec",
            &self.nodes.names[i],
            "nft",
            "-f",
            file.to_str().unwrap(),
        ]));
    }

    fn heal(&self, i: usize) {
        self.checker()
            .cause(&format!("heal {}", NODES[i]), Duration::from_secs(60));
        run(Command::new("ip").args([
            "netns",
            "exec",
            &self.nodes.names[i],
            "nft",
            "delete",
            "table",
            "inet",
            "nonstop_cut",
        ]));
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for n in NODES {
            let log =
                std::fs::read_to_string(self.dir.join(n).join("daemon.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("slog")).collect();
            out += &format!(
                "--- {n}\n{}\n",
                lines[lines.len().saturating_sub(15)..].join("\n")
            );
        }
        out
    }

    /// Stops the watchers; the violations they saw, and the most namespaces that held the
    /// address at once.
    fn finish(&mut self) -> (Vec<String>, usize) {
        let violations = self.checker.take().unwrap().finish();
        let seen = self.watch.take().unwrap().stop();
        let mut all: Vec<String> = violations.iter().map(|v| format!("{v:?}")).collect();
        all.extend(seen.errors.iter().cloned());
        (all, seen.max_at_once)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let dir = self.dir.to_str().unwrap().to_string();
        let _ = Command::new(BIN).args(["down", "--dir", &dir]).output();
        for mut d in self.daemons.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = Command::new("pkill")
            .args(["-9", "-f", &self.needle()])
            .status();
        // The namespaces go with their own drops.
    }
}

fn links(dir: &Path) -> Links {
    Links::from(Tls::load(dir).unwrap())
}

/// Forged calls over the network, from the operator's namespace: osdb-third's certificate
/// sending raft messages as member 1 and reporting for osdb-serv, a viewer moving a group.
fn forged_calls_are_refused(net: &Net) {
    let hub = net.hub.names[0].clone();
    let dir = net.dir.clone();
    let leader = format!("{}:{PORT}", address(net.leader(&[0, 1, 2])));
    // The calls run inside the operator's namespace: a thread that entered it, with a runtime
    // of its own on that thread (every socket is made there).
    std::thread::spawn(move || {
        let ns = std::fs::File::open(Path::new("/var/run/netns").join(&hub)).unwrap();
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let third = links(&dir.join("osdb-third").join("tls"));
            let ch = third.endpoint(&leader).unwrap().connect().await.unwrap();
            // A raft message from member 1 (to 2): protobuf fields to = 2, from = 1.
            let batch = rpb::RaftBatch {
                from: 1,
                to: 2,
                messages: vec![vec![0x10, 0x02, 0x18, 0x01]],
            };
            let first = format!("{}:{PORT}", address(1));
            let ch1 = third.endpoint(&first).unwrap().connect().await.unwrap();
            let r = RaftTransportClient::new(ch1)
                .send(tokio_stream::iter(vec![batch]))
                .await;
            let s = r.expect_err("a forged raft message was accepted");
            assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
            assert!(s.message().contains("as member 1"), "{s:?}");
            let report = apb::ReportBatch {
                node: "osdb-serv".into(),
                ..Default::default()
            };
            let s = AgentServiceClient::new(ch)
                .report(report)
                .await
                .unwrap_err();
            assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
            let vic = links(&dir.join("vic"));
            let ch = vic.endpoint(&leader).unwrap().connect().await.unwrap();
            let mv = cpb::MoveGroupRequest {
                group: "SOCKET_GROUP".into(),
                to: "osdb-back".into(),
            };
            let s = ClusterServiceClient::new(ch)
                .move_group(mv)
                .await
                .unwrap_err();
            assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        })
    })
    .join()
    .unwrap();
}

/// p50, p99 and max of `d`, and how many.
fn summary(d: &mut [Duration]) -> String {
    d.sort();
    let at = |q: f64| d[((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1];
    if d.is_empty() {
        return "none".into();
    }
    format!(
        "n={} p50={:?} p99={:?} max={:?}",
        d.len(),
        at(0.5),
        at(0.99),
        d[d.len() - 1]
    )
}

#[test]
fn a_tls_cluster_across_namespaces_survives_kills_and_partitions() {
    let timing = env_or("T50_TIMING", "fast".to_string());
    let rounds: usize = env_or("T50_ROUNDS", 1);
    // The profiles' node_timeout (docs/configuration.md).
    let node_timeout = Duration::from_millis(if timing == "fast" { 600 } else { 2000 });
    let Some(mut net) = Net::start("t50", &timing) else {
        return;
    };
    let all = [0, 1, 2];
    net.wait_online(&all, "osdb-serv", Duration::from_secs(60));
    let vip_port = format!("{VIP}:{}", net.chat_port).parse().unwrap();
    assert!(
        chat_answers_in(&net.nodes.names[0], vip_port),
        "{}",
        net.logs()
    );
    net.checker().calm(Duration::from_secs(2));

    forged_calls_are_refused(&net);
    let g = net.group(&all).unwrap();
    assert_eq!(g["owner"], "osdb-serv", "nothing moved: {g}");

    let mut kills = Vec::new();
    let mut cuts = Vec::new();
    for round in 0..rounds {
        // kill -9 of the owner's daemon: the group moves, and fails back when it returns. In
        // odd rounds the owner leads raft too (the lost node led: an election comes first).
        if round % 2 == 1 {
            let out = net.cli(&all, &["member", "transfer", "--to", "osdb-serv"]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let led = net.leader(&all) == 0;
        let start = Instant::now();
        net.kill(0);
        net.wait_online(&[1, 2], "osdb-back", Duration::from_secs(30));
        let took = start.elapsed();
        kills.push(took);
        println!(
            "t50 {timing} round {round}: kill -9 of the owner (leader: {led}): Online elsewhere after {took:?}"
        );
        net.spawn(0);
        net.wait_online(&all, "osdb-serv", Duration::from_secs(60));
        net.wait_all_up(&all, Duration::from_secs(30));

        for how in [Cut::Both, Cut::Inbound] {
            let start = Instant::now();
            net.cut(0, how);
            net.wait_online(&[1, 2], "osdb-back", Duration::from_secs(60));
            let moved = start.elapsed();
            cuts.push(moved);
            if how == Cut::Inbound {
                // The members still hear the cut-off owner, which holds no lease: it must not
                // come Up again and draw its group back while the cut lasts.
                net.stays(&[1, 2], "osdb-back", node_timeout * 3);
            }
            net.heal(0);
            net.wait_online(&all, "osdb-serv", Duration::from_secs(60));
            net.wait_all_up(&all, Duration::from_secs(30));
            println!(
                "t50 {timing} round {round}: owner cut {how:?}: Online elsewhere after \
                 {moved:?}, failed back after {:?}",
                start.elapsed()
            );
        }
        // The raft leader cut off (when it is not the owner): the group stays where it runs.
        let leader = net.leader(&all);
        if leader != 0 {
            let others: Vec<usize> = all.into_iter().filter(|i| *i != leader).collect();
            net.cut(leader, Cut::Both);
            let start = Instant::now();
            loop {
                let l = net.leader(&others);
                if l != leader {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "no new leader");
                std::thread::sleep(Duration::from_millis(100));
            }
            net.wait_online(&others, "osdb-serv", Duration::from_secs(10));
            net.heal(leader);
            net.wait_all_up(&all, Duration::from_secs(30));
            println!(
                "t50 {timing} round {round}: leader {} cut: a new one after {:?}",
                NODES[leader],
                start.elapsed()
            );
        }
    }
    println!(
        "t50 {timing}: kill -9 of the owner, Online elsewhere: {}",
        summary(&mut kills)
    );
    println!(
        "t50 {timing}: owner cut off, Online elsewhere: {}",
        summary(&mut cuts)
    );
    net.wait_online(&all, "osdb-serv", Duration::from_secs(30));
    assert!(
        chat_answers_in(&net.nodes.names[0], vip_port),
        "{}",
        net.logs()
    );
    let (violations, at_once) = net.finish();
    assert!(violations.is_empty(), "{violations:#?}\n{}", net.logs());
    assert!(
        at_once <= 1,
        "the address was in {at_once} namespaces at once"
    );
}
