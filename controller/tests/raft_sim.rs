//! Deterministic simulation with turmoil: three members talking tonic over turmoil's network,
//! each on its own redb directory, under seeded partitions, held (delayed) links, latency and
//! crashes with restarts. After healing, every member holds the same database and every
//! acknowledged command is in it exactly once, and no member refused a message of another
//! (the checks of `raft/validate.rs` never drop what a correct member sends).
//!
//! 200 seeds by default; `NONSTOP_SIM_SEEDS=5000` for a long run, `NONSTOP_SIM_SEED=42` for one.

mod raft_support;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use nonstop_controller::raft::grpc::{
    Connect, ConnectFuture, GrpcTransport, endpoint, raft_service,
};
use nonstop_controller::raft::{RaftConfig, RaftError, RaftNode, RedbLog};
use raft_support::{assert_exactly_once, put_node};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::Uri;
use tonic::transport::server::Connected;

const PORT: u16 = 7000;
const HOSTS: [&str; 3] = ["m1", "m2", "m3"];
/// Simulated time with faults; then everything heals.
const FAULTY: Duration = Duration::from_secs(3);

type Registry = Arc<Mutex<HashMap<u64, RaftNode>>>;

/// Connects over turmoil's simulated TCP.
struct SimConnect;

impl Connect for SimConnect {
    fn connect(&self, address: &str) -> ConnectFuture {
        let addr = address.to_string();
        Box::pin(async move {
            let ep = endpoint(&nonstop_pki::Dial::default(), &addr)?;
            let connector = tower::service_fn(move |_: Uri| {
                let addr = addr.clone();
                async move {
                    let s = turmoil::net::TcpStream::connect(addr).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(s))
                }
            });
            ep.connect_with_connector(connector)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// A turmoil stream a tonic server accepts.
struct SimStream(turmoil::net::TcpStream);

impl Connected for SimStream {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn config(id: u64) -> RaftConfig {
    let peers = (1..=3).map(|i| (i, format!("m{i}:{PORT}"))).collect();
    let mut c = raft_support::fast(RaftConfig::new(id, peers));
    c.request_timeout = Duration::from_secs(1);
    c.snapshot_every = 25;
    c
}

/// One member's software: started again by turmoil after every crash.
async fn member(id: u64, dir: std::path::PathBuf, registry: Registry) -> turmoil::Result {
    let log = RedbLog::open(&dir, id)?;
    let transport = GrpcTransport::new(id, SimConnect);
    let node = RaftNode::start(config(id), log, transport)?;
    registry.lock().unwrap().insert(id, node.clone());
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    let incoming = futures::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.map(|(s, _)| SimStream(s));
        Some((conn, l))
    });
    tonic::transport::Server::builder()
        .add_service(raft_service(node))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

/// Proposes the workload until the network heals, then checks the outcome.
async fn driver(registry: Registry, healed: Arc<AtomicBool>) -> turmoil::Result {
    let mut acked = Vec::new();
    let mut i = 0u64;
    while !healed.load(Ordering::SeqCst) {
        match try_propose(&registry, i).await {
            Some(Ok(())) => acked.push(i),
            Some(Err(e)) if e.is_retryable() || matches!(e, RaftError::Stopped) => {}
            Some(Err(e)) => return Err(format!("propose n{i}: {e}").into()),
            None => {}
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    progress_after_healing(&registry, &mut i, &mut acked).await?;
    let dbs = converge(&registry).await?;
    for db in &dbs[1..] {
        if db != &dbs[0] {
            return Err("members hold different databases after healing".into());
        }
    }
    assert_exactly_once(&dbs[0], &acked);
    Ok(())
}

/// Proposes command `i` through member `1 + i % 3` if it runs. A command the database
/// rejects is a test failure (the workload only adds new nodes).
async fn try_propose(registry: &Registry, i: u64) -> Option<Result<(), RaftError>> {
    let node = registry.lock().unwrap().get(&(1 + i % 3)).cloned()?;
    Some(node.propose(put_node(i)).await.map(|a| {
        a.result.unwrap_or_else(|e| panic!("n{i} rejected: {e}"));
    }))
}

/// Once healed the cluster must make progress again: a few more commands must be
/// acknowledged (a timed-out one may still be applied, so each try uses a new name).
async fn progress_after_healing(
    registry: &Registry,
    i: &mut u64,
    acked: &mut Vec<u64>,
) -> turmoil::Result {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut after = 0;
    while after < 3 {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("only {after} commands acknowledged after healing").into());
        }
        if let Some(Ok(())) = try_propose(registry, *i).await {
            acked.push(*i);
            after += 1;
        }
        *i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until every member has applied the same index, then reads their databases.
async fn converge(registry: &Registry) -> turmoil::Result<Vec<nonstop_controller::ClusterDb>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let nodes: Vec<RaftNode> = registry.lock().unwrap().values().cloned().collect();
        let mut applied = Vec::new();
        for n in &nodes {
            if let Ok(s) = n.status().await {
                // Members that work correctly never send a message the checks refuse.
                if s.refused > 0 {
                    return Err(format!("member {} refused {} messages", s.id, s.refused).into());
                }
                applied.push((s.applied, s.commit, s.leader, s.term, s.role));
            }
        }
        let settled = applied.len() == 3
            && applied
                .iter()
                .all(|a| a.0 == applied[0].0 && a.1 == a.0 && a.2 != 0);
        if settled {
            let mut dbs = Vec::new();
            for n in &nodes {
                dbs.push(n.read(|db| db.clone()).await?);
            }
            return Ok(dbs);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no convergence after healing: {applied:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one seed; returns the simulated time it took.
fn run_seed(seed: u64, root: &std::path::Path) -> Duration {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(120))
        .tick_duration(Duration::from_millis(5))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(rng.random_range(2..40)))
        .rng_seed(seed)
        .build();
    let registry: Registry = Arc::default();
    let healed = Arc::new(AtomicBool::new(false));
    for (i, host) in HOSTS.iter().enumerate() {
        let id = i as u64 + 1;
        let dir = root.join(format!("s{seed}-m{id}"));
        let registry = registry.clone();
        sim.host(*host, move || member(id, dir.clone(), registry.clone()));
    }
    sim.client("driver", driver(registry.clone(), healed.clone()));
    let mut faults = Faults::default();
    let mut next = Duration::from_millis(300);
    loop {
        let done = sim.step().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if done {
            return sim.elapsed();
        }
        if !faults.healed && sim.elapsed() >= next {
            next += Duration::from_millis(rng.random_range(100..600));
            if sim.elapsed() >= FAULTY {
                faults.heal(&mut sim, &registry);
                healed.store(true, Ordering::SeqCst);
            } else {
                faults.inject(&mut sim, &mut rng, &registry);
            }
        }
    }
}

/// The faults in force.
#[derive(Default)]
struct Faults {
    crashed: Option<usize>,
    healed: bool,
}

impl Faults {
    fn inject(&mut self, sim: &mut turmoil::Sim, rng: &mut StdRng, registry: &Registry) {
        let a = rng.random_range(0..3);
        let b = (a + rng.random_range(1..3)) % 3;
        match rng.random_range(0..6) {
            0 => sim.partition(HOSTS[a], HOSTS[b]),
            1 => sim.hold(HOSTS[a], HOSTS[b]),
            2 => {
                sim.repair(HOSTS[a], HOSTS[b]);
                sim.release(HOSTS[a], HOSTS[b]);
            }
            3 if self.crashed.is_none() => {
                registry.lock().unwrap().remove(&(a as u64 + 1));
                sim.crash(HOSTS[a]);
                self.crashed = Some(a);
            }
            4 => self.restart(sim),
            _ => {}
        }
    }

    fn restart(&mut self, sim: &mut turmoil::Sim) {
        if let Some(c) = self.crashed.take() {
            sim.bounce(HOSTS[c]);
        }
    }

    fn heal(&mut self, sim: &mut turmoil::Sim, _registry: &Registry) {
        self.restart(sim);
        for a in HOSTS {
            for b in HOSTS {
                if a != b {
                    sim.repair(a, b);
                    sim.release(a, b);
                }
            }
        }
        self.healed = true;
    }
}

fn seeds() -> Vec<u64> {
    if let Some(one) = std::env::var("NONSTOP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![one];
    }
    let n = std::env::var("NONSTOP_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    (0..n).collect()
}

/// Runs every `share`th seed starting at `first` (the seeds are split over two tests so the
/// two cores share them).
fn run_seeds(first: u64, share: u64) {
    let shm = std::path::Path::new("/dev/shm");
    let root = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    for seed in seeds().into_iter().filter(|s| s % share == first) {
        let t = std::time::Instant::now();
        let simulated = run_seed(seed, root.path());
        if std::env::var("NONSTOP_SIM_VERBOSE").is_ok() {
            eprintln!("seed {seed}: {simulated:?} simulated in {:?}", t.elapsed());
        }
        let _ = std::fs::remove_dir_all(root.path());
        std::fs::create_dir_all(root.path()).unwrap();
    }
}

#[test]
fn simulated_faults_keep_every_acknowledged_command_exactly_once_even_seeds() {
    run_seeds(0, 2);
}

#[test]
fn simulated_faults_keep_every_acknowledged_command_exactly_once_odd_seeds() {
    run_seeds(1, 2);
}
