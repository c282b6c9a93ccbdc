//! Starting, serving and stopping a node's roles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nonstop_agent::grpc::GrpcLink;
use nonstop_agent::{Agent, AgentConfig, AgentHandle};
use nonstop_controller::config as cluster_config;
use nonstop_controller::db::{Command, Op, TimingProfile};
use nonstop_controller::leader::{self, DesiredBoard};
use nonstop_controller::liveness::{self, Liveness};
use nonstop_controller::raft::grpc::{GrpcTransport, raft_service};
use nonstop_controller::raft::{Members, RaftConfig, RaftNode, RedbLog};
use nonstop_controller::server::{
    AgentApi, CertBook, ClusterApi, History, Refusals, StoreTokens, guard,
};
use nonstop_controller::store::{RaftStore, Store};
use nonstop_controller::time::Time;
use nonstop_pki::{Dial, Links, TlsCell};
use nonstop_proto::agent::agent_service_server::AgentServiceServer;
use nonstop_proto::cluster::cluster_service_server::ClusterServiceServer;
use nonstop_proto::drill::drill_service_server::DrillServiceServer;
use nonstop_resource_types::{Registry, RegistryConfig};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::config::{ControllerRole, NodeConfig};
use crate::watchdog::supervisor::{self, Supervisor};

/// What a running controller member holds on to.
struct Controller {
    node: RaftNode,
    store: RaftStore,
    /// Counters fed by what this member applies (for the metrics endpoint).
    events: nonstop_controller::metrics::EventMetrics,
}

