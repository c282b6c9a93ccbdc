//! Raft commit latency and throughput: 3 members on loopback over gRPC, each on its own redb
//! file with fsync on, default timing (heartbeat 100 ms, election 1 s).
//!
//! Run: `cargo bench -p nonstop-controller --bench raft` (env: `RAFT_BENCH_SECS`, default 5,
//! `RAFT_BENCH_CLIENTS`, default 64, `RAFT_BENCH_DIR` for the data directories).

#[path = "../tests/raft_support/mod.rs"]
mod raft_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raft_support::{Cluster, put_node};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run must stay quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench());
}

async fn bench() {
    let secs = env("RAFT_BENCH_SECS", 5);
    let clients = env("RAFT_BENCH_CLIENTS", 64);
    let mut c = Cluster::start_default_timing(3, 10_000).await;
    let leader = c.leader(Duration::from_secs(10)).await;
    let node = c.node(leader);
    let seq = Arc::new(AtomicU64::new(0));

    let mut lat = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let i = seq.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        node.propose(put_node(i)).await.expect("propose");
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "raft single client: {} commits, p50 {:.3} ms, p99 {:.3} ms",
        lat.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );

    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (node, seq, done) = (node.clone(), seq.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let i = seq.fetch_add(1, Ordering::Relaxed);
                    node.propose(put_node(i)).await.expect("propose");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    let n = done.load(Ordering::Relaxed);
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!("raft {clients} clients: {n} commits, {rate:.0} commands/s");
    for id in 1..=3 {
        c.shutdown(id).await;
    }
}
