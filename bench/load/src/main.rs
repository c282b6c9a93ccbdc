//! The load client of bench/compare-etcd.sh: writes to one member, from a process of its own,
//! through the system's own gRPC path, plain or with mutual TLS, and prints one JSON line.
//!
//! - nonstop: `ClusterService.SetGroupTarget(GROUP, Online)` on a group that is Online already,
//!   an operator command that goes through raft (proposed, replicated to a quorum, fsynced,
//!   applied, audited) and changes nothing else;
//! - etcd: `KV.Put` of a 128-byte value under a fresh key.
//!
//! Two measurements: one client writing one call after another for `--secs` (latency p50,
//! p99), then `--clients` clients over `--conns` connections for `--secs` (throughput).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use nonstop_pki::{Links, Tls};
use nonstop_proto::cluster as pb;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use tonic::transport::Channel;

mod etcd {
    tonic::include_proto!("etcdserverpb");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Nonstop,
    Etcd,
}

/// Writes to nonstop or etcd and measures.
#[derive(Debug, Parser)]
struct Args {
    /// What to write to.
    #[arg(long, value_enum)]
    target: Target,
    /// The member to write to (`host:port`; the leader, for like for like).
    #[arg(long)]
    address: String,
    /// An identity folder (ca.pem, cert.pem, key.pem): mutual TLS. Without: plain gRPC.
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Concurrent clients for the throughput measurement.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Connections the clients share.
    #[arg(long, default_value_t = 8)]
    conns: usize,
    /// nonstop: the group (Online already) whose target is set to Online, again and again.
    #[arg(long, default_value = "SOCKET_GROUP")]
    group: String,
}

/// One way to write.
#[derive(Clone)]
enum Writer {
    Nonstop(ClusterServiceClient<Channel>, String),
    Etcd(etcd::kv_client::KvClient<Channel>),
}

impl Writer {
    async fn write(&mut self, n: u64) -> Result<(), tonic::Status> {
        match self {
            Writer::Nonstop(c, group) => {
                let req = pb::SetTargetRequest {
                    name: group.clone(),
                    target: pb::Target::Online as i32,
                };
                c.set_group_target(req).await.map(|_| ())
            }
            Writer::Etcd(c) => {
                let req = etcd::PutRequest {
                    key: format!("bench/{n}").into_bytes(),
                    value: vec![b'x'; 128],
                    ..Default::default()
                };
                c.put(req).await.map(|_| ())
            }
        }
    }
}

async fn writer(args: &Args, links: &Links) -> Result<Writer, String> {
    let channel = links
        .endpoint(&args.address)?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("{}: {e:?}", args.address))?;
    Ok(match args.target {
        Target::Nonstop => Writer::Nonstop(ClusterServiceClient::new(channel), args.group.clone()),
        Target::Etcd => Writer::Etcd(etcd::kv_client::KvClient::new(channel)),
    })
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let links = match &args.identity {
        Some(dir) => Links::from(Tls::load(dir).map_err(|e| e.to_string())?),
        None => Links::Plain,
    };
    let secs = Duration::from_secs(args.secs);

    // One client, one call after another.
    let mut w = writer(&args, &links).await?;
    w.write(0)
        .await
        .map_err(|s| format!("first write: {s:?}"))?;
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut n = 1;
    while start.elapsed() < secs {
        let t = Instant::now();
        w.write(n).await.map_err(|s| format!("write: {s:?}"))?;
        latencies.push(t.elapsed());
        n += 1;
    }
    latencies.sort();

    // Many clients at once.
    let mut writers = Vec::new();
    for _ in 0..args.conns.max(1) {
        writers.push(writer(&args, &links).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let mut w = writers[c % writers.len()].clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut i = 0u64;
            while start.elapsed() < secs {
                match w.write((c as u64) << 32 | i).await {
                    Ok(()) => ok += 1,
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (ok, errors)
        }));
    }
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (o, e) = t.await.map_err(|e| e.to_string())?;
        ok += o;
        errors += e;
    }
    let took = start.elapsed().as_secs_f64();
    let line = serde_json::json!({
        "target": format!("{:?}", args.target).to_lowercase(),
        "tls": args.identity.is_some(),
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "single_client_writes": latencies.len(),
        "clients": args.clients,
        "throughput_per_s": ok as f64 / took,
        "errors": errors,
    });
    // The one line the script reads.
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
    Ok(())
}