/// Runs the node until SIGTERM or SIGINT (with `drain`, its groups move away first), or until
/// its raft member stops on its own: then it stops the rest as on SIGTERM and returns the
/// reason, so that the process exits non-zero.
pub async fn run(config: NodeConfig, drain: bool) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let links = config
        .links()
        .map_err(|(field, why)| format!("{field}: {why}"))?;
    let dial = dial_of(&config, links.clone());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(super::metrics::bind(addr, &config.data_dir).await?),
        None => None,
    };
    let dashboard_listener = match config.dashboard_listen {
        Some(addr) => Some(super::dashboard::bind(addr, &config.data_dir, links.is_tls()).await?),
        None => None,
    };
    match links.tls() {
        Some(tls) => info!(
            identity = %tls.identity(),
            expires = %tls.info().not_after.date(),
            "mutual TLS on {}",
            config.listen
        ),
        None => warn!(
            "INSECURE: plain gRPC on {} (loopback only): nobody is authenticated, anyone who \
             can reach the port controls the cluster",
            config.listen
        ),
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    // When each node's certificate expires, as seen on its calls; this node's own from now.
    let certs = CertBook::default();
    if let Some(tls) = links.tls() {
        certs.note(&config.node, tls.info().expires_ms());
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(nonstop_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| e.to_string())?;
    let mut routes = tonic::service::Routes::new(health_service).add_service(reflection);
    let controller = match &config.controller {
        Some(role) => {
            let (c, r) = start_controller(&config, role, &dial, &certs, stop_rx.clone(), routes)?;
            health
                .set_serving::<ClusterServiceServer<ClusterApi<RaftStore>>>()
                .await;
            routes = r;
            Some(c)
        }
        None => None,
    };
    if config.agent.is_some() {
        // Faults for `nonstop drill`, on this node only (src/daemon/drill.rs).
        let drill = super::drill::DrillApi::new(
            &config.node,
            agent_config(&config).state_file(),
            config.listen.port(),
        );
        // A partition's table left by a previous run that died while cut off.
        tokio::spawn(super::drill::tidy(config.listen.port()));
        routes = routes.add_service(guard(DrillServiceServer::new(drill)));
    }
    let server = serve(listener, &links, routes, stop_rx.clone())?;
    if let Links::Tls(cell) = &links {
        tokio::spawn(keep_identity(
            config.clone(),
            cell.clone(),
            certs.clone(),
            stop_rx.clone(),
        ));
    }
    let agent = match &config.agent {
        Some(_) => Some(start_agent(&config, &dial).await?),
        None => None,
    };
    if let Some(listener) = metrics_listener {
        let sources = super::metrics::Sources {
            node: config.node.clone(),
            member: (controller.as_ref()).map(|c| (c.store.clone(), c.events.clone())),
            agent: (agent.as_ref()).map(|(a, _)| (a.metrics().clone(), a.lease_deadline())),
        };
        super::metrics::serve(listener, sources, stop_rx.clone());
    }
    if let Some(listener) = dashboard_listener {
        let scheme = if links.is_tls() { "https" } else { "http" };
        let backend = super::dashboard::Backend {
            endpoints: (config.controller_addresses().iter())
                .map(|a| format!("{scheme}://{a}"))
                .collect(),
            ca_pem: links.tls().map(|t| Arc::new(t.ca_pem().to_string())),
            drills: super::dashboard::DrillLauncher {
                data_dir: config.data_dir.clone(),
                ca_file: config.tls.as_ref().map(|t| t.dir.join("ca.pem")),
                up_dir: up_dir(&config),
            },
        };
        let cell = match &links {
            Links::Tls(cell) => Some(cell.clone()),
            _ => None,
        };
        super::dashboard::serve(listener, backend, cell, stop_rx.clone());
    }
    info!(node = %config.node, "running");
    super::systemd::ready();
    if let Some(every) = super::systemd::watchdog_interval() {
        let member = controller.as_ref().map(|c| c.node.clone());
        let healthy = move || member.as_ref().is_none_or(RaftNode::is_running);
        tokio::spawn(super::systemd::feed_watchdog(every, healthy));
    }
    // Crash-only: a member that stopped cannot come back inside this process (its raft state
    // is only safe to read again from its directory), and a daemon that goes on without it
    // serves errors while looking alive. So its death ends the daemon, for a supervisor (or
    // `nonstop up --dir`) to start it again.
    let member_died = async {
        match &controller {
            Some(c) => c.node.exited().await,
            None => std::future::pending().await,
        }
    };
    let died = tokio::select! {
        _ = wait_for_signal() => None,
        why = member_died => Some(why),
    };
    if let Some(why) = &died {
        error!("raft member stopped: {why}; exiting so that the supervisor restarts it");
        // Tests hold a daemon here, alive with a stopped member, as a hung stop would.
        #[cfg(feature = "failpoints")]
        fail::fail_point!("daemon::member_stopped");
    } else if drain {
        drain_node(&config, &dial).await;
    }
    info!("stopping");
    super::systemd::stopping();
    if let Some((a, watchdog)) = agent {
        let _ = a.shutdown().await;
        // The agent stopped everything and said "none": the watchdog may exit.
        watchdog.finish().await;
    }
    let _ = stop_tx.send(true);
    if let Some(c) = controller {
        c.node.shutdown().await;
        drop(c.store);
    }
    // Graceful, but bounded: a client that never hangs up must not keep the daemon alive.
    let abort = server.abort_handle();
    if tokio::time::timeout(SERVER_GRACE, server).await.is_err() {
        warn!(
            "gRPC calls still open {} s after the stop: closed",
            SERVER_GRACE.as_secs()
        );
        abort.abort();
    }
    match died {
        Some(why) => Err(format!(
            "raft member stopped: {why}; exiting so that the supervisor restarts it"
        )),
        None => Ok(()),
    }
}

/// The folder of the local cluster `nonstop up` made this node in (its data folder is
/// `DIR/<node>`, beside `DIR/endpoints` and `DIR/cluster.yaml`), if it did.
fn up_dir(config: &NodeConfig) -> Option<std::path::PathBuf> {
    let dir = config.data_dir.parent()?;
    let made_by_up = config.data_dir.file_name()? == config.node.as_str()
        && dir.join("endpoints").is_file()
        && dir.join("cluster.yaml").is_file();
    made_by_up.then(|| dir.to_path_buf())
}

/// The member's event history, in its raft folder (controller/src/server/event_log.rs).
const EVENTS_FILE: &str = "events.redb";

/// How long open calls may take to finish once the daemon stops.
const SERVER_GRACE: Duration = Duration::from_secs(5);

fn raft_config(config: &NodeConfig, role: &ControllerRole, members: Members) -> RaftConfig {
    let mut rc = RaftConfig::new(role.id, members);
    rc.bootstrap = role.bootstrap;
    if config.timing == "fast" {
        rc.tick = Duration::from_millis(50);
    }
    rc
}

fn start_controller(
    config: &NodeConfig,
    role: &ControllerRole,
    dial: &Dial,
    certs: &CertBook,
    stop: watch::Receiver<bool>,
    routes: tonic::service::Routes,
) -> Result<(Controller, tonic::service::Routes), String> {
    let members: Members = role
        .members
        .iter()
        .map(|(id, a)| (*id, a.to_string()))
        .collect();
    let rc = raft_config(config, role, members);
    let log = RedbLog::open(&config.data_dir.join("raft"), role.id).map_err(|e| e.to_string())?;
    let transport = GrpcTransport::tcp_dialing(role.id, dial.clone());
    let node = RaftNode::start(rc, log, transport).map_err(|e| e.to_string())?;
    let store = RaftStore::new(node.clone());
    let witness = liveness::SharedWitness::new(Some(config.data_dir.join("suspicions.json")));
    let liveness = Liveness::start(store.clone(), witness);
    let board = DesiredBoard::new();
    // Alerts queued while this member leads run even after it stops leading: the queue and
    // its workers are the daemon's.
    let alerts = leader::Alerter::start(
        Arc::new(crate::alerts::ProcessAlerts),
        leader::Sender {
            version: env!("CARGO_PKG_VERSION").to_string(),
            node: config.node.clone(),
        },
        leader::Limits::default(),
    );
    let outside = leader::Outside {
        fence: Arc::new(crate::fencing::ProcessRunner),
        alerts: Some(alerts),
    };
    tokio::spawn(leader::run_with(
        liveness.clone(),
        board.clone(),
        stop.clone(),
        dial.clone(),
        outside,
    ));
    if let Some(path) = &role.cluster {
        tokio::spawn(bootstrap(store.clone(), path.clone()));
    }
    // Beside the raft log, whose fate it shares (a member started afresh starts a new one).
    let history = History::on_disk(&store, &config.data_dir.join("raft").join(EVENTS_FILE));
    let events = nonstop_controller::metrics::EventMetrics::default();
    tokio::spawn(super::metrics::feed(
        store.clone(),
        events.clone(),
        Time::now(),
    ));
    // Every service behind the rules of controller/src/server/auth.rs; refusals of callers
    // with a certificate go to the audit log too.
    let refusals = Refusals::to_audit(store.clone());
    let routes = routes
        .add_service(
            guard(ClusterServiceServer::new(
                ClusterApi::new(store.clone(), history, &config.node).with_certs(certs.clone()),
            ))
            .recording(refusals.clone())
            .noting(certs.clone())
            .with_tokens(Arc::new(StoreTokens(store.clone()))),
        )
        .add_service(
            guard(AgentServiceServer::new(
                AgentApi::new(liveness, board)
                    .dialing(dial.clone())
                    .until(stop),
            ))
            .recording(refusals.clone())
            .noting(certs.clone()),
        )
        .add_service(
            guard(raft_service(node.clone()))
                .recording(refusals)
                .noting(certs.clone()),
        );
    Ok((
        Controller {
            node,
            store,
            events,
        },
        routes,
    ))
}

/// The first leader of a new cluster applies the configured cluster.yaml, once: when the
/// database has no node yet.
async fn bootstrap(store: RaftStore, path: std::path::PathBuf) {
    let mut leadership = store.leadership();
    loop {
        if leadership.borrow_and_update().is_leader {
            match store.read(|db| db.nodes.is_empty()).await {
                Ok(false) => return,
                Ok(true) => {
                    apply_file(&store, &path).await;
                    return;
                }
                Err(e) => warn!(%e, "bootstrap: cannot read the database yet"),
            }
        } else if let Ok(false) = store.read(|db| db.nodes.is_empty()).await {
            return;
        }
        tokio::select! {
            r = leadership.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn apply_file(store: &RaftStore, path: &std::path::Path) {
    let checked = cluster_config::read(path)
        .and_then(|text| cluster_config::check(&path.display().to_string(), &text));
    match checked {
        Ok(c) => {
            let cmd = Command::operator(Time::now(), "bootstrap", Op::Batch(c.ops));
            match store.propose(cmd).await {
                Ok(c) if c.result.is_ok() => {
                    info!(file = %path.display(), "applied the initial configuration")
                }
                Ok(c) => {
                    warn!(file = %path.display(), "initial configuration rejected: {:?}", c.result.err())
                }
                Err(e) => warn!(%e, "initial configuration not applied"),
            }
        }
        Err(errors) => {
            for e in errors {
                warn!("{e}");
            }
        }
    }
}

/// How many OCF agents' meta-data a starting daemon reads at once.
const OCF_READS_AT_ONCE: usize = 2;

/// Reads the meta-data of the OCF agents installed here (in the background: about 140 agents
/// take seconds unless the machine's cache has them, and the agent starts meanwhile), then
/// reports them with the plug-ins' to the
/// leader, retrying until it takes them; `apply` checks resources of types `types:` does not
/// declare against them (docs/resource-types.md).
async fn report_types(registry: Arc<Registry>, link: GrpcLink) {
    let started = std::time::Instant::now();
    let unreadable = registry.load_ocf_agents(OCF_READS_AT_ONCE).await;
    for e in &unreadable {
        debug!("an OCF agent's meta-data cannot be read: {e}");
    }
    let types = registry.discovered();
    info!(
        discovered = types.len(),
        unreadable = unreadable.len(),
        ms = started.elapsed().as_millis() as u64,
        "read the meta-data of the OCF agents and plug-ins installed here"
    );
    loop {
        match link.report_types(&types).await {
            Ok(()) => return info!("reported the types discovered here to the leader"),
            Err(e) => debug!("reporting the types discovered here, retrying: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts the node's watchdog, then its agent; refuses to run the agent without a watchdog.
async fn start_agent(
    config: &NodeConfig,
    dial: &Dial,
) -> Result<(AgentHandle, Supervisor), String> {
    let role = config.agent.clone().unwrap_or_default();
    let registry = Registry::new(RegistryConfig {
        plugin_dirs: role.plugin_dirs.clone(),
        meta_data_cache: role.meta_data_cache.clone(),
        ..RegistryConfig::default()
    });
    // The plug-ins' own definitions (their meta-data: schema, defaults, timings), read once.
    for e in registry.load_plugins().await {
        warn!("a plug-in cannot be used: {e}");
    }
    let registry = Arc::new(registry);
    tokio::spawn(report_types(registry.clone(), agent_link(config, dial)));
    let link = agent_link(config, dial);
    let agent_config = agent_config(config);
    // The watchdog starts first: no lease can be granted before a watchdog guards it.
    let (watchdog, deadline_tx) = start_watchdog(config, &agent_config, &role)?;
    let agent = Agent::start(agent_config, Arc::new(link), registry).map_err(|e| e.to_string())?;
    tokio::spawn(forward(agent.lease_deadline(), deadline_tx));
    Ok((agent, watchdog))
}

/// The agent's configuration: its folder under the node's, and where the daemon listens (told
/// to the leader for `nonstop drill`; not a wildcard address, which nobody can dial).
fn agent_config(config: &NodeConfig) -> AgentConfig {
    let mut c = AgentConfig::new(&config.node, config.data_dir.join("agent"));
    c.address = local_address(config).map(|_| config.listen.to_string());
    c
}

/// The link from this node's agent to the controller members.
fn agent_link(config: &NodeConfig, dial: &Dial) -> GrpcLink {
    let addresses: Vec<String> = config
        .controller_addresses()
        .iter()
        .map(SocketAddr::to_string)
        .collect();
    GrpcLink::new(&config.node, addresses, link_timeout(&config.timing)).dialing(dial.clone())
}

/// The link from this node's watchdog to the controller members, once its daemon died: the
/// member this daemon was (if it was one) died with it, so it is asked last.
pub(crate) fn watchdog_link(config: &NodeConfig, dial: &Dial) -> GrpcLink {
    let (mine, others): (Vec<SocketAddr>, Vec<SocketAddr>) = config
        .controller_addresses()
        .into_iter()
        .partition(|a| *a == config.listen);
    let addresses = others
        .iter()
        .chain(&mine)
        .map(SocketAddr::to_string)
        .collect();
    GrpcLink::new(&config.node, addresses, link_timeout(&config.timing)).dialing(dial.clone())
}

/// How this node dials the members: as `links` say (TLS or plain), from its own address, each
/// socket marked as this daemon's (a drill's partition cuts what carries the mark:
/// src/daemon/drill.rs).
pub(crate) fn dial_of(config: &NodeConfig, links: nonstop_pki::Links) -> Dial {
    Dial {
        links,
        local: local_address(config),
        mark: Some(super::drill::mark(config.listen.port())),
    }
}

/// What feeds the watchdog the lease's end.
type DeadlineTx = watch::Sender<Option<tokio::time::Instant>>;

/// Starts the node's watchdog on the agent's state file; the sender feeds it the lease's end.
fn start_watchdog(
    config: &NodeConfig,
    agent: &AgentConfig,
    role: &super::config::AgentRole,
) -> Result<(Supervisor, DeadlineTx), String> {
    let refuse = |e: std::io::Error| {
        format!("cannot start the watchdog: {e}; refusing to run the agent without it")
    };
    let spec = supervisor::Spec {
        program: std::env::current_exe().map_err(refuse)?,
        state: agent.state_file(),
        plugin_dirs: role.plugin_dirs.clone(),
        node_config: config.source.clone(),
        incarnation: agent.incarnation,
        hardware: role.hardware_watchdog.clone(),
        log_format: config.log_format,
    };
    let (tx, rx) = watch::channel(None);
    let watchdog = Supervisor::start(spec, rx).map_err(refuse)?;
    Ok((watchdog, tx))
}

/// The address this node's outgoing connections are made from: the one it listens on (unless
/// that is a wildcard), so that peers and firewalls see it where it serves.
fn local_address(config: &NodeConfig) -> Option<std::net::IpAddr> {
    let ip = config.listen.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// How long the agent's link waits for one call. Below the agent's own bound on a heartbeat
/// (ten heartbeats): only a call that fails in the link moves the link to another member, so a
/// link timeout beyond that bound would keep the agent on a stopped leader for good.
fn link_timeout(timing: &str) -> Duration {
    let heartbeat = TimingProfile::named(timing)
        .map(|p| p.heartbeat.0)
        .unwrap_or(200);
    Duration::from_millis(heartbeat * 9).min(Duration::from_secs(1))
}

/// Copies the agent's lease deadline into the watchdog's channel until the agent is gone.
async fn forward(
    mut from: watch::Receiver<Option<tokio::time::Instant>>,
    to: watch::Sender<Option<tokio::time::Instant>>,
) {
    loop {
        to.send_replace(*from.borrow_and_update());
        if from.changed().await.is_err() {
            return;
        }
    }
}

/// Serves `routes` on `listener` (over TLS when `links` say so) until `stop`.
fn serve(
    listener: tokio::net::TcpListener,
    links: &Links,
    routes: tonic::service::Routes,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let server = tonic::transport::Server::builder().add_routes(routes);
    let done = |r: Result<(), tonic::transport::Error>| {
        if let Err(e) = r {
            warn!(%e, "gRPC server stopped");
        }
    };
    Ok(match links {
        Links::Anonymous(_) => {
            return Err("tls.dir: a daemon serves with an identity, not with a CA alone".into());
        }
        Links::Tls(cell) => {
            let incoming = nonstop_pki::accept(listener, cell.clone());
            tokio::spawn(async move {
                done(
                    server
                        .serve_with_incoming_shutdown(incoming, shutdown)
                        .await,
                )
            })
        }
        Links::Plain => {
            let incoming = nonstop_controller::raft::grpc::incoming(listener);
            tokio::spawn(async move {
                done(
                    server
                        .serve_with_incoming_shutdown(incoming, shutdown)
                        .await,
                )
            })
        }
    })
}

/// How often the identity's files are read again to see whether they changed.
const IDENTITY_RECHECK: Duration = Duration::from_secs(30);
/// How long ahead of its expiry a certificate is warned about (once a day).
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Keeps the node's identity current: on SIGHUP, and when its files change (read again every
/// 30 s), it is loaded and checked as at start (signed by the CA, naming this node, covering
/// its addresses, valid now) and replaces the one in use; new connections and handshakes use
/// it. A bad one is refused with a warning naming the field, and the one in use stays. Warns
/// at start and then daily from 30 days before the certificate expires.
async fn keep_identity(
    config: NodeConfig,
    cell: TlsCell,
    certs: CertBook,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(IDENTITY_RECHECK);
    let mut warned: Option<tokio::time::Instant> = None;
    loop {
        let hangup = tokio::select! {
            _ = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
            _ = tick.tick() => false,
            _ = stop.changed() => return,
        };
        match config.links() {
            Ok(Links::Tls(fresh)) => {
                let fresh = fresh.current();
                if !cell.current().same_files(&fresh) {
                    info!(
                        identity = %fresh.identity(),
                        expires = %fresh.info().not_after.date(),
                        "identity reloaded from {}",
                        fresh.dir().display()
                    );
                    cell.replace((*fresh).clone());
                    certs.note(&config.node, fresh.info().expires_ms());
                    warned = None;
                } else if hangup {
                    info!("SIGHUP: the identity's files are unchanged");
                }
            }
            Ok(Links::Plain | Links::Anonymous(_)) => {}
            Err((field, why)) => {
                warn!("{field}: {why}: the identity in use stays until this is fixed")
            }
        }
        let tls = cell.current();
        let days = tls.info().days_left(time::OffsetDateTime::now_utc());
        let due = warned.is_none_or(|w| w.elapsed() >= Duration::from_secs(24 * 3600));
        if days <= EXPIRY_WARNING_DAYS && due {
            warn!(
                "this node's certificate ({}) expires on {}, in {days} day(s): make a new one \
                 with `nonstop cert node` and put it in place (picked up without a restart)",
                tls.dir().join("cert.pem").display(),
                tls.info().not_after.date()
            );
            warned = Some(tokio::time::Instant::now());
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Pauses this node through any controller member and waits (up to a minute) until it owns no
/// group and the groups it owned are no longer pending on their new node (as WSFC's drain
/// does: the service runs elsewhere when the stop completes).
async fn drain_node(config: &NodeConfig, dial: &Dial) {
    use nonstop_proto::cluster::NameRequest;
    use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
    let name = config.node.clone();
    for addr in config.controller_addresses() {
        let Ok(endpoint) = dial.endpoint(&addr.to_string()) else {
            continue;
        };
        let Ok(mut c) = dial.connect(&endpoint).await.map(ClusterServiceClient::new) else {
            continue;
        };
        let Ok(node) = c.get_node(NameRequest { name: name.clone() }).await else {
            continue;
        };
        if c.pause_node(NameRequest { name: name.clone() })
            .await
            .is_err()
        {
            continue;
        }
        info!("draining: waiting for this node's groups to move away");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let moving = node.into_inner().groups;
        while tokio::time::Instant::now() < deadline {
            if drained(&mut c, &name, &moving).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        warn!("drain: groups still here or pending after 60 s; stopping anyway");
        return;
    }
    warn!("drain: no controller member answered; stopping without draining");
}

/// Whether `node` owns no group and none of `moved` is still pending where it went.
async fn drained(
    c: &mut nonstop_proto::cluster::cluster_service_client::ClusterServiceClient<
        tonic::transport::Channel,
    >,
    node: &str,
    moved: &[String],
) -> bool {
    use nonstop_proto::cluster::{GroupState, NameRequest};
    match c.get_node(NameRequest { name: node.into() }).await {
        Ok(n) if n.get_ref().groups.is_empty() => {}
        _ => return false,
    }
    for g in moved {
        match c.get_group(NameRequest { name: g.clone() }).await {
            Ok(g)
                if matches!(
                    g.get_ref().state(),
                    GroupState::OnlinePending | GroupState::OfflinePending
                ) =>
            {
                return false;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}
