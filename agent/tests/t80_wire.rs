//! The desired state over real gRPC: a leader that sends a malformed desired state (an unknown
//! enum number, a missing oneof, a property without a value) has it refused by the agent's
//! gRPC link with the field named, and the agent keeps following the desired state it had,
//! on the same stream. Heartbeats travel on one long-lived stream per member, opened again
//! whenever the member ends it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use nonstop_agent::grpc::{GrpcLink, StopAnswer};
use nonstop_agent::testing::{ScriptedHandler, desired_group, desired_resource, next_matching};
use nonstop_agent::{Agent, AgentConfig, AgentEvent, HandlerMap};
use nonstop_contract::wire::{desired_to_wire, report_from_wire};
use nonstop_contract::{AgentReport, DesiredNode, ResourceState, Timings};
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_server::{AgentService, AgentServiceServer};
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

const NODE: &str = "n1";
const DEADLINE: Duration = Duration::from_secs(10);

type DesiredStream = Pin<Box<dyn Stream<Item = Result<pb::DesiredState, Status>> + Send>>;
type AckStream = Pin<Box<dyn Stream<Item = Result<pb::HeartbeatAck, Status>> + Send>>;

/// A leader that grants leases, streams whatever desired state the test gives it (the latest
/// first to a new subscriber) and passes the agent's reports on.
#[derive(Clone)]
struct FakeLeader {
    current: Arc<Mutex<Option<pb::DesiredState>>>,
    desired: broadcast::Sender<pb::DesiredState>,
    reports: broadcast::Sender<AgentReport>,
    /// Each heartbeat stream ends after this many acknowledgements (0: never).
    end_streams_after: Arc<AtomicU64>,
    /// Heartbeat streams opened, and heartbeats answered one call each.
    streams: Arc<AtomicU64>,
    unary: Arc<AtomicU64>,
}

impl FakeLeader {
    fn new() -> Self {
        FakeLeader {
            current: Arc::new(Mutex::new(None)),
            desired: broadcast::channel(64).0,
            reports: broadcast::channel(1024).0,
            end_streams_after: Arc::default(),
            streams: Arc::default(),
            unary: Arc::default(),
        }
    }

    fn send(&self, d: pb::DesiredState) {
        *self.current.lock().unwrap() = Some(d.clone());
        let _ = self.desired.send(d);
    }

    /// Serves on a loopback port; returns its address.
    async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = futures::stream::unfold(listener, |l| async move {
            let conn = l.accept().await.map(|(s, _)| s);
            Some((conn, l))
        });
        let svc = AgentServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming),
        );
        addr
    }
}

#[tonic::async_trait]
impl AgentService for FakeLeader {
    async fn register(
        &self,
        _: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        Ok(Response::new(pb::RegisterReply {
            heartbeat_ms: 50,
            lease_ms: 3000,
            terminate_ms: 1000,
        }))
    }

    async fn report_types(
        &self,
        _: Request<pb::TypesReport>,
    ) -> Result<Response<pb::TypesReply>, Status> {
        Ok(Response::new(pb::TypesReply {}))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatAck>, Status> {
        self.unary.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(ack(r.into_inner())))
    }

    type HeartbeatsStream = AckStream;

    async fn heartbeats(
        &self,
        r: Request<tonic::Streaming<pb::HeartbeatRequest>>,
    ) -> Result<Response<AckStream>, Status> {
        self.streams.fetch_add(1, Ordering::SeqCst);
        let limit = self.end_streams_after.load(Ordering::SeqCst);
        let acks = r.into_inner().enumerate().map(move |(i, hb)| {
            if limit > 0 && i as u64 >= limit {
                return Err(Status::unavailable("this member restarts"));
            }
            hb.map(ack)
        });
        // The first error ends the stream, as a real member's refusal does.
        let acks = acks.scan(false, |ended, item| {
            let out = (!*ended).then_some(item.clone());
            *ended |= item.is_err();
            futures::future::ready(out)
        });
        Ok(Response::new(Box::pin(acks)))
    }

