//! A cluster of controller members in one test process, talking gRPC over loopback, each
//! with its own redb directory; members can be killed (as a crash) and restarted from it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nonstop_controller::db::{ClusterDb, Command, NodeSpec, Op};
use nonstop_controller::raft::grpc::{GrpcTransport, serve_tcp};
use nonstop_controller::raft::{Applied, Members, RaftConfig, RaftError, RaftNode, RedbLog};
use nonstop_controller::time::Time;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The `i`th command of the workload: put node `n{i}`.
pub fn put_node(i: u64) -> Command {
    let spec = NodeSpec {
        name: format!("n{i}"),
        ..Default::default()
    };
    Command::operator(Time(i), "test", Op::PutNode(spec))
}

/// Fast timing for tests: 20 ms ticks, heartbeat 20 ms, election 200 ms.
pub fn fast(mut c: RaftConfig) -> RaftConfig {
    c.tick = Duration::from_millis(20);
    c.heartbeat_ticks = 1;
    c.election_ticks = 10;
    c.request_timeout = Duration::from_secs(3);
    c
}

struct Running {
    node: RaftNode,
    server: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

/// One member: its directory and address survive restarts.
pub struct Member {
    pub id: u64,
    pub dir: PathBuf,
    pub addr: String,
    running: Option<Running>,
}

/// Members on loopback.
pub struct Cluster {
    _tmp: tempfile::TempDir,
    pub members: BTreeMap<u64, Member>,
    pub snapshot_every: u64,
    /// Use the default timing (100 ms ticks) instead of the fast test timing.
    pub default_timing: bool,
}

async fn free_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

impl Cluster {
    /// `n` members bootstrapped together and started.
    pub async fn start(n: u64, snapshot_every: u64) -> Cluster {
        let mut c = Cluster::empty(snapshot_every);
        for id in 1..=n {
            c.add_dir(id).await;
        }
        for id in 1..=n {
            c.run(id, true).await;
        }
        c
    }

    /// `n` members with the default timing (for benchmarks).
    pub async fn start_default_timing(n: u64, snapshot_every: u64) -> Cluster {
        let mut c = Cluster::empty(snapshot_every);
        c.default_timing = true;
        for id in 1..=n {
            c.add_dir(id).await;
        }
        for id in 1..=n {
            c.run(id, true).await;
        }
        c
    }

    pub fn empty(snapshot_every: u64) -> Cluster {
        Cluster {
            _tmp: match std::env::var("RAFT_BENCH_DIR") {
                Ok(d) => tempfile::tempdir_in(d).unwrap(),
                Err(_) => tempfile::tempdir().unwrap(),
            },
            members: BTreeMap::new(),
            snapshot_every,
            default_timing: false,
        }
    }

    /// Gives member `id` a directory and an address.
    pub async fn add_dir(&mut self, id: u64) -> String {
        let addr = free_addr().await;
        let dir = self._tmp.path().join(format!("m{id}"));
        let m = Member {
            id,
            dir,
            addr: addr.clone(),
            running: None,
        };
        self.members.insert(id, m);
        addr
    }

    pub fn peers(&self) -> Members {
        self.members
            .iter()
            .map(|(id, m)| (*id, m.addr.clone()))
            .collect()
    }

    /// Starts (or restarts) member `id` from its directory.
    pub async fn run(&mut self, id: u64, bootstrap: bool) -> RaftNode {
        let mut cfg = RaftConfig::new(id, self.peers());
        if !self.default_timing {
            cfg = fast(cfg);
        }
        cfg.bootstrap = bootstrap;
        cfg.snapshot_every = self.snapshot_every;
        let m = self.members.get_mut(&id).unwrap();
        let log = RedbLog::open(&m.dir, id).unwrap();
        let node = RaftNode::start(cfg, log, GrpcTransport::tcp(id)).unwrap();
        let listener = bind_retrying(&m.addr).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = node.clone();
        let server = tokio::spawn(async move {
            let _ = serve_tcp(listener, serving, async {
                let _ = stopped.await;
            })
            .await;
        });
        m.running = Some(Running {
            node: node.clone(),
            server,
            stop,
        });
        node
    }

    /// Kills member `id` as a crash would (its task and server stop at once).
    pub async fn kill(&mut self, id: u64) {
        let r = self.members.get_mut(&id).unwrap().running.take().unwrap();
        r.node.abort();
        r.server.abort();
        let _ = r.server.await;
        drop(r.stop);
        wait_until(Duration::from_secs(5), || !r.node.is_running()).await;
    }

    /// Stops member `id` gracefully.
    pub async fn shutdown(&mut self, id: u64) {
        let r = self.members.get_mut(&id).unwrap().running.take().unwrap();
        r.node.shutdown().await;
        let _ = r.stop.send(());
        let _ = r.server.await;
    }

    pub fn node(&self, id: u64) -> RaftNode {
        self.members[&id].running.as_ref().unwrap().node.clone()
    }

    pub fn running(&self) -> Vec<RaftNode> {
        let nodes = self.members.values().filter_map(|m| m.running.as_ref());
        nodes.map(|r| r.node.clone()).collect()
    }

    /// The leader the running members agree on, waiting up to `within`.
    pub async fn leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(id) = self.agreed_leader().await {
                return id;
            }
            assert!(Instant::now() < deadline, "no leader within {within:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn agreed_leader(&self) -> Option<u64> {
        let mut leader = None;
        for n in self.running() {
            let s = n.status().await.ok()?;
            if s.leader == 0 || leader.is_some_and(|l| l != s.leader) {
                return None;
            }
            leader = Some(s.leader);
        }
        let l = leader?;
        self.running().iter().any(|n| n.id() == l).then_some(l)
    }

    /// Waits until every running member has applied as far as `index` and returns their
    /// databases.
    pub async fn converged(&self, index: u64, within: Duration) -> Vec<ClusterDb> {
        let deadline = Instant::now() + within;
        for n in self.running() {
            loop {
                let s = n.status().await.unwrap();
                if s.applied >= index {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "member {} stuck at {}",
                    s.id,
                    s.applied
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let mut dbs = Vec::new();
        for n in self.running() {
            dbs.push(n.read(|db| db.clone()).await.unwrap());
        }
        dbs
    }
}

/// Proposes through `node`, retrying what may be retried, until applied or `within` ends.
/// Only a retry after `Dropped`/`NoLeader`/`NotLeader` is safe for exactly-once; a timeout
/// is returned to the caller.
pub async fn propose(
    node: &RaftNode,
    cmd: Command,
    within: Duration,
) -> Result<Applied, RaftError> {
    let deadline = Instant::now() + within;
    loop {
        match node.propose(cmd.clone()).await {
            Err(RaftError::NoLeader | RaftError::Dropped) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

pub async fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn bind_retrying(addr: &str) -> tokio::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}

/// Every acknowledged name is in the database exactly once, and nothing else was applied.
pub fn assert_exactly_once(db: &ClusterDb, acked: &[u64]) {
    for i in acked {
        assert!(
            db.nodes.contains_key(&format!("n{i}")),
            "acknowledged n{i} lost"
        );
    }
    assert_eq!(
        db.revision,
        db.nodes.len() as u64,
        "a command was applied twice"
    );
}
