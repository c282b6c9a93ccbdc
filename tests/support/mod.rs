//! A controller member on loopback for the CLI's tests: an in-memory single-member store with
//! the leader loop and both gRPC services, plus fake agents that do what their desired state
//! says at once (the agent crate's lifecycle is tested on its own).

#![allow(dead_code)] // each test file uses its own part of the support

mod follower;

use std::collections::BTreeMap;
use std::time::Duration;

use nonstop_contract::wire::desired_from_wire;
use nonstop_controller::config;
use nonstop_controller::leader::{self, DesiredBoard};
use nonstop_controller::liveness::{self, Liveness};
use nonstop_controller::server::{AgentApi, ClusterApi, History};
use nonstop_controller::store::LocalStore;
use nonstop_controller::{ClusterDb, Command, Op, Time};
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use nonstop_proto::agent::agent_service_server::AgentServiceServer;
use nonstop_proto::agent::{self as apb};
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::cluster::cluster_service_server::ClusterServiceServer;
use nonstop_proto::cluster::{self as cpb};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Two nodes, one group with one resource, and a service it serves.
pub const CLUSTER: &str = "
timing: fast
nodes: [{name: a}, {name: b}]
groups:
  - name: G
    owners: [a, b]
    resources: [{name: app, type: process, properties: {command: app}}]
services:
  - {name: CHAT, group: G}
";

/// A running member; everything stops when it is dropped.
pub struct Member {
    /// Its URL, for `--endpoint`.
    pub url: String,
    /// A client for the test's own checks.
    pub cluster: ClusterServiceClient<Channel>,
    store: LocalStore,
    addr: std::net::SocketAddr,
    agents: Vec<JoinHandle<()>>,
    _stop: watch::Sender<bool>,
}

impl Drop for Member {
    fn drop(&mut self) {
        for a in &self.agents {
            a.abort();
        }
    }
}

/// What a run of the `nonstop` binary showed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// The standard output as YAML.
    pub fn yaml(&self) -> serde_json::Value {
        yaml_serde::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts that it exited with `code` and said `text` on its standard error.
    #[track_caller]
    pub fn assert_failed(&self, code: i32, text: &str) {
        assert_eq!(self.code, code, "{self:?}");
        assert!(self.stderr.contains(text), "{self:?}");
    }
}

/// Starts a member over `cluster` on 127.0.0.1:0.
pub async fn start(cluster: &str) -> Member {
    let checked = config::check("cluster.yaml", cluster).expect("the test's cluster is valid");
    let mut db = ClusterDb::new();
    db.apply(Command::operator(
        Time::now(),
        "test",
        Op::Batch(checked.ops),
    ))
    .expect("the test's cluster applies");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = LocalStore::new(db, &addr.to_string());
    let liveness = Liveness::start(store.clone(), liveness::witness());
    let board = DesiredBoard::new();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(leader::run(liveness.clone(), board.clone(), stop_rx));
    let history = History::follow(&store);
    let api = ClusterApi::new(store.clone(), history, "m1");
    let router = tonic::transport::Server::builder()
        .add_service(ClusterServiceServer::new(api))
        .add_service(AgentServiceServer::new(AgentApi::new(liveness, board)));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    let url = format!("http://{addr}");
    Member {
        cluster: ClusterServiceClient::connect(url.clone()).await.unwrap(),
        url,
        store,
        addr,
        agents: Vec::new(),
        _stop: stop,
    }
}

impl Member {
    /// Runs `nonstop ARGS --endpoint URL`.
    pub async fn nonstop(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--endpoint", &self.url]);
        nonstop(&all).await
    }

    /// The user and the command of the latest audit entry (`nonstop audit --limit 1`).
    pub async fn last_audit(&self) -> (serde_json::Value, serde_json::Value) {
        let a = self
            .nonstop(&["audit", "--limit", "1", "--output", "json"])
            .await
            .json();
        (a[0]["user"].clone(), a[0]["command"].clone())
    }

