//! Benchmark harness (issue 11 "Scale"): many agent-only nodes in one process, for
//! `bench/scale.sh`, which starts the controller members and measures them from outside.
//!
//! Each node is a real [`Agent`] (lease, link, desired-state stream, reports) over a real
//! [`GrpcLink`] to every member, running one resource of the in-memory type `flag` (online and
//! offline flip a flag, the checks answer from it: no process, no thread). The only thing added
//! between the agent and its link is a stopwatch on heartbeats ([`TimedLink`]).
//!
//! ```text
//! nonstop-scale-harness config NODES MEMBERS   the cluster.yaml, on stdout (MEMBERS: A:P,B:P,...)
//! nonstop-scale-harness run NODES MEMBERS DIR  runs the agents (state under DIR/<node>/) and
//!                                              answers each command on stdin with a JSON line:
//!   start K      starts the next K nodes' agents (n0001 first)
//!   measure      counts heartbeats afresh from now on
//!   stats        heartbeats since `measure`: round trips (request sent -> acknowledgement
//!                received, every node, every member), errors, unanswered, lease losses
//!   drop NODE    stops NODE's agent at once (no more heartbeats, as a dead machine) and waits,
//!                on the leader's WatchEvents stream, until its group is Online on another node
//! ```
//!
//! Node `n0001` owns group `g0001` (resource `r0001`), with the next node as its backup. The
//! members are nodes `m1`, `m2`, ... with `witness: true`: they vote and run no agent. Log
//! lines (warnings and up; `RUST_LOG` to change) go to stderr.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use nonstop_agent::grpc::GrpcLink;
use nonstop_agent::link::DesiredStream;
use nonstop_agent::{
    Agent, AgentConfig, AgentEvent, AgentHandle, ControllerLink, HandlerMap, Heartbeat,
    HeartbeatAck, Registered, Registration,
};
use nonstop_contract::{AgentReport, HandlerRef, ReportMark, Schema, StopBound, Timings, TypeDef};
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::cluster::{StatusRequest, WatchRequest};
use nonstop_resource_types::handler::Result as HandlerResult;
use nonstop_resource_types::{Footprint, Health, OpenContext, ResourceHandler, ResourceInstance};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

/// How long `drop` waits for the group to be Online elsewhere.
const FAILOVER_WAIT: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: nonstop-scale-harness config NODES MEMBERS | run NODES MEMBERS DIR";
    let (nodes, members) = match args.as_slice() {
        [_, n, m, ..] => (
            n.parse::<usize>()
                .map_err(|e| format!("NODES {n:?}: {e}"))?,
            m.split(',').map(str::to_string).collect::<Vec<_>>(),
        ),
        _ => return Err(usage.into()),
    };
    if !(2..=9999).contains(&nodes) {
        return Err(format!("NODES {nodes}: 2 to 9999 (a group needs a backup)"));
    }
    match (args[0].as_str(), args.get(3)) {
        ("config", None) => {
            print!("{}", cluster_yaml(nodes, &members));
            Ok(())
        }
        ("run", Some(dir)) => run(nodes, members, dir.into()).await,
        _ => Err(usage.into()),
    }
}

fn node(i: usize) -> String {
    format!("n{i:04}")
}

fn group(i: usize) -> String {
    format!("g{i:04}")
}

fn resource(i: usize) -> String {
    format!("r{i:04}")
}

/// The cluster: the members as witnesses, NODES nodes each the home of one group whose backup
/// is the next node, the default timing profile.
fn cluster_yaml(nodes: usize, members: &[String]) -> String {
    let mut y = String::from(
        "# bench/scale.sh: the members are witnesses (no agent); each node's agent lives in the\n\
         # scale harness (bench/scale) and runs `flag` in memory.\n\
         timing: default\n\
         types:\n\
         \x20 # Built on process only for its schema and its forced stop bound: no process starts.\n\
         \x20 - {name: flag, base: process, description: in memory (scale harness)}\n\
         nodes:\n",
    );
    for (i, m) in members.iter().enumerate() {
        y += &format!(
            "  - {{name: m{}, address: \"{m}\", witness: true}}\n",
            i + 1
        );
    }
    for i in 1..=nodes {
        y += &format!("  - {{name: {}}}\n", node(i));
    }
    y += "groups:\n";
    for i in 1..=nodes {
        let backup = node(i % nodes + 1);
        y += &format!(
            "  - {{name: {}, owners: [{}, {backup}], resources: [{{name: {}, type: flag, \
             properties: {{command: \"true\"}}}}]}}\n",
            group(i),
            node(i),
            resource(i)
        );
    }
    y
}

