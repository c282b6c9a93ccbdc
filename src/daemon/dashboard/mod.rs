//! The web dashboard (node.yaml `dashboard_listen`): a page embedded in the binary, and a
//! small JSON API behind it that calls the cluster's gRPC services as the person logged in.
//!
//! ```text
//!  browser ──HTTPS (node certificate; HTTP on an insecure loopback cluster)──▶ this module
//!     Authorization: Bearer TOKEN          │ one gRPC client per request, presenting TOKEN
//!                                          ▼ (no certificate of its own: the token's role,
//!                                 ClusterService on the members      never the node's, decides)
//! ```
//!
//! The page never holds more power than its token: every call goes through the members'
//! guard (controller/src/server/auth.rs) with that token, and is audited under its name. The
//! daemon's own certificate is not used to call. On a cluster without TLS nobody is
//! authenticated (as with the CLI), and the page says so.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nonstop_pki::{Links, TlsCell};
use nonstop_proto::cluster as pb;
use rust_embed::Embed;
use serde::Deserialize;
use tokio::sync::watch;
use tracing::info;

use crate::cli::client::{CliError, Client, call};
use crate::cli::views::{GroupView, ResourceView, StatusView};

/// The page's files, in the binary (no outside asset: nothing else need be fetched).
#[derive(Embed)]
#[folder = "src/daemon/dashboard/assets/"]
struct Assets;

/// What the API needs to call the cluster.
#[derive(Clone, Debug)]
pub struct Backend {
    /// The members' URLs, this node's first when it is one.
    pub endpoints: Vec<String>,
    /// TLS: the cluster CA to trust, nothing to present (the token says who calls). `None`:
    /// a cluster without TLS.
    pub ca_pem: Option<Arc<String>>,
    /// Where a drill started from the page runs: `nonstop drill run` as a process of its own.
    pub drills: DrillLauncher,
}

/// How the page starts a drill: this binary's `nonstop drill run`, with the token of whoever
/// asked (so the cluster decides whether they may: RecordDrill and Inject need the operator
/// role), in a process group of its own (a drill that crashes this very daemon goes on), its
/// output in `DATA_DIR/drills/`.
#[derive(Clone, Debug)]
pub struct DrillLauncher {
    /// The node's data folder.
    pub data_dir: std::path::PathBuf,
    /// The cluster CA's certificate file, for the token's TLS (none: no TLS).
    pub ca_file: Option<std::path::PathBuf>,
    /// The local cluster's folder when `nonstop up` made this node (`--dir`, so that the drill
    /// can start a crashed daemon again); none elsewhere (systemd restarts it).
    pub up_dir: Option<std::path::PathBuf>,
}

impl Backend {
    fn client(&self, headers: &HeaderMap) -> Result<Client, ApiError> {
        match (&self.ca_pem, bearer(headers)) {
            (Some(ca), Some(t)) => {
                let links = Links::Anonymous(ca.clone());
                Ok(Client::for_program(
                    self.endpoints.clone(),
                    links,
                    "dashboard",
                    Some(t),
                )?)
            }
            (Some(_), None) => Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "log in with a token (`nonstop token create --role viewer|operator|admin`)".into(),
            )),
            (None, _) => Ok(Client::for_program(
                self.endpoints.clone(),
                Links::Plain,
                "dashboard",
                None,
            )?),
        }
    }
}

/// The token of `Authorization: Bearer TOKEN`, if the request carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// An API error: its HTTP status and the cluster's message, as JSON `{"error": ...}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl From<CliError> for ApiError {
    fn from(e: CliError) -> Self {
        let code = match &e {
            CliError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            CliError::Denied(_) => StatusCode::FORBIDDEN,
            CliError::Refused(_) => StatusCode::BAD_REQUEST,
            CliError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CliError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            CliError::Superseded(_) | CliError::StdoutClosed => StatusCode::CONFLICT,
        };
        ApiError(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1 });
        (self.0, axum::Json(body)).into_response()
    }
}

type Api<T> = Result<axum::Json<T>, ApiError>;

/// The routes.
pub fn router(backend: Backend) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .route("/api/status", get(status))
        .route("/api/groups/{name}", get(group))
        .route("/api/groups/{name}/move", post(move_group))
        .route("/api/groups/{name}/target", post(group_target))
        .route("/api/resources/{name}", get(resource))
        .route("/api/resources/{name}/check", post(check_resource))
        .route("/api/resources/{name}/update", post(update_resource))
        .route("/api/events", get(events))
        .route("/api/drills", get(drill_scenarios).post(run_drill))
        .route("/api/stream", get(stream))
        .with_state(Arc::new(backend))
}