    /// This member's host:port, as a follower names its leader.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Starts a second member that does not lead, on 127.0.0.1:0, and returns its URL: it reads
    /// this member's database and names `leader` as the leader (`None`: no leader elected).
    pub async fn follower(&self, leader: Option<String>) -> String {
        let store = follower::Follower {
            inner: self.store.clone(),
            leader,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let history = History::follow(&store);
        let api = ClusterApi::new(store, history, "m2");
        let router =
            tonic::transport::Server::builder().add_service(ClusterServiceServer::new(api));
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(router.serve_with_incoming(incoming));
        url
    }

    /// Starts a fake agent on `node`: it heartbeats, and reports every resource in the state
    /// its desired state asks for.
    pub async fn agent(&mut self, node: &str) {
        self.slow_agent(node, Duration::ZERO).await;
    }

    /// A fake agent whose resources take `delay` to come online or go offline.
    pub async fn slow_agent(&mut self, node: &str, delay: Duration) {
        let mut client = AgentServiceClient::connect(self.url.clone()).await.unwrap();
        let reg = apb::RegisterRequest {
            incarnation: 0,
            node: node.into(),
            types: vec![],
            address: String::new(),
        };
        client.register(reg).await.expect("the node registers");
        self.agents
            .push(tokio::spawn(heartbeat(client.clone(), node.to_string())));
        self.agents
            .push(tokio::spawn(follow(client, node.to_string(), delay)));
    }

    /// Starts an agent on `node` that heartbeats and never reports: whatever lands there
    /// stays pending.
    pub async fn silent_agent(&mut self, node: &str) {
        let mut client = AgentServiceClient::connect(self.url.clone()).await.unwrap();
        let reg = apb::RegisterRequest {
            incarnation: 0,
            node: node.into(),
            types: vec![],
            address: String::new(),
        };
        client.register(reg).await.expect("the node registers");
        self.agents
            .push(tokio::spawn(heartbeat(client, node.to_string())));
    }

    /// Waits up to 10 s for group `name` to satisfy `f`.
    pub async fn group_until(&self, name: &str, f: impl Fn(&cpb::Group) -> bool) -> cpb::Group {
        let mut c = self.cluster.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let req = cpb::NameRequest { name: name.into() };
            let g = c.get_group(req).await.unwrap().into_inner();
            if f(&g) {
                return g;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out: {g:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A member whose group G is Online on a, with agents on a and b.
pub async fn running() -> Member {
    let mut m = start(CLUSTER).await;
    m.agent("a").await;
    m.agent("b").await;
    m.group_until("G", |g| {
        g.state() == cpb::GroupState::Online && g.owner == "a"
    })
    .await;
    m
}

/// Runs the `nonstop` binary with `args`, in an empty directory, with no endpoint from the
/// environment.
pub async fn nonstop(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    nonstop_in(dir.path(), &[], args).await
}

/// Runs the `nonstop` binary with `args` in `dir`, with the environment variables `env`.
pub async fn nonstop_in(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(args)
        .env_remove("NONSTOP_ENDPOINT")
        .env("NONSTOP_USER", "tester")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn heartbeat(mut agent: AgentServiceClient<Channel>, node: String) {
    for seq in 1.. {
        let hb = apb::HeartbeatRequest {
            node: node.clone(),
            seq,
            sent_ms: seq * 50,
            holds_lease: Some(true),
        };
        if agent.heartbeat(hb).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reports what each desired state asks for; a group that leaves the node is reported Offline.
async fn follow(mut agent: AgentServiceClient<Channel>, node: String, delay: Duration) {
    let req = apb::DesiredRequest { node: node.clone() };
    let Ok(stream) = agent.desired(req).await else {
        return;
    };
    let mut stream = stream.into_inner();
    // group -> (epoch, resource -> state reported)
    let mut held: BTreeMap<String, (u64, BTreeMap<String, String>)> = BTreeMap::new();
    while let Ok(Some(d)) = stream.message().await {
        let Ok(d) = desired_from_wire(d) else {
            return;
        };
        let mut next = BTreeMap::new();
        for g in &d.groups {
            let states = g
                .resources
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        if r.online { "Online" } else { "Offline" }.into(),
                    )
                })
                .collect();
            next.insert(g.name.clone(), (g.epoch, states));
        }
        for (group, (epoch, states)) in &held {
            if !next.contains_key(group) {
                let off = states
                    .keys()
                    .map(|r| (r.clone(), "Offline".to_string()))
                    .collect();
                report(&mut agent, &node, group, *epoch, &off, None).await;
            }
        }
        if next != held {
            tokio::time::sleep(delay).await; // the resources take that long
        }
        for (group, (epoch, states)) in &next {
            let before = held.get(group).filter(|(e, _)| e == epoch).map(|(_, s)| s);
            report(&mut agent, &node, group, *epoch, states, before).await;
        }
        // A group told to stop for a move: everything is offline now, confirm it.
        for g in d.groups.iter().filter(|g| g.stop.is_some()) {
            let stopped = apb::GroupStopped {
                group: g.name.clone(),
                epoch: g.epoch,
                stop: g.stop.unwrap_or_default(),
                at_ms: Time::now().0,
            };
            let batch = apb::ReportBatch {
                node: node.clone(),
                reports: vec![apb::AgentReport {
                    kind: Some(apb::agent_report::Kind::Stopped(stopped)),
                }],
                ..Default::default()
            };
            let _ = agent.report(batch).await;
        }
        held = next;
    }
}

/// Reports the states that differ from `before`.
async fn report(
    agent: &mut AgentServiceClient<Channel>,
    node: &str,
    group: &str,
    epoch: u64,
    states: &BTreeMap<String, String>,
    before: Option<&BTreeMap<String, String>>,
) {
    let reports: Vec<apb::AgentReport> = states
        .iter()
        .filter(|(r, s)| before.and_then(|b| b.get(*r)) != Some(*s))
        .map(|(r, s)| {
            let state = if s == "Online" {
                apb::ResourceState::Online
            } else {
                apb::ResourceState::Offline
            };
            let t = apb::ResourceTransition {
                resource: r.clone(),
                group: group.into(),
                epoch,
                state: state as i32,
                at_ms: Time::now().0,
                ..Default::default()
            };
            apb::AgentReport {
                kind: Some(apb::agent_report::Kind::Transition(t)),
            }
        })
        .collect();
    if !reports.is_empty() {
        let batch = apb::ReportBatch {
            node: node.into(),
            reports,
            ..Default::default()
        };
        // A stale report (an older epoch) is refused by design; the next desired state brings
        // the current one.
        let _ = agent.report(batch).await;
    }
}

/// A controller member whose raft member has stopped (a real member, shut down), serving
/// `ClusterService` on 127.0.0.1:0: every call answers that its member is stopped. Its URL,
/// and the directory of its raft log (removed when dropped).
pub async fn stopped_member() -> (String, tempfile::TempDir) {
    use nonstop_controller::raft::{LocalTransport, Members, RaftConfig, RaftNode, RedbLog};
    use nonstop_controller::store::RaftStore;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let members: Members = [(9, addr.to_string())].into();
    let config = RaftConfig::new(9, members);
    let log = RedbLog::open(dir.path(), 9).unwrap();
    let node = RaftNode::start(config, log, LocalTransport::new()).unwrap();
    let store = RaftStore::new(node.clone());
    node.shutdown().await;
    let history = History::follow(&store);
    let api = ClusterApi::new(store, history, "m9");
    let router = tonic::transport::Server::builder().add_service(ClusterServiceServer::new(api));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    (format!("http://{addr}"), dir)
}