async fn run(nodes: usize, members: Vec<String>, dir: std::path::PathBuf) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let beats = Arc::new(Beats::default());
    tokio::spawn(beats.clone().watch_lag());
    let lease_lost = Arc::new(AtomicU64::new(0));
    let handlers = Arc::new(HandlerMap::new().with(Arc::new(Flag::new())));
    let mut agents: HashMap<String, AgentHandle> = HashMap::new();
    let start = |i: usize| -> Result<AgentHandle, String> {
        let name = node(i);
        // As the daemon's link: each call bounded below ten heartbeats (src/daemon/roles.rs).
        let link = TimedLink {
            inner: GrpcLink::new(&name, members.clone(), Duration::from_secs(1)),
            beats: beats.clone(),
        };
        let config = AgentConfig::new(&name, dir.join(&name));
        let agent = Agent::start(config, Arc::new(link), handlers.clone())
            .map_err(|e| format!("{name}: {e}"))?;
        tokio::spawn(count_lease_losses(agent.events(), lease_lost.clone()));
        Ok(agent)
    };
    let mut started = 0;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["measure"] => {
                beats.reset();
                lease_lost.store(0, Ordering::Relaxed);
                json!({"measuring": true})
            }
            ["start", k] => match k.parse::<usize>() {
                Ok(k) => {
                    let upto = (started + k).min(nodes);
                    for i in started + 1..=upto {
                        agents.insert(node(i), start(i)?);
                    }
                    started = upto;
                    json!({"started": started})
                }
                Err(e) => json!({"error": format!("start {k:?}: {e}")}),
            },
            ["stats"] => beats.stats(members.len(), lease_lost.load(Ordering::Relaxed)),
            ["drop", name] => match agents.remove(*name) {
                Some(agent) => match drop_node(agent, name, nodes, &members).await {
                    Ok(v) => v,
                    Err(e) => json!({"error": e}),
                },
                None => json!({"error": format!("no running agent {name:?}")}),
            },
            _ => json!({"error": format!("unknown command {line:?}")}),
        };
        println!("{answer}");
    }
    // stdin closed: the script is done. The agents end with the process, as if killed.
    std::process::exit(0)
}

async fn count_lease_losses(
    mut events: tokio::sync::broadcast::Receiver<AgentEvent>,
    lost: Arc<AtomicU64>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(AgentEvent::LeaseLost) => {
                lost.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// Stops `name`'s agent at once and times its group's fail-over, on the leader's event stream
/// (pushed, not polled): from the stop until the event that the group's resource is Online on
/// another node, by the event's own time (the leader's clock when it took the agent's report,
/// in whole ms, as bench/failover.sh counts), with the Down and Move events on the way; and
/// `seen_ms`, when that event reached this watcher.
async fn drop_node(
    agent: AgentHandle,
    name: &str,
    nodes: usize,
    members: &[String],
) -> Result<serde_json::Value, String> {
    let i = (1..=nodes).find(|i| node(*i) == name).ok_or("not a node")?;
    let (g, r) = (group(i), resource(i));
    let (mut client, revision) = leader_client(members).await?;
    let watch = WatchRequest {
        from_revision: revision,
        history_only: false,
    };
    let mut events = client
        .watch_events(watch)
        .await
        .map_err(|s| format!("WatchEvents: {}", s.message()))?
        .into_inner();
    let (stopped, stopped_ms) = (Instant::now(), unix_ms());
    agent.abandon().await;
    let (mut down_ms, mut moved_ms) = (None, None);
    let (down, moved) = (
        format!("* Node {name} Down"),
        format!("* Move {g} ( {name} -> "),
    );
    let start = format!("* Start {r} ( ");
    let deadline = tokio::time::Instant::now() + FAILOVER_WAIT;
    loop {
        let e = match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(e))) => e,
            Ok(Some(Err(s))) => return Err(format!("WatchEvents: {}", s.message())),
            Ok(None) => return Err("WatchEvents ended".into()),
            Err(_) => return Err(format!("{g} not Online elsewhere within {FAILOVER_WAIT:?}")),
        };
        let at = round(e.at_ms as f64 - stopped_ms);
        if e.summary == down {
            down_ms = Some(at);
        } else if e.summary.starts_with(&moved) {
            moved_ms = Some(at);
        } else if let Some(to) = e.summary.strip_prefix(&start)
            && let to = to.trim_end_matches(" )")
            && to != name
        {
            return Ok(json!({
                "node": name, "group": g, "to": to, "failover_ms": at,
                "down_ms": down_ms, "moved_ms": moved_ms,
                "seen_ms": round(stopped.elapsed().as_secs_f64() * 1000.0),
            }));
        }
    }
}