async fn index() -> Response {
    asset(Path("index.html".to_string())).await
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(f) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let kind = match file.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // The page runs only its own script and talks only to this server.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from(f.data.into_owned()),
    )
        .into_response()
}

async fn status(State(b): State<Arc<Backend>>, headers: HeaderMap) -> Api<StatusView> {
    let mut c = b.client(&headers)?;
    let reply = call!(c, status, pb::StatusRequest {})?;
    Ok(axum::Json(StatusView {
        tls: b.ca_pem.is_some(),
        ..StatusView::from(reply)
    }))
}

/// A group with its resources.
#[derive(Debug, serde::Serialize)]
struct GroupPage {
    group: GroupView,
    resources: Vec<ResourceView>,
}

async fn group(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Api<GroupPage> {
    let mut c = b.client(&headers)?;
    let g = call!(c, get_group, pb::NameRequest { name: name.clone() })?;
    let all = call!(c, list_resources, pb::ListRequest::default())?;
    let resources = (all.resources.into_iter())
        .filter(|r| r.group == name)
        .map(ResourceView::from)
        .collect();
    Ok(axum::Json(GroupPage {
        group: GroupView::from(g),
        resources,
    }))
}

#[derive(Debug, Deserialize)]
struct MoveBody {
    /// The node; empty or absent: the best owner.
    #[serde(default)]
    to: String,
}

async fn move_group(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<MoveBody>,
) -> Api<serde_json::Value> {
    let mut c = b.client(&headers)?;
    let req = pb::MoveGroupRequest {
        group: name,
        to: body.to,
    };
    let r = call!(c, move_group, req)?;
    Ok(axum::Json(serde_json::json!({ "revision": r.revision })))
}

#[derive(Debug, Deserialize)]
struct TargetBody {
    target: String,
}

async fn group_target(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<TargetBody>,
) -> Api<serde_json::Value> {
    let target = match body.target.as_str() {
        "online" => pb::Target::Online,
        "offline" => pb::Target::Offline,
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("target: {other:?}: use online or offline"),
            ));
        }
    };
    let mut c = b.client(&headers)?;
    let req = pb::SetTargetRequest {
        name,
        target: target as i32,
    };
    let r = call!(c, set_group_target, req)?;
    Ok(axum::Json(serde_json::json!({ "revision": r.revision })))
}

/// A resource with its type's schema.
#[derive(Debug, serde::Serialize)]
struct ResourcePage {
    resource: ResourceView,
    /// The values with their kinds (a list as an array), for the form to show and send back
    /// unchanged: `resource.properties` writes a list as its items joined by spaces.
    values: serde_json::Value,
    schema: Vec<PropertyField>,
}

/// One property of a type, as the form shows it.
#[derive(Debug, serde::Serialize)]
struct PropertyField {
    name: String,
    kind: &'static str,
    required: bool,
    default: String,
    description: String,
    /// Bounds, choices (`a|b`) or format.
    constraint: String,
}

