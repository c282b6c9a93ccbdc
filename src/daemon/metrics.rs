//! The daemon's Prometheus endpoint (node.yaml `metrics_listen`): plain HTTP, `/metrics` in
//! the Prometheus text format and `/health` as JSON, as etcd serves its metrics URLs.
//!
//! Each scrape builds a fresh registry: the long-lived counters and histograms (the agent's,
//! the member's proposals, the counters fed by applied events) are registered by reference,
//! and the gauges are read from the member's database and raft view at that moment
//! (`nonstop_controller::metrics`), so a scrape never sees half of an update.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use nonstop_agent::metrics::AgentMetrics;
use nonstop_controller::metrics::{EventMetrics, db_gauges, raft_gauges};
use nonstop_controller::store::{RaftStore, Store};
use nonstop_controller::time::Time;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

/// What the endpoint reads.
#[derive(Clone, Debug)]
pub struct Sources {
    /// This node's name.
    pub node: String,
    /// The controller member, when this node is one, with the counters its applied events feed.
    pub member: Option<(RaftStore, EventMetrics)>,
    /// The agent, when this node runs one: its metrics and when its lease runs out.
    pub agent: Option<(AgentMetrics, watch::Receiver<Option<tokio::time::Instant>>)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    node: String,
}

impl Sources {
    /// Every metric, in the Prometheus text format.
    pub async fn render(&self) -> String {
        let mut r = Registry::with_prefix("nonstop");
        let info: Family<BuildLabels, Gauge> = Family::default();
        let labels = BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            node: self.node.clone(),
        };
        info.get_or_create(&labels).set(1);
        r.register("build_info", "The daemon's version and node (1)", info);
        if let Some((store, events)) = &self.member {
            events.register(&mut r);
            store.proposal_metrics().register(&mut r);
            if let Ok(view) = store.member_view().await {
                raft_gauges(&view, &mut r);
            }
        }
        if let Some((agent, deadline)) = &self.agent {
            agent.register(&mut r);
            let left = lease_left(*deadline.borrow());
            r.register_with_unit(
                "agent_lease_remaining",
                "How long the agent's lease still runs (0: none held)",
                Unit::Seconds,
                ConstGauge::new(left.as_secs_f64()),
            );
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &r) {
            warn!("cannot encode the metrics: {e}");
        }
        // The database's gauges, encoded where the database is (what this member applied: a
        // scrape never waits for a quorum). The text format's families simply follow.
        if let Some((store, _)) = &self.member {
            let gauges = store.read_local(|db| {
                let mut r = Registry::with_prefix("nonstop");
                db_gauges(db, &mut r);
                let mut out = String::new();
                encode(&mut out, &r).map(|()| out)
            });
            match gauges.await {
                Ok(Ok(text)) => out.push_str(&text),
                Ok(Err(e)) => warn!("cannot encode the database's metrics: {e}"),
                Err(e) => warn!("metrics: cannot read the database: {e}"),
            }
        }
        out
    }

    /// Whether this node is healthy, and why not.
    pub async fn health(&self) -> Health {
        let mut h = Health {
            node: self.node.clone(),
            healthy: true,
            member: None,
            agent: None,
            problems: Vec::new(),
        };
        if let Some((store, _)) = &self.member {
            match store.member_view().await {
                Ok(v) => {
                    if v.leader == 0 {
                        h.problems
                            .push("the controller member knows no leader".into());
                    }
                    h.member = Some(MemberHealth {
                        id: v.id,
                        role: format!("{:?}", v.role),
                        leader: v.leader,
                        term: v.term,
                        applied: v.applied,
                    });
                }
                Err(e) => h.problems.push(format!("the controller member: {e}")),
            }
        }
        if let Some((_, deadline)) = &self.agent {
            let left = lease_left(*deadline.borrow());
            if left.is_zero() {
                h.problems.push("the agent holds no lease".into());
            }
            h.agent = Some(AgentHealth {
                lease_remaining_ms: left.as_millis() as u64,
            });
        }
        h.healthy = h.problems.is_empty();
        h
    }
}

fn lease_left(deadline: Option<tokio::time::Instant>) -> Duration {
    deadline
        .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
        .unwrap_or_default()
}

/// `/health`'s answer (503 when not healthy).
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    node: String,
    healthy: bool,
    member: Option<MemberHealth>,
    agent: Option<AgentHealth>,
    problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
struct MemberHealth {
    id: u64,
    role: String,
    leader: u64,
    term: u64,
    applied: u64,
}

#[derive(Clone, Debug, Serialize)]
struct AgentHealth {
    lease_remaining_ms: u64,
}

/// Feeds `metrics` with what `store` applies from now on, until the store closes. Commands
/// applied before `since` (a restarted member replaying its log) are not counted again.
pub async fn feed(store: RaftStore, metrics: EventMetrics, since: Time) {
    use tokio::sync::broadcast::error::RecvError;
    let mut applied = store.subscribe_applied();
    loop {
        let a = match applied.recv().await {
            Ok(a) => a,
            Err(RecvError::Lagged(n)) => {
                warn!("metrics: {n} applied commands were not counted (fell behind)");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if a.events.iter().all(|e| e.at < since) {
            continue;
        }
        if !metrics.needs_placements(&a.events) {
            metrics.record(&a.events, |_, _| false);
            continue;
        }
        // Which groups are Online, and where, once the command applied.
        let online = store
            .read_local(|db| {
                (db.groups.values())
                    .filter(|g| db.group_state(g) == nonstop_controller::db::GroupState::Online)
                    .filter_map(|g| Some((g.spec.name.clone(), g.owner.clone()?)))
                    .collect::<std::collections::BTreeMap<_, _>>()
            })
            .await
            .unwrap_or_default();
        metrics.record(&a.events, |g, n| online.get(g).is_some_and(|o| o == n));
    }
}

/// Binds the endpoint's address: first thing, with the gRPC one, so that a daemon that cannot
/// serve it stops before it started anything. Its URL goes to `DATA_DIR/metrics.url`.
pub async fn bind(addr: SocketAddr, data_dir: &Path) -> Result<tokio::net::TcpListener, String> {
    super::http::bind("metrics_listen", addr, data_dir, URL_FILE, |a| {
        format!("http://{a}/metrics")
    })
    .await
}

/// The file under the data folder that names the endpoint's URL.
pub const URL_FILE: &str = "metrics.url";

/// Serves `/metrics` and `/health` on `listener` until `stop`.
pub fn serve(listener: tokio::net::TcpListener, sources: Sources, stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!("metrics on http://{addr}/metrics");
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Arc::new(sources));
    super::http::serve_plain(listener, app, stop, "metrics endpoint");
}

async fn metrics(State(s): State<Arc<Sources>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.render().await)
}

async fn health(State(s): State<Arc<Sources>>) -> impl IntoResponse {
    let h = s.health().await;
    let code = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string_pretty(&h).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body)
}