/// A client of the member that leads now, and the revision it has applied.
async fn leader_client(
    members: &[String],
) -> Result<(ClusterServiceClient<tonic::transport::Channel>, u64), String> {
    let mut why = String::from("no member answered");
    for m in members {
        let status = async {
            let mut c = ClusterServiceClient::connect(format!("http://{m}")).await?;
            Ok::<_, Box<dyn std::error::Error>>(c.status(StatusRequest {}).await?.into_inner())
        };
        // As the CLI: a member that does not answer within 5 s is passed over.
        match tokio::time::timeout(Duration::from_secs(5), status).await {
            Err(_) => why = format!("{m}: no answer within 5 s"),
            Ok(Ok(s)) if !s.leader.is_empty() => {
                let c = ClusterServiceClient::connect(format!("http://{}", s.leader))
                    .await
                    .map_err(|e| format!("{}: {e}", s.leader))?;
                return Ok((c, s.revision));
            }
            Ok(Ok(_)) => why = format!("{m}: no leader"),
            Ok(Err(e)) => why = format!("{m}: {e}"),
        }
    }
    Err(why)
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// Milliseconds to 0.1 ms.
fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// Heartbeats of every agent since `reset`: how many were sent, each acknowledgement's round
/// trip by member, and how late this process's own timers fire (a busy or starved harness
/// delays acknowledgements too: that is how to tell it from slow members).
#[derive(Debug, Default)]
struct Beats {
    sent: AtomicU64,
    errors: AtomicU64,
    /// Member id -> round trips in microseconds.
    rtts_us: Mutex<BTreeMap<u64, Vec<u32>>>,
    /// How late a 10 ms sleep of this process ends, in microseconds.
    lag_us: Mutex<Vec<u32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// The `p` quantile of `sorted` (microseconds) in milliseconds.
fn quantile(sorted: &[u32], p: f64) -> Option<f64> {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map(|us| round(*us as f64 / 1000.0))
}

impl Beats {
    fn reset(&self) {
        lock(&self.rtts_us).clear();
        lock(&self.lag_us).clear();
        self.sent.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
    }

    fn answered(&self, ack: &nonstop_agent::Result<HeartbeatAck>, rtt: Duration) {
        match ack {
            Ok(a) => lock(&self.rtts_us)
                .entry(a.member)
                .or_default()
                .push(micros(rtt)),
            Err(_) => drop(self.errors.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Samples how late this process's timers fire, every 10 ms, for good.
    async fn watch_lag(self: Arc<Self>) {
        let every = Duration::from_millis(10);
        loop {
            let t = Instant::now();
            tokio::time::sleep(every).await;
            lock(&self.lag_us).push(micros(t.elapsed().saturating_sub(every)));
        }
    }

    /// The figures as JSON: `unanswered` counts the acknowledgements that neither came nor
    /// failed (the agent stops waiting after ten heartbeat intervals; the last ones may still
    /// be on their way).
    fn stats(&self, members: usize, lease_lost: u64) -> serde_json::Value {
        let by_member = lock(&self.rtts_us).clone();
        let mut all: Vec<u32> = by_member.values().flatten().copied().collect();
        all.sort_unstable();
        let p99: BTreeMap<String, Option<f64>> = by_member
            .into_iter()
            .map(|(m, mut v)| {
                v.sort_unstable();
                (format!("member {m}"), quantile(&v, 0.99))
            })
            .collect();
        let mut lag = lock(&self.lag_us).clone();
        lag.sort_unstable();
        let (sent, errors) = (
            self.sent.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        );
        let expected = sent * members as u64;
        json!({
            "heartbeats": sent,
            "acks": all.len(),
            "errors": errors,
            "unanswered": expected.saturating_sub(all.len() as u64 + errors),
            "rtt_p50_ms": quantile(&all, 0.5), "rtt_p99_ms": quantile(&all, 0.99),
            "rtt_max_ms": quantile(&all, 1.0), "rtt_p99_ms_by_member": p99,
            "lease_lost": lease_lost,
            "harness_timer_lag_p99_ms": quantile(&lag, 0.99),
            "harness_timer_lag_max_ms": quantile(&lag, 1.0),
        })
    }
}

/// The agent's gRPC link with a stopwatch on heartbeats: from the call that sends one to each
/// member's acknowledgement as the agent receives it. Everything else passes through.
#[derive(Debug)]
struct TimedLink {
    inner: GrpcLink,
    beats: Arc<Beats>,
}

#[async_trait]
impl ControllerLink for TimedLink {
    async fn register(&self, registration: Registration) -> nonstop_agent::Result<Registered> {
        self.inner.register(registration).await
    }

    fn heartbeat(
        &self,
        heartbeat: Heartbeat,
    ) -> BoxStream<'static, nonstop_agent::Result<HeartbeatAck>> {
        self.beats.sent.fetch_add(1, Ordering::Relaxed);
        let (beats, sent) = (self.beats.clone(), Instant::now());
        self.inner
            .heartbeat(heartbeat)
            .inspect(move |ack| beats.answered(ack, sent.elapsed()))
            .boxed()
    }

    async fn desired(&self, node: &str) -> nonstop_agent::Result<DesiredStream> {
        self.inner.desired(node).await
    }

    async fn report(
        &self,
        first: ReportMark,
        reports: Vec<AgentReport>,
    ) -> nonstop_agent::Result<()> {
        self.inner.report(first, reports).await
    }
}

/// The `flag` type: a resource that is a boolean.
#[derive(Debug)]
struct Flag {
    def: TypeDef,
}

impl Flag {
    fn new() -> Self {
        Flag {
            def: TypeDef {
                name: "flag".into(),
                handler: HandlerRef::Builtin("flag".into()),
                schema: Schema::new(vec![]),
                timings: Timings::default(),
                description: "in memory (scale harness)".into(),
                stop: StopBound::Forced,
                reconfigures: false,
            },
        }
    }
}

#[async_trait]
impl ResourceHandler for Flag {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, _: OpenContext) -> HandlerResult<Box<dyn ResourceInstance>> {
        Ok(Box::new(FlagInstance { online: false }))
    }
}

#[derive(Debug)]
struct FlagInstance {
    online: bool,
}

impl FlagInstance {
    fn health(&self) -> Health {
        match self.online {
            true => Health::Alive,
            false => Health::Dead("offline".into()),
        }
    }
}

#[async_trait]
impl ResourceInstance for FlagInstance {
    async fn online(&mut self) -> HandlerResult<()> {
        self.online = true;
        Ok(())
    }

    async fn offline(&mut self) -> HandlerResult<()> {
        self.online = false;
        Ok(())
    }

    async fn terminate(&mut self) {
        self.online = false;
    }

    async fn looks_alive(&mut self) -> Health {
        self.health()
    }

    async fn is_alive(&mut self) -> Health {
        self.health()
    }

    fn footprint(&self) -> Footprint {
        Footprint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bench/scale.sh relies on: the file checks, the members are witnesses (their daemons
    /// run no agent), each group's backup is the next node, the timing profile is the default.
    #[test]
    fn the_cluster_file_checks() {
        let members = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"].map(String::from);
        let checked = nonstop_controller::config::check("cluster.yaml", &cluster_yaml(5, &members))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let db = checked.db;
        assert_eq!(db.nodes.len(), 8);
        assert!((1..=3).all(|m| db.nodes[&format!("m{m}")].spec.witness));
        assert!(!db.nodes["n0005"].spec.witness);
        assert_eq!(db.groups["g0001"].spec.owners, ["n0001", "n0002"]);
        assert_eq!(db.groups["g0005"].spec.owners, ["n0005", "n0001"]);
        assert_eq!(db.resources["r0005"].spec.type_name, "flag");
        assert_eq!(db.settings.timing.name, "default");
    }
}