async fn resource(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Api<ResourcePage> {
    let mut c = b.client(&headers)?;
    let r = call!(c, get_resource, pb::NameRequest { name })?;
    let t = call!(
        c,
        get_type,
        pb::NameRequest {
            name: r.r#type.clone()
        }
    )?;
    let schema = (t.properties.into_iter())
        .map(|p| PropertyField {
            kind: match pb::PropertyKind::try_from(p.kind) {
                Ok(pb::PropertyKind::Int) => "int",
                Ok(pb::PropertyKind::Bool) => "bool",
                Ok(pb::PropertyKind::Enum) => "enum",
                Ok(pb::PropertyKind::Duration) => "duration",
                Ok(pb::PropertyKind::Address) => "address",
                Ok(pb::PropertyKind::List) => "list",
                _ => "string",
            },
            name: p.name,
            required: p.required,
            default: p.default,
            description: p.description,
            constraint: p.constraint,
        })
        .collect();
    let values = serde_json::from_str(&r.properties_json).unwrap_or_default();
    Ok(axum::Json(ResourcePage {
        resource: ResourceView::from(r),
        values,
        schema,
    }))
}

#[derive(Debug, Deserialize)]
struct CheckBody {
    properties: std::collections::HashMap<String, String>,
}

async fn check_resource(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<CheckBody>,
) -> Api<serde_json::Value> {
    let mut c = b.client(&headers)?;
    let req = pb::CheckResourceRequest {
        name,
        properties: body.properties,
    };
    let r = call!(c, check_resource, req)?;
    let problems: Vec<_> = (r.problems.into_iter())
        .map(|p| serde_json::json!({ "field": p.field, "reason": p.reason }))
        .collect();
    Ok(axum::Json(serde_json::json!({ "problems": problems })))
}

/// Sets the properties (admin only: the members refuse anyone else, naming the role).
async fn update_resource(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<CheckBody>,
) -> Api<serde_json::Value> {
    let mut c = b.client(&headers)?;
    let req = pb::CheckResourceRequest {
        name,
        properties: body.properties,
    };
    let r = call!(c, update_resource, req)?;
    Ok(axum::Json(
        serde_json::json!({ "revision": r.revision, "changes": r.changes }),
    ))
}

#[derive(Debug, Deserialize)]
struct FromRevision {
    #[serde(default)]
    from: u64,
}

/// One event as the page gets it (the same fields as `nonstop events -o json`).
fn event_json(e: pb::ClusterEvent) -> serde_json::Value {
    let event = serde_json::from_str(&e.json).unwrap_or(serde_json::Value::String(e.json));
    serde_json::json!({
        "revision": e.revision,
        "at_ms": e.at_ms,
        "summary": e.summary,
        "event": event,
    })
}

async fn events(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Query(q): Query<FromRevision>,
) -> Api<Vec<serde_json::Value>> {
    let mut c = b.client(&headers)?;
    let req = pb::WatchRequest {
        from_revision: q.from,
        history_only: true,
    };
    let mut s = call!(c, watch_events, req)?;
    let mut out = Vec::new();
    while let Some(e) = s.message().await.map_err(|s| CliError::from_status(&s))? {
        out.push(event_json(e));
    }
    Ok(axum::Json(out))
}

/// Server-sent events: each cluster event after `from` as it is applied (`data: {json}`),
/// for the page to refresh what it shows within a moment.
async fn stream(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    Query(q): Query<FromRevision>,
) -> Result<Response, ApiError> {
    let mut c = b.client(&headers)?;
    let req = pb::WatchRequest {
        from_revision: q.from,
        history_only: false,
    };
    let mut s = call!(c, watch_events, req)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        loop {
            match s.message().await {
                Ok(Some(e)) => {
                    let data = event_json(e).to_string();
                    if tx.send(Ok(SseEvent::default().data(data))).await.is_err() {
                        return;
                    }
                }
                // The member went away: the page reconnects from the last revision it saw.
                Ok(None) | Err(_) => return,
            }
        }
    });
    let events = tokio_stream::wrappers::ReceiverStream::new(rx);
    let keep = KeepAlive::new().interval(Duration::from_secs(15));
    Ok(Sse::new(events).keep_alive(keep).into_response())
}

/// The built-in drill scenarios, for the page's form.
async fn drill_scenarios() -> axum::Json<Vec<serde_json::Value>> {
    let list = crate::cli::drill::scenario::built_in()
        .into_iter()
        .map(|s| serde_json::json!({ "name": s.name, "description": s.description }))
        .collect();
    axum::Json(list)
}

#[derive(Debug, Deserialize)]
struct DrillBody {
    scenario: String,
    #[serde(default)]
    group: String,
    #[serde(default = "one")]
    rounds: u32,
}

fn one() -> u32 {
    1
}

