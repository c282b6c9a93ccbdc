//! The controller's gRPC services over a single in-memory member, on loopback: agents register,
//! heartbeat and report; the leader places groups, declares silent nodes Down and fails their
//! groups over; operators see it all through ClusterService.

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
use tonic::transport::Channel;

const CLUSTER: &str = "
timing: fast
nodes: [{name: a}, {name: b}, {name: w, witness: true}]
groups:
  - name: G
    owners: [a, b]
    resources: [{name: app, type: process, properties: {command: app}}]
";

struct Fixture {
    agent: AgentServiceClient<Channel>,
    cluster: ClusterServiceClient<Channel>,
    _stop: watch::Sender<bool>,
}

async fn start() -> Fixture {
    let checked = config::check("cluster.yaml", CLUSTER).unwrap();
    let mut db = ClusterDb::new();
    db.apply(Command::operator(
        Time::now(),
        "test",
        Op::Batch(checked.ops),
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = LocalStore::new(db, &addr.to_string());
    let liveness = Liveness::start(store.clone(), liveness::witness());
    let board = DesiredBoard::new();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(leader::run(liveness.clone(), board.clone(), stop_rx));
    let history = History::follow(&store);
    let router = tonic::transport::Server::builder()
        .add_service(ClusterServiceServer::new(ClusterApi::new(
            store.clone(),
            history,
            "m1",
        )))
        .add_service(AgentServiceServer::new(AgentApi::new(liveness, board)));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    let url = format!("http://{addr}");
    Fixture {
        agent: AgentServiceClient::connect(url.clone()).await.unwrap(),
        cluster: ClusterServiceClient::connect(url).await.unwrap(),
        _stop: stop,
    }
}

/// Waits up to 10 s for `f` to hold on the group.
async fn group_until(
    c: &mut ClusterServiceClient<Channel>,
    what: &str,
    f: impl Fn(&cpb::Group) -> bool,
) -> cpb::Group {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let g = c
            .get_group(cpb::NameRequest { name: "G".into() })
            .await
            .unwrap()
            .into_inner();
        if f(&g) {
            return g;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keeps `node` heartbeating, as an agent that holds its lease, until the returned sender is
/// dropped.
fn heartbeat(agent: AgentServiceClient<Channel>, node: &str) -> tokio::sync::oneshot::Sender<()> {
    heartbeat_holding(agent, node, true)
}

/// Keeps `node` heartbeating, saying whether it holds its lease, until the returned sender is
/// dropped.
fn heartbeat_holding(
    mut agent: AgentServiceClient<Channel>,
    node: &str,
    holds_lease: bool,
) -> tokio::sync::oneshot::Sender<()> {
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let node = node.to_string();
    tokio::spawn(async move {
        for seq in 1.. {
            let hb = apb::HeartbeatRequest {
                node: node.clone(),
                seq,
                sent_ms: seq * 50,
                holds_lease: Some(holds_lease),
            };
            let ack = agent.heartbeat(hb).await.unwrap().into_inner();
            assert_eq!(ack.sent_ms, seq * 50, "the ack echoes the send time");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = &mut rx => return,
            }
        }
    });
    tx
}

fn report(node: &str, epoch: u64, state: &str) -> apb::ReportBatch {
    let state = match state {
        "Online" => apb::ResourceState::Online,
        "Offline" => apb::ResourceState::Offline,
        "Failed" => apb::ResourceState::Failed,
        other => panic!("no such state in these tests: {other}"),
    };
    let t = apb::ResourceTransition {
        resource: "app".into(),
        group: "G".into(),
        epoch,
        state: state as i32,
        at_ms: Time::now().0,
        ..Default::default()
    };
    apb::ReportBatch {
        node: node.into(),
        reports: vec![apb::AgentReport {
            kind: Some(apb::agent_report::Kind::Transition(t)),
        }],
        ..Default::default()
    }
}

/// An agent whose report call timed out sends the same numbered batch again; the leader may
/// have committed the first try. The old report must not overwrite what came after it.
#[tokio::test]
async fn a_numbered_report_sent_again_is_applied_once() {
    let mut f = start().await;
    for n in ["a", "b"] {
        f.agent
            .register(apb::RegisterRequest {
                incarnation: 0,
                node: n.into(),
                types: vec![],
                address: String::new(),
            })
            .await
            .unwrap();
    }
    let _keep_a = heartbeat(f.agent.clone(), "a");
    let _keep_b = heartbeat(f.agent.clone(), "b");
    let g = group_until(&mut f.cluster, "placement on a", |g| g.owner == "a").await;
    let numbered = |seq, state| apb::ReportBatch {
        incarnation: 42,
        first_seq: seq,
        ..report("a", g.epoch, state)
    };
    let state = async |f: &mut Fixture| {
        let r = f
            .cluster
            .get_resource(cpb::NameRequest { name: "app".into() })
            .await
            .unwrap()
            .into_inner();
        (r.state(), r.restarts_in_window)
    };
    f.agent.report(numbered(1, "Online")).await.unwrap();
    f.agent.report(numbered(2, "Failed")).await.unwrap();
    assert_eq!(state(&mut f).await.0, cpb::ResourceState::Failed);
    // The first batch again, as after a lost answer: answered, and changes nothing.
    f.agent.report(numbered(1, "Online")).await.unwrap();
    assert_eq!(
        state(&mut f).await.0,
        cpb::ResourceState::Failed,
        "a report sent again overwrote a newer one"
    );
    // The same agent's next report, and a restarted agent's first, are news.
    f.agent.report(numbered(3, "Online")).await.unwrap();
    assert_eq!(state(&mut f).await.0, cpb::ResourceState::Online);
    let restarted = apb::ReportBatch {
        incarnation: 43,
        ..numbered(1, "Offline")
    };
    f.agent.report(restarted).await.unwrap();
    assert_eq!(state(&mut f).await.0, cpb::ResourceState::Offline);
}

/// The node's state as the cluster answers it.
async fn node_state(c: &mut ClusterServiceClient<Channel>, node: &str) -> cpb::NodeState {
    let n = c.get_node(cpb::NameRequest { name: node.into() }).await;
    n.unwrap().into_inner().state()
}

/// An agent heard without its lease (its acknowledgements do not reach it: a one-way
/// partition) runs nothing; bringing its node Up would only move groups to it and back.
#[tokio::test]
async fn a_node_comes_up_only_once_its_agent_holds_its_lease() {
    let mut f = start().await;
    for n in ["a", "b"] {
        let r = apb::RegisterRequest {
            incarnation: 0,
            node: n.into(),
            types: vec![],
            address: String::new(),
        };
        f.agent.register(r).await.unwrap();
    }
    let _keep_a = heartbeat(f.agent.clone(), "a");
    let without = heartbeat_holding(f.agent.clone(), "b", false);
    group_until(&mut f.cluster, "placement on a", |g| g.owner == "a").await;
    // Fifteen heartbeats of b, acknowledged, none sent under a lease.
    tokio::time::sleep(Duration::from_millis(750)).await;
    assert_eq!(node_state(&mut f.cluster, "a").await, cpb::NodeState::Up);
    assert_ne!(node_state(&mut f.cluster, "b").await, cpb::NodeState::Up);
    drop(without);
    let _keep_b = heartbeat(f.agent.clone(), "b");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node_state(&mut f.cluster, "b").await != cpb::NodeState::Up {
        assert!(tokio::time::Instant::now() < deadline, "b never came Up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_node_is_declared_down_and_its_group_fails_over() {
    let mut f = start().await;
    for n in ["a", "b"] {
        let reply = f
            .agent
            .register(apb::RegisterRequest {
                incarnation: 0,
                node: n.into(),
                types: vec![],
                address: String::new(),
            })
            .await
            .unwrap();
        assert_eq!(reply.into_inner().lease_ms, 300, "the fast profile's lease");
    }
    let stop_a = heartbeat(f.agent.clone(), "a");
    let _keep_b = heartbeat(f.agent.clone(), "b");
    let g = group_until(&mut f.cluster, "placement on a", |g| g.owner == "a").await;

    // The agent on a follows its desired state and reports the resource online.
    let mut desired = f
        .agent
        .desired(apb::DesiredRequest { node: "a".into() })
        .await
        .unwrap()
        .into_inner();
    let d = desired_from_wire(desired.message().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (d.groups[0].name.as_str(), d.groups[0].epoch),
        ("G", g.epoch)
    );
    assert!(d.groups[0].resources[0].online);
    assert_eq!(
        d.types[0].name, "process",
        "the desired state brings the type's definition"
    );
    f.agent
        .report(report("a", g.epoch, "Online"))
        .await
        .unwrap();
    group_until(&mut f.cluster, "Online on a", |g| {
        g.state() == cpb::GroupState::Online
    })
    .await;

    // a goes silent: after node_timeout (600 ms) it is Down and G starts on b.
    drop(stop_a);
    let moved = group_until(&mut f.cluster, "fail-over to b", |g| g.owner == "b").await;
    assert!(moved.epoch > g.epoch);
    let a = f
        .cluster
        .get_node(cpb::NameRequest { name: "a".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.state(), cpb::NodeState::Down);

    // A late report from a, under the old epoch, changes nothing.
    f.agent
        .report(report("a", g.epoch, "Offline"))
        .await
        .unwrap();
    let now = f
        .cluster
        .get_group(cpb::NameRequest { name: "G".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((now.owner.as_str(), now.epoch), ("b", moved.epoch));
}

#[tokio::test]
async fn operator_commands_are_audited_and_bad_requests_named() {
    let mut f = start().await;
    f.agent
        .register(apb::RegisterRequest {
            incarnation: 0,
            node: "a".into(),
            types: vec![],
            address: String::new(),
        })
        .await
        .unwrap();
    let _keep = heartbeat(f.agent.clone(), "a");
    let err = f
        .cluster
        .move_group(cpb::MoveGroupRequest {
            group: "G".into(),
            to: "nowhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("to names unknown node \"nowhere\""),
        "{}",
        err.message()
    );
    let err = f
        .cluster
        .get_group(cpb::NameRequest {
            name: "NOPE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // A target the enum does not have, or none at all, is refused naming the field.
    for (target, why) in [
        (7, "target: 7 is not a target (use online or offline)"),
        (0, "target: is not set"),
    ] {
        let req = cpb::SetTargetRequest {
            name: "G".into(),
            target,
        };
        let err = f.cluster.set_group_target(req.clone()).await.unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            (tonic::Code::InvalidArgument, why)
        );
        let err = f.cluster.set_resource_target(req).await.unwrap_err();
        assert_eq!(err.message(), why);
    }
    let mut req = tonic::Request::new(cpb::NameRequest { name: "b".into() });
    req.metadata_mut()
        .insert(nonstop_proto::metadata::USER, "alice".parse().unwrap());
    f.cluster.pause_node(req).await.unwrap();
    let audit = f
        .cluster
        .audit(cpb::AuditRequest { limit: 1 })
        .await
        .unwrap()
        .into_inner();
    // Over a plain connection nobody is authenticated: the claim is recorded as such.
    let user = &audit.entries[0].user;
    assert!(user.starts_with("alice (unauthenticated)"), "{user}");
    assert_eq!(audit.entries[0].command, "pause node b");
    let err = f
        .agent
        .register(apb::RegisterRequest {
            incarnation: 0,
            node: "ghost".into(),
            types: vec![],
            address: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // An evicted node's heartbeats are not acknowledged: its lease runs out and it fences.
    f.cluster
        .evict_node(cpb::NameRequest { name: "b".into() })
        .await
        .unwrap();
    let hb = apb::HeartbeatRequest {
        node: "b".into(),
        seq: 1,
        sent_ms: 1,
        holds_lease: Some(true),
    };
    let err = f.agent.heartbeat(hb).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(err.message(), "node \"b\" was evicted: resume it first");
}

#[tokio::test]
async fn apply_config_shows_the_difference_and_commits_it() {
    let mut f = start().await;
    let changed = CLUSTER.replace(
        "{name: w, witness: true}]",
        "{name: w, witness: true}, {name: c}]",
    );
    let dry = f
        .cluster
        .apply_config(cpb::ApplyConfigRequest {
            yaml: changed.clone(),
            file_name: "c.yaml".into(),
            dry_run: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (dry.changes.as_slice(), dry.applied),
        (&["+ node c".to_string()][..], false)
    );
    assert!(
        f.cluster
            .get_node(cpb::NameRequest { name: "c".into() })
            .await
            .is_err(),
        "a dry run changes nothing"
    );
    let done = f
        .cluster
        .apply_config(cpb::ApplyConfigRequest {
            yaml: changed,
            file_name: "c.yaml".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(done.applied);
    f.cluster
        .get_node(cpb::NameRequest { name: "c".into() })
        .await
        .unwrap();
    let bad = CLUSTER.replace("owners: [a, b]", "owners: [a, zz]");
    let err = f
        .cluster
        .apply_config(cpb::ApplyConfigRequest {
            yaml: bad,
            file_name: "bad.yaml".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("bad.yaml:6:17: group \"G\": owners names unknown node \"zz\""),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn status_lists_the_members_and_the_leader() {
    let mut f = start().await;
    let s = f
        .cluster
        .status(cpb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.members.len(), 1);
    assert_eq!(
        (s.members[0].id, s.members[0].role()),
        (1, cpb::MemberRole::Leader)
    );
    assert_eq!(s.members[0].address, s.leader);
}

#[tokio::test]
async fn a_member_that_finds_a_node_silent_grants_it_no_lease_for_a_while() {
    let mut f = start().await;
    let hb = |seq| apb::HeartbeatRequest {
        node: "a".into(),
        seq,
        sent_ms: seq,
        holds_lease: Some(true),
    };
    let ack = f.agent.heartbeat(hb(1)).await.unwrap().into_inner();
    assert_eq!((ack.member_id, ack.voters, ack.lease_ms), (1, 1, 300));
    let ask = |node_timeout_ms, lease_ms| apb::SuspectRequest {
        confirmed_stop: false,
        node: "a".into(),
        node_timeout_ms,
        lease_ms,
    };
    let v = f.agent.suspect(ask(400, 300)).await.unwrap().into_inner();
    assert!(!v.silent, "heard a moment ago: {v:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let v = f.agent.suspect(ask(400, 300)).await.unwrap().into_inner();
    assert!(v.silent && v.silence_ms >= 400, "{v:?}");
    let refused = f.agent.heartbeat(hb(2)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(
        refused.message().contains("grants it no lease"),
        "{}",
        refused.message()
    );

    // A question that makes no sense is refused, naming the field.
    let bad = f.agent.suspect(ask(0, 0)).await.unwrap_err();
    assert!(
        bad.message().contains("node_timeout_ms"),
        "{}",
        bad.message()
    );
    let bad = f.agent.suspect(ask(300, 300)).await.unwrap_err();
    assert!(bad.message().contains("lease_ms"), "{}", bad.message());
}

/// Issue 17, item 9: the witness flag and a node's role could disagree: an agent on a node the
/// configuration calls a witness registered and was brought Up. Its registration is refused,
/// saying why.
#[tokio::test]
async fn i17_9_an_agent_on_a_witness_node_is_refused() {
    let mut f = start().await;
    let err = f
        .agent
        .register(apb::RegisterRequest {
            incarnation: 0,
            node: "w".into(),
            types: vec![],
            address: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("is a witness"), "{}", err.message());
}

/// Issue 10, item 8 (reports): a report for an unknown node, an unknown resource or an epoch
/// never handed out is refused before anything is proposed, naming the field.
#[tokio::test]
async fn i10_8_impossible_reports_are_refused_before_they_are_proposed() {
    let mut f = start().await;
    let before = f
        .cluster
        .status(cpb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .revision;
    let err = f
        .agent
        .report(report("nobody", 1, "Online"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{}", err.message());
    let err = f
        .agent
        .report(report("a", 999_999, "Online"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("reports[0].transition.epoch"),
        "{}",
        err.message()
    );
    let mut unknown = report("a", 1, "Online");
    if let Some(apb::agent_report::Kind::Transition(t)) = &mut unknown.reports[0].kind {
        t.resource = "ghost".into();
    }
    let err = f.agent.report(unknown).await.unwrap_err();
    assert!(
        err.message()
            .contains("reports[0].transition.resource: unknown resource \"ghost\""),
        "{}",
        err.message()
    );
    let mut big = report("a", 1, "Online");
    if let Some(apb::agent_report::Kind::Transition(t)) = &mut big.reports[0].kind {
        t.message = "x".repeat(60_000);
    }
    let err = f.agent.report(big).await.unwrap_err();
    assert!(
        err.message().contains("reports[0].transition.message"),
        "{}",
        err.message()
    );
    let after = f
        .cluster
        .status(cpb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert_eq!(before, after, "a refused report changed the database");
}

/// A watchdog's word that its daemon died and everything is stopped makes the node Down at
/// once (no `node_timeout`), but only for the run the cluster registered last: a word about an
/// earlier run is refused and changes nothing; the node is then suspected by the members.
#[tokio::test]
async fn a_watchdogs_word_counts_only_for_its_nodes_current_run() {
    let mut f = start().await;
    for (n, incarnation) in [("a", 7), ("b", 1)] {
        let r = apb::RegisterRequest {
            incarnation,
            node: n.into(),
            types: vec![],
            address: String::new(),
        };
        f.agent.register(r).await.unwrap();
    }
    let stop_a = heartbeat(f.agent.clone(), "a");
    let _keep_b = heartbeat(f.agent.clone(), "b");
    group_until(&mut f.cluster, "placement on a", |g| g.owner == "a").await;
    let word = |incarnation: u64| apb::StoppedRequest {
        node: "a".into(),
        incarnation,
        resources: vec!["app".into()],
        stopped_at_ms: 1,
    };
    let e = f.agent.stopped(word(0)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert!(e.message().contains("incarnation"), "{e}");
    let mut bad = word(7);
    bad.resources = vec![" ".into()];
    let e = f.agent.stopped(bad).await.unwrap_err();
    assert!(e.message().contains("resources[0]"), "{e}");
    // An earlier run's watchdog, late: refused for good, nothing changes.
    let e = f.agent.stopped(word(6)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Aborted, "{e}");
    assert_eq!(node_state(&mut f.cluster, "a").await, cpb::NodeState::Up);
    assert_eq!(
        group_until(&mut f.cluster, "still on a", |_| true)
            .await
            .owner,
        "a"
    );

    // The current run's daemon dies; its watchdog's word is committed before the answer.
    drop(stop_a);
    let reply = f.agent.stopped(word(7)).await.unwrap().into_inner();
    assert!(reply.declared_down);
    assert_eq!(node_state(&mut f.cluster, "a").await, cpb::NodeState::Down);
    let node = f
        .cluster
        .get_node(cpb::NameRequest { name: "a".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(node.fence.starts_with("fenced by its watchdog"), "{node:?}");
    group_until(&mut f.cluster, "Online on b", |g| g.owner == "b").await;
    // Said again (its answer was lost): taken, nothing more happens.
    let again = f.agent.stopped(word(7)).await.unwrap().into_inner();
    assert!(!again.declared_down);
    // No run of a gets a lease while its groups move: the member suspects it.
    let hb = apb::HeartbeatRequest {
        node: "a".into(),
        seq: 1,
        sent_ms: 1,
        holds_lease: Some(false),
    };
    let e = f.agent.heartbeat(hb).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    assert!(e.message().contains("grants it no lease"), "{e}");
}

/// Dummy's definition as an agent reads it from Debian's resource-agents (`state`, `fake`).
fn dummy_def() -> nonstop_contract::TypeDef {
    use nonstop_contract::{HandlerRef, PropertyKind, PropertySpec, Schema, Timings, TypeDef};
    TypeDef {
        name: "ocf:heartbeat:Dummy".into(),
        handler: HandlerRef::Ocf {
            provider: "heartbeat".into(),
            agent: "Dummy".into(),
        },
        schema: Schema::new(vec![
            PropertySpec::new("state", PropertyKind::String),
            PropertySpec::new("fake", PropertyKind::String),
        ]),
        timings: Timings::default(),
        description: String::new(),
        stop: Default::default(),
        reconfigures: false,
    }
    .stop_within(Duration::from_secs(21))
}

/// A node reports its OCF agents' meta-data even before it is in the cluster: the apply that
/// adds the node may use the type without declaring it, and a parameter the meta-data does not
/// list is refused, naming it. A report that is not sound is refused, naming its field.
#[tokio::test]
async fn reported_types_check_resources_of_undeclared_types() {
    let mut f = start().await;
    let report = |types: Vec<nonstop_contract::TypeDef>| apb::TypesReport {
        node: "c".into(),
        discovered: types
            .iter()
            .map(nonstop_contract::wire::type_to_wire)
            .collect(),
    };
    let mut misnamed = dummy_def();
    misnamed.name = "ocf:heartbeat:Other".into();
    let e = f
        .agent
        .report_types(report(vec![misnamed]))
        .await
        .unwrap_err();
    assert!(e.message().contains("types[0]"), "{e}");
    f.agent
        .report_types(report(vec![dummy_def()]))
        .await
        .unwrap();
    let with = |props: &str| {
        format!(
            "{CLUSTER}  - name: O\n    owners: [c]\n    resources:\n      - name: d\n        \
             type: ocf:heartbeat:Dummy\n        properties: {{{props}}}\n"
        )
        .replace(
            "{name: w, witness: true}]",
            "{name: w, witness: true}, {name: c}]",
        )
    };
    let apply = |yaml: String| cpb::ApplyConfigRequest {
        yaml,
        file_name: "c.yaml".into(),
        dry_run: false,
    };
    let e = f
        .cluster
        .apply_config(apply(with("state: /tmp/x, bogus: 1")))
        .await
        .unwrap_err();
    assert!(
        e.message().contains(
            "properties.bogus: ocf:heartbeat:Dummy takes no parameter \"bogus\" (its meta-data \
             lists: state, fake)"
        ),
        "{e}"
    );
    f.cluster
        .apply_config(apply(with("state: /tmp/x")))
        .await
        .unwrap();
    // The cluster now knows the type, with the node that reported it: the dashboard's resource
    // form is made from GetType.
    let name = || cpb::NameRequest {
        name: "ocf:heartbeat:Dummy".into(),
    };
    let t = f.cluster.get_type(name()).await.unwrap().into_inner();
    assert_eq!(
        (t.handler.as_str(), t.reported_by),
        ("ocf:heartbeat:Dummy", vec!["c".to_string()])
    );
    let names: Vec<String> = (t.properties.iter()).map(|p| p.name.clone()).collect();
    assert_eq!(names, ["state", "fake"]);
    let list = f
        .cluster
        .list_types(cpb::ListRequest::default())
        .await
        .unwrap();
    let listed = list.into_inner().types;
    let dummy = listed
        .iter()
        .find(|t| t.name == "ocf:heartbeat:Dummy")
        .expect("listed");
    assert_eq!(dummy.reported_by, ["c"]);
    assert!(
        listed
            .iter()
            .any(|t| t.name == "process" && t.reported_by.is_empty())
    );
}