    type DesiredStream = DesiredStream;

    async fn desired(
        &self,
        _: Request<pb::DesiredRequest>,
    ) -> Result<Response<DesiredStream>, Status> {
        let first = self.current.lock().unwrap().clone();
        let rx = self.desired.subscribe();
        let later = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(d) => return Some((Ok(d), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let stream = futures::stream::iter(first.map(Ok)).chain(later);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn report(
        &self,
        r: Request<pb::ReportBatch>,
    ) -> Result<Response<pb::ReportReply>, Status> {
        for (i, report) in r.into_inner().reports.into_iter().enumerate() {
            let report = report_from_wire(report, &format!("reports[{i}]"))
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let _ = self.reports.send(report);
        }
        Ok(Response::new(pb::ReportReply {}))
    }

    /// Run 7 is current, run 8 was replaced; anything else finds no leader.
    async fn stopped(
        &self,
        r: Request<pb::StoppedRequest>,
    ) -> Result<Response<pb::StoppedReply>, Status> {
        match r.into_inner().incarnation {
            7 => Ok(Response::new(pb::StoppedReply {
                declared_down: true,
            })),
            8 => Err(Status::aborted("run 8 is not its current daemon run")),
            _ => Err(Status::unavailable("no leader yet")),
        }
    }

    async fn member_gone(
        &self,
        _: Request<pb::MemberGoneRequest>,
    ) -> Result<Response<pb::MemberGoneReply>, Status> {
        Ok(Response::new(pb::MemberGoneReply::default()))
    }

    async fn suspect(
        &self,
        _: Request<pb::SuspectRequest>,
    ) -> Result<Response<pb::SuspectReply>, Status> {
        Ok(Response::new(pb::SuspectReply::default()))
    }
}

/// The fake leader's grant for `hb`: a 3 s lease from one voter.
fn ack(hb: pb::HeartbeatRequest) -> pb::HeartbeatAck {
    pb::HeartbeatAck {
        sent_ms: hb.sent_ms,
        seq: hb.seq,
        lease_ms: 3000,
        member_id: 1,
        voters: 1,
        ..Default::default()
    }
}

/// Node n1's desired state: group `g` at epoch 1 with resource `r`, online or not.
fn desired(online: bool) -> DesiredNode {
    let mut r = desired_resource("r", "scripted", &[], Timings::default());
    r.online = online;
    DesiredNode {
        node: NODE.into(),
        epoch: 1,
        groups: vec![desired_group("g", 1, vec![r])],
        types: Vec::new(),
    }
}

/// The first resource of the first group.
fn resource(d: &mut pb::DesiredState) -> &mut pb::DesiredResource {
    &mut d.groups[0].resources[0]
}

/// Waits for `r` to be reported in `state`.
async fn reported(rx: &mut broadcast::Receiver<AgentReport>, state: ResourceState) {
    let found = next_matching(
        rx,
        DEADLINE,
        |r| matches!(r, AgentReport::Resource(r) if r.resource == "r" && r.state == state),
    )
    .await;
    assert!(found.is_some(), "r was never reported {state}");
}

#[tokio::test]
async fn a_malformed_desired_state_is_refused_naming_the_field_and_the_agent_keeps_its_own() {
    let leader = FakeLeader::new();
    let addr = leader.serve().await;
    let mut reports = leader.reports.subscribe();
    let dir = tempfile::tempdir().unwrap();
    let scripted = ScriptedHandler::new();
    let handlers = HandlerMap::new().with(Arc::new(scripted.clone()));
    let mut config = AgentConfig::new(NODE, dir.path());
    config.retry = Duration::from_millis(50);
    let link = GrpcLink::new(NODE, vec![addr.to_string()], Duration::from_secs(2));
    let agent = Agent::start(config, Arc::new(link), Arc::new(handlers)).unwrap();
    let mut events = agent.events();

    leader.send(desired_to_wire(&desired(true)));
    reported(&mut reports, ResourceState::Online).await;

    // Each of these would take r offline, were it not malformed.
    let offline = desired_to_wire(&desired(false));
    let mut unknown_mode = offline.clone();
    let timings = resource(&mut unknown_mode).timings.as_mut().unwrap();
    timings.restart.as_mut().unwrap().mode = 99;
    let mut no_handler = offline.clone();
    resource(&mut no_handler).handler = Some(pb::Handler { kind: None });
    let mut bad_value = offline.clone();
    let empty = pb::PropertyValue { kind: None };
    resource(&mut bad_value)
        .properties
        .insert("port".into(), empty);
    for (bad, field) in [
        (unknown_mode, "groups[0].resources[0].timings.restart.mode"),
        (no_handler, "groups[0].resources[0].handler"),
        (bad_value, "groups[0].resources[0].properties.port"),
    ] {
        leader.send(bad);
        let refused = next_matching(&mut events, DEADLINE, |e| {
            matches!(e, AgentEvent::DesiredRefused { .. })
        })
        .await;
        match refused {
            Some(AgentEvent::DesiredRefused { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }
    assert!(scripted.is_running("r"), "the agent kept its desired state");
    assert_eq!(scripted.count("r", "offline"), 0);

    // The stream goes on: the next sound desired state is followed.
    leader.send(offline);
    reported(&mut reports, ResourceState::Offline).await;
    assert!(!scripted.is_running("r"));
    agent.shutdown().await.unwrap();
}

/// A member that ends the heartbeat stream (as a refusal or a restart does) gets a new one at
/// the agent's next heartbeat: the lease never lapses, and no heartbeat falls back to a call.
#[tokio::test]
async fn a_heartbeat_stream_the_member_ends_is_opened_again_and_the_lease_holds() {
    let leader = FakeLeader::new();
    leader.end_streams_after.store(3, Ordering::SeqCst);
    let addr = leader.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let handlers = HandlerMap::new().with(Arc::new(ScriptedHandler::new()));
    let mut config = AgentConfig::new(NODE, dir.path());
    config.retry = Duration::from_millis(50);
    let link = GrpcLink::new(NODE, vec![addr.to_string()], Duration::from_secs(2));
    let agent = Agent::start(config, Arc::new(link), Arc::new(handlers)).unwrap();
    let mut events = agent.events();
    let regained = next_matching(&mut events, DEADLINE, |e| {
        matches!(e, AgentEvent::LeaseRegained)
    })
    .await;
    assert!(regained.is_some(), "the agent never held a lease");
    // 50 ms heartbeats, a stream ended every 3: about 30 heartbeats and 10 streams.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Renewed within the last half second: the lease (3 s) still has more than 2.5 s to run.
    let until = agent.lease_deadline().borrow().expect("a lease");
    let left = until - tokio::time::Instant::now();
    assert!(
        left > Duration::from_millis(2500),
        "not renewed lately: {left:?} left"
    );
    let streams = leader.streams.load(Ordering::SeqCst);
    assert!(streams >= 4, "only {streams} heartbeat streams were opened");
    assert_eq!(leader.unary.load(Ordering::SeqCst), 0);
    agent.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watchdogs_word_is_taken_refused_for_good_or_worth_a_retry() {
    let leader = FakeLeader::new();
    let addr = leader.serve().await;
    let link = GrpcLink::new(NODE, vec![addr.to_string()], Duration::from_secs(2));
    let stopped = |n| link.stopped(n, vec!["r".into()]);
    assert_eq!(stopped(7).await.unwrap(), StopAnswer::Down(true));
    assert!(matches!(stopped(8).await.unwrap(), StopAnswer::Refused(why) if why.contains("run 8")));
    let retry = stopped(9).await.expect_err("no leader: worth a retry");
    assert!(retry.to_string().contains("no leader yet"), "{retry}");
}