/// Starts `nonstop drill run`; answers once it is under way (or with its error, if it ended
/// within the first two seconds: a refusal, the cluster not ready, another drill running).
async fn run_drill(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<DrillBody>,
) -> Api<serde_json::Value> {
    let bad = |why: String| ApiError(StatusCode::BAD_REQUEST, why);
    let known = crate::cli::drill::scenario::built_in();
    if !known.iter().any(|s| s.name == body.scenario) {
        let names: Vec<String> = known.into_iter().map(|s| s.name).collect();
        return Err(bad(format!(
            "scenario: {:?} is not one of {}",
            body.scenario,
            names.join(", ")
        )));
    }
    if !body.group.is_empty() && !nonstop_controller::db::is_safe_name(&body.group) {
        return Err(bad(format!("group: {:?} is not a group name", body.group)));
    }
    if !(1..=20).contains(&body.rounds) {
        return Err(bad(format!("rounds: {} is not within 1..=20", body.rounds)));
    }
    // Who asks must be logged in, as for any call; the cluster then checks the role.
    b.client(&headers)?;
    let token = bearer(&headers).map(String::from);
    let l = &b.drills;
    let folder = l.data_dir.join("drills");
    std::fs::create_dir_all(&folder).map_err(|e| bad(format!("{}: {e}", folder.display())))?;
    let at = nonstop_agent::clock::wall_ms();
    let log_path = folder.join(format!("{at}-{}.log", body.scenario));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| bad(format!("{}: {e}", log_path.display())))?;
    let err_log = log.try_clone().map_err(|e| bad(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| bad(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["drill", "run", &body.scenario, "--yes", "--rounds"])
        .arg(body.rounds.to_string())
        .args(["--endpoint", &b.endpoints.join(",")])
        .current_dir(&l.data_dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0)
        .kill_on_drop(false)
        .env_remove("NONSTOP_IDENTITY")
        .env_remove("NONSTOP_ENDPOINT")
        .env("NONSTOP_USER", "dashboard");
    if !body.group.is_empty() {
        cmd.args(["--group", &body.group]);
    }
    if let Some(dir) = &l.up_dir {
        cmd.arg("--dir").arg(dir);
    }
    if let (Some(ca), Some(t)) = (&l.ca_file, token) {
        cmd.env("NONSTOP_CA", ca).env("NONSTOP_TOKEN", t);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| bad(format!("cannot start the drill: {e}")))?;
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last: Vec<&str> = said.lines().rev().take(3).collect();
            let last: Vec<&str> = last.into_iter().rev().collect();
            let code = if status.code() == Some(1) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            Err(ApiError(
                code,
                format!("the drill ended at once ({status}): {}", last.join(" / ")),
            ))
        }
        Ok(Err(e)) => Err(bad(format!("the drill: {e}"))),
        Err(_) => {
            // Reaped when it ends.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            let log = log_path.display().to_string();
            Ok(axum::Json(
                serde_json::json!({ "started": true, "log": log }),
            ))
        }
    }
}

/// Refuses a request whose `Host` is not a loopback address or `localhost` (DNS rebinding).
async fn loopback_host_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if is_loopback_host(host) {
        return next.run(req).await;
    }
    let why =
        format!("Host {host:?}: without TLS the dashboard answers only to a loopback address");
    ApiError(StatusCode::MISDIRECTED_REQUEST, why).into_response()
}

/// Whether `host` (a Host header: name or address, with or without a port) names this
/// machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`; a bare `::1` has colons too.
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Binds the dashboard's address (first thing, with the gRPC one). Its URL goes to
/// `DATA_DIR/dashboard.url`.
pub async fn bind(
    addr: std::net::SocketAddr,
    data_dir: &std::path::Path,
    tls: bool,
) -> Result<tokio::net::TcpListener, String> {
    let scheme = if tls { "https" } else { "http" };
    super::http::bind("dashboard_listen", addr, data_dir, URL_FILE, |a| {
        format!("{scheme}://{a}/")
    })
    .await
}

/// The file under the data folder that names the dashboard's URL.
pub const URL_FILE: &str = "dashboard.url";

/// Serves the dashboard on `listener` until `stop`: over TLS with the node's certificate when
/// `tls` holds one (browsers are asked for no certificate), plain HTTP otherwise.
pub fn serve(
    listener: tokio::net::TcpListener,
    backend: Backend,
    tls: Option<TlsCell>,
    mut stop: watch::Receiver<bool>,
) {
    let app = router(backend);
    if let Ok(addr) = listener.local_addr() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!("dashboard on {scheme}://{addr}/");
    }
    match tls {
        // Without TLS nobody is authenticated: only a page the browser loaded from a loopback
        // name may call (a site that rebinds its own name to 127.0.0.1 is refused).
        None => {
            let app = app.layer(axum::middleware::from_fn(loopback_host_only));
            super::http::serve_plain(listener, app, stop, "dashboard")
        }
        Some(cell) => {
            tokio::spawn(async move {
                use tokio_stream::StreamExt;
                let mut conns =
                    nonstop_pki::accept_with(listener, cell, nonstop_pki::Tls::web_server_config);
                loop {
                    let conn = tokio::select! {
                        c = conns.next() => c,
                        _ = stop.wait_for(|s| *s) => return,
                    };
                    let Some(conn) = conn else { return };
                    let Ok(stream) = conn else { continue };
                    let service = hyper_util::service::TowerToHyperService::new(app.clone());
                    tokio::spawn(async move {
                        let builder = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        );
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = builder.serve_connection_with_upgrades(io, service).await;
                    });
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_pass_as_host() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "::1",
            "127.1.2.3:9",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example:8080",
            "198.18.0.1:80",
            "localhost.evil.example",
            "[::2]:80",
            "127.0.0.1.evil:80",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
