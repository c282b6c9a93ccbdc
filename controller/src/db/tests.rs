//! Unit tests of apply: every rejected command changes nothing, and the one-node rule holds at
//! the level of single commands.

use nonstop_contract::{
    HandlerRef, Millis, PropertyKind, PropertySpec, Schema, Timings, TypeDef, Value,
};

use super::command::ReportMark;
use super::*;

const T0: Time = Time(1_000_000);

pub(super) fn op(db: &mut ClusterDb, op: Op) -> Result<Vec<Event>> {
    db.apply(Command::operator(T0, "test", op))
}

pub(super) fn node(name: &str) -> Op {
    Op::PutNode(NodeSpec {
        name: name.into(),
        autobackup: true,
        ..Default::default()
    })
}

pub(super) fn group(name: &str, owners: &[&str]) -> Op {
    Op::PutGroup(GroupSpec {
        name: name.into(),
        owners: owners.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

pub(super) fn resource(
    name: &str,
    group: &str,
    ty: &str,
    props: &[(&str, Value)],
    deps: &[&str],
) -> Op {
    Op::PutResource(ResourceSpec {
        name: name.into(),
        group: group.into(),
        type_name: ty.into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        depends_on: deps.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

pub(super) fn chat_type() -> Op {
    Op::PutType(TypeDef {
        name: "chat-server".into(),
        handler: HandlerRef::Builtin("process".into()),
        schema: Schema::new(vec![
            PropertySpec::new("command", PropertyKind::String).required(),
            PropertySpec::new("MaxUser", PropertyKind::Int)
                .range(Some(1), Some(10))
                .default_value(Value::Int(10)),
        ]),
        timings: Timings::default(),
        description: String::new(),
        stop: Default::default(),
        reconfigures: true,
    })
}

pub(super) fn cmd(c: &str) -> (&'static str, Value) {
    ("command", Value::Str(c.into()))
}

/// The paper's cluster: two nodes, SOCKET_GROUP with disk, vip and chat.
pub(crate) fn paper() -> ClusterDb {
    let mut db = ClusterDb::new();
    let ops = vec![
        node("osdb-serv"),
        node("osdb-back"),
        chat_type(),
        group("SOCKET_GROUP", &["osdb-serv", "osdb-back"]),
        group("OTHER", &["osdb-back"]),
        resource("disk", "SOCKET_GROUP", "process", &[cmd("disk")], &[]),
        resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[cmd("chat")],
            &["disk"],
        ),
        resource("other", "OTHER", "process", &[cmd("x")], &[]),
    ];
    op(&mut db, Op::Batch(ops)).expect("the paper's cluster is valid");
    db
}

/// Applies `bad` and checks that it fails with a message containing `want` and that the
/// database is exactly as before.
pub(super) fn rejected(db: &mut ClusterDb, bad: Op, want: &str) {
    let before = db.clone();
    let err = op(db, bad).expect_err("must be rejected").to_string();
    assert!(
        err.contains(want),
        "error {err:?} does not contain {want:?}"
    );
    assert_eq!(*db, before, "a rejected command changed the database");
}

#[test]
fn unknown_references_are_rejected_and_change_nothing() {
    let mut db = paper();
    rejected(
        &mut db,
        group("G", &["osdb-serv", "osdb-bak"]),
        r#"group "G": owners names unknown node "osdb-bak""#,
    );
    rejected(
        &mut db,
        resource("r", "NOPE", "process", &[cmd("x")], &[]),
        r#"group names unknown group "NOPE""#,
    );
    rejected(
        &mut db,
        resource("r", "OTHER", "nope", &[], &[]),
        r#"type names unknown type "nope""#,
    );
    rejected(
        &mut db,
        resource("r", "OTHER", "process", &[cmd("x")], &["ghost"]),
        r#"depends_on names unknown resource "ghost""#,
    );
    rejected(
        &mut db,
        Op::RemoveNode { node: "x".into() },
        r#"unknown node "x""#,
    );
    rejected(
        &mut db,
        Op::MoveGroup {
            group: "x".into(),
            to: None,
        },
        r#"unknown group "x""#,
    );
    rejected(
        &mut db,
        Op::SetResourceTarget {
            resource: "x".into(),
            target: Target::Offline,
        },
        r#"unknown resource "x""#,
    );
}

#[test]
fn owner_lists_are_checked() {
    let mut db = paper();
    rejected(
        &mut db,
        group("G", &["osdb-serv", "osdb-serv"]),
        "node \"osdb-serv\" is the home node and cannot also be a backup",
    );
    rejected(
        &mut db,
        group("G", &["osdb-serv", "osdb-back", "osdb-back"]),
        "node \"osdb-back\" appears twice",
    );
    rejected(
        &mut db,
        group("G", &[]),
        "a group needs at least its home node",
    );
}

#[test]
fn dependency_cycles_and_cross_group_dependencies_are_rejected() {
    let mut db = paper();
    rejected(
        &mut db,
        resource("disk", "SOCKET_GROUP", "process", &[cmd("d")], &["chat"]),
        "dependency cycle: disk -> chat -> disk",
    );
    rejected(
        &mut db,
        resource("disk", "SOCKET_GROUP", "process", &[cmd("d")], &["disk"]),
        "dependency cycle: disk -> disk",
    );
    rejected(
        &mut db,
        resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[cmd("c")],
            &["disk", "other"],
        ),
        "\"other\" is in group \"OTHER\", not \"SOCKET_GROUP\"",
    );
}

#[test]
fn properties_are_validated_against_the_type_schema() {
    let mut db = paper();
    rejected(
        &mut db,
        resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[cmd("c"), ("MaxUser", Value::Int(11))],
            &[],
        ),
        r#"resource "chat": properties.MaxUser: 11 is above the maximum 10"#,
    );
    rejected(
        &mut db,
        resource("p", "OTHER", "process", &[], &[]),
        "properties.command: is required",
    );
    let chat = &db.resources["chat"];
    assert_eq!(
        chat.spec.properties["MaxUser"],
        Value::Int(10),
        "the default is filled in"
    );
    op(
        &mut db,
        resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[cmd("c"), ("MaxUser", Value::Int(7))],
            &["disk"],
        ),
    )
    .unwrap();
    assert_eq!(
        db.resources["chat"].spec.properties["MaxUser"],
        Value::Int(7)
    );
}

#[test]
fn a_type_change_that_would_invalidate_resources_is_refused() {
    let mut db = paper();
    op(
        &mut db,
        resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[cmd("c"), ("MaxUser", Value::Int(9))],
            &["disk"],
        ),
    )
    .unwrap();
    let mut narrower = match chat_type() {
        Op::PutType(t) => t,
        _ => unreachable!(),
    };
    narrower.schema.properties[1].max = Some(nonstop_contract::Bound::Int(5));
    narrower.schema.properties[1].default = Some(Value::Int(5));
    rejected(
        &mut db,
        Op::PutType(narrower),
        "resource \"chat\" would not validate: property \"MaxUser\": 9 is above the maximum 5",
    );
}

#[test]
fn removals_that_would_dangle_are_refused() {
    let mut db = paper();
    rejected(
        &mut db,
        Op::RemoveNode {
            node: "osdb-back".into(),
        },
        "lists it as an owner",
    );
    rejected(
        &mut db,
        Op::RemoveGroup {
            group: "OTHER".into(),
        },
        "it still holds resource \"other\"",
    );
    rejected(
        &mut db,
        Op::RemoveResource {
            resource: "disk".into(),
        },
        "resource \"chat\" depends on it",
    );
    rejected(
        &mut db,
        Op::RemoveType {
            name: "chat-server".into(),
        },
        "resource \"chat\" uses it",
    );
}

#[test]
fn a_batch_is_all_or_nothing() {
    let mut db = paper();
    let batch = Op::Batch(vec![
        node("osdb-third"),
        group("G", &["osdb-third", "nope"]),
    ]);
    rejected(
        &mut db,
        batch,
        "change 2 of 2 (put group G): group \"G\": owners names unknown node \"nope\"",
    );
    assert!(!db.nodes.contains_key("osdb-third"));
}

pub(super) fn live(db: &mut ClusterDb, o: Op) -> Result<Vec<Event>> {
    db.apply(Command::policy(T0, o))
}

fn report(node: &str, resource: &str, epoch: u64, state: ResourceState) -> Op {
    Op::ReportResource {
        node: node.into(),
        resource: resource.into(),
        epoch,
        state,
        restart: None,
        gave_up: false,
        message: None,
        reported_at: None,
        mark: None,
    }
}

pub(super) fn place(group: &str, node: &str) -> Op {
    Op::Place {
        group: group.into(),
        node: Some(node.into()),
        reason: PlaceReason::Start,
    }
}

#[test]
fn a_group_is_never_placed_while_it_runs_on_a_live_owner() {
    let mut db = paper();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let epoch = db.groups["SOCKET_GROUP"].epoch;
    live(
        &mut db,
        report("osdb-serv", "disk", epoch, ResourceState::Online),
    )
    .unwrap();
    let before = db.clone();
    let err = live(&mut db, place("SOCKET_GROUP", "osdb-back")).unwrap_err();
    assert!(
        err.to_string()
            .contains("it may still run on \"osdb-serv\""),
        "{err}"
    );
    assert_eq!(db, before);
    // Once its owner is declared Down (it fenced itself), the group may be placed elsewhere.
    live(
        &mut db,
        Op::NodeDown {
            node: "osdb-serv".into(),
            reason: "test".into(),
        },
    )
    .unwrap();
    live(&mut db, place("SOCKET_GROUP", "osdb-back")).unwrap();
    assert!(
        db.groups["SOCKET_GROUP"].epoch > epoch,
        "every placement raises the epoch"
    );
    assert!(
        db.group_resources("SOCKET_GROUP")
            .all(|r| r.state == ResourceState::Offline)
    );
}

#[test]
fn placement_onto_a_node_that_cannot_host_is_refused() {
    let mut db = paper();
    live(
        &mut db,
        Op::NodeUp {
            node: "osdb-back".into(),
        },
    )
    .unwrap();
    rejected(
        &mut db,
        place("SOCKET_GROUP", "osdb-serv"),
        "cannot take it: it is Joining",
    );
    live(
        &mut db,
        Op::PauseNode {
            node: "osdb-back".into(),
        },
    )
    .unwrap();
    rejected(
        &mut db,
        place("SOCKET_GROUP", "osdb-back"),
        "cannot take it: it is Paused",
    );
    rejected(
        &mut db,
        place("OTHER", "osdb-serv"),
        "node \"osdb-serv\" is not an owner",
    );
}

#[test]
fn stale_reports_are_rejected() {
    let mut db = paper();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let old = db.groups["SOCKET_GROUP"].epoch;
    live(
        &mut db,
        Op::NodeDown {
            node: "osdb-serv".into(),
            reason: "t".into(),
        },
    )
    .unwrap();
    live(&mut db, place("SOCKET_GROUP", "osdb-back")).unwrap();
    let before = db.clone();
    let err = live(
        &mut db,
        report("osdb-serv", "disk", old, ResourceState::Online),
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Stale { .. }), "{err}");
    let new = db.groups["SOCKET_GROUP"].epoch;
    let err = live(
        &mut db,
        report("osdb-serv", "disk", new, ResourceState::Online),
    )
    .unwrap_err();
    assert!(
        matches!(err, ApplyError::Stale { .. }),
        "a report from a node that is not the owner"
    );
    assert_eq!(db, before);
}

#[test]
fn operator_commands_are_audited_and_the_log_is_bounded() {
    let mut db = paper();
    op(
        &mut db,
        Op::PauseNode {
            node: "osdb-back".into(),
        },
    )
    .unwrap();
    let last = db.audit.back().unwrap();
    assert_eq!(
        (last.user.as_str(), last.command.as_str()),
        ("test", "pause node osdb-back")
    );
    live(
        &mut db,
        Op::ResumeNode {
            node: "osdb-back".into(),
        },
    )
    .unwrap();
    assert_eq!(db.audit.len(), 2, "policy commands are not audited");
    for _ in 0..AUDIT_CAPACITY + 5 {
        op(
            &mut db,
            Op::ResumeNode {
                node: "osdb-back".into(),
            },
        )
        .unwrap();
    }
    assert_eq!(db.audit.len(), AUDIT_CAPACITY);
}

#[test]
fn the_database_round_trips_through_bytes() {
    let mut db = paper();
    live(
        &mut db,
        Op::NodeUp {
            node: "osdb-serv".into(),
        },
    )
    .unwrap();
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let back = ClusterDb::from_bytes(&db.to_bytes()).unwrap();
    assert_eq!(back, db);
}

#[test]
fn settings_keep_the_safety_rule() {
    let mut db = paper();
    let mut s = Settings::default();
    s.timing.node_timeout = Millis(1200);
    rejected(
        &mut db,
        Op::SetSettings(s),
        "node_timeout 1200ms must exceed lease 1s + terminate 500ms",
    );
    let s = Settings {
        timing: TimingProfile::fast(),
        ..Settings::default()
    };
    op(&mut db, Op::SetSettings(s)).unwrap();
}

/// Settings with a bad alert are refused whole, naming the alert's field; good ones are kept
/// and reported as a settings change.
#[test]
fn alerts_are_checked_with_the_settings() {
    let mut db = paper();
    let alert = AlertSpec {
        name: "log".into(),
        path: "/usr/local/bin/alert".into(),
        ..AlertSpec::default()
    };
    let bad = Settings {
        alerts: vec![
            alert.clone(),
            AlertSpec {
                name: "pager".into(),
                path: "alert.sh".into(),
                ..AlertSpec::default()
            },
        ],
        ..Settings::default()
    };
    rejected(
        &mut db,
        Op::SetSettings(bad),
        "settings: alerts[1].path: \"alert.sh\" is not an absolute path",
    );
    let good = Settings {
        alerts: vec![alert],
        ..Settings::default()
    };
    let events = op(&mut db, Op::SetSettings(good.clone())).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(db.settings, good);
}

#[test]
fn dependency_order_is_topological() {
    let db = paper();
    assert_eq!(db.online_order("SOCKET_GROUP"), ["disk", "chat"]);
    assert_eq!(db.offline_order("SOCKET_GROUP"), ["chat", "disk"]);
}

/// Issue 10, item 3 (and issue 17, item 2): reports alone never free a group. A report that a
/// resource gave up (Failed) or went Offline, whoever sends it, may start a move; the group is
/// placed elsewhere only once its owner's agent confirms the stop for that very move, or once
/// the owner is Down.
#[test]
fn i10_3_a_report_alone_never_frees_a_group_only_the_confirmed_stop_does() {
    let mut db = paper();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let epoch = db.groups["SOCKET_GROUP"].epoch;
    for r in ["disk", "chat"] {
        live(
            &mut db,
            report("osdb-serv", r, epoch, ResourceState::Online),
        )
        .unwrap();
    }
    // A forged report: chat gave up. It starts a move; it frees nothing.
    let forged = Op::ReportResource {
        node: "osdb-serv".into(),
        resource: "chat".into(),
        epoch,
        state: ResourceState::Failed,
        restart: None,
        gave_up: true,
        message: Some("forged".into()),
        reported_at: None,
        mark: None,
    };
    live(&mut db, forged).unwrap();
    let now = Time(1_000);
    let socket = |db: &ClusterDb| -> Vec<Command> {
        crate::policy::plan(db, now)
            .into_iter()
            .filter(|c| c.op.to_string().contains("SOCKET_GROUP"))
            .collect()
    };
    let planned = socket(&db);
    assert!(
        matches!(
            planned[..],
            [Command {
                op: Op::BeginMove { .. },
                ..
            }]
        ),
        "{planned:?}"
    );
    for c in planned {
        db.apply(c).unwrap();
    }
    // Every resource now reported stopped, and still: no placement without the confirmation.
    live(
        &mut db,
        report("osdb-serv", "disk", epoch, ResourceState::Offline),
    )
    .unwrap();
    assert!(socket(&db).is_empty(), "placed on states alone");
    assert!(live(&mut db, place("SOCKET_GROUP", "osdb-back")).is_err());
    // A confirmation for another move, or from another node, is stale.
    let stop = db.groups["SOCKET_GROUP"].moving.as_ref().unwrap().stop;
    let confirm = |node: &str, stop: u64| Op::GroupStopped {
        node: node.into(),
        group: "SOCKET_GROUP".into(),
        epoch,
        stop,
        mark: None,
    };
    assert!(matches!(
        live(&mut db, confirm("osdb-serv", stop - 1)),
        Err(ApplyError::StaleStop { .. })
    ));
    assert!(matches!(
        live(&mut db, confirm("osdb-back", stop)),
        Err(ApplyError::StaleStop { .. })
    ));
    assert!(socket(&db).is_empty());
    // The owner's agent confirms the stop of this move: now it moves.
    live(&mut db, confirm("osdb-serv", stop)).unwrap();
    let planned = socket(&db);
    assert!(
        matches!(&planned[..], [Command { op: Op::Place { node: Some(n), .. }, .. }] if n == "osdb-back"),
        "{planned:?}"
    );
}

/// Issue 10, item 2: removing (by `apply`) a node that owns a group is refused, naming the
/// group and what to do; it used to free the group at once while it still ran there.
#[test]
fn i10_2_removing_a_node_that_owns_a_group_is_refused() {
    let mut db = paper();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let owners = Op::PutGroup(GroupSpec {
        name: "SOCKET_GROUP".into(),
        owners: vec!["osdb-back".into()],
        ..Default::default()
    });
    let remove = Op::RemoveNode {
        node: "osdb-serv".into(),
    };
    let before = db.clone();
    let err = db
        .apply(Command::operator(
            Time(5),
            "t",
            Op::Batch(vec![owners, remove]),
        ))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("owns group \"SOCKET_GROUP\": drain it first"),
        "{err}"
    );
    assert_eq!(db, before);
}

/// Issue 17, item 1: a type whose stop cannot be forced within the profile's terminate budget
/// (an OCF agent: up to 21 s) makes its group wait that much longer after its node is declared
/// Down before it may start elsewhere; a type whose stop can be forced waits nothing more.
#[test]
fn i17_1_a_group_waits_its_slowest_stop_bound_after_its_node_is_down() {
    let mut db = paper();
    let slow = TypeDef {
        name: "slow-stop".into(),
        handler: HandlerRef::Ocf {
            provider: "heartbeat".into(),
            agent: "Dummy".into(),
        },
        schema: Schema::new(vec![]),
        timings: Timings::default(),
        description: String::new(),
        stop: nonstop_contract::StopBound::Within(Millis::secs(21)),
        reconfigures: false,
    };
    op(&mut db, Op::PutType(slow)).unwrap();
    op(
        &mut db,
        resource("db", "SOCKET_GROUP", "slow-stop", &[], &[]),
    )
    .unwrap();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let down_at = Time(100_000);
    db.apply(Command::liveness(
        down_at,
        Op::NodeDown {
            node: "osdb-serv".into(),
            reason: "test".into(),
        },
    ))
    .unwrap();
    // 21 s of stop, 500 ms of it covered by node_timeout: 20.5 s more.
    let wait = db.stop_wait(&db.groups["SOCKET_GROUP"]);
    assert_eq!(wait, Millis(20_500));
    let socket = |db: &ClusterDb, at: Time| {
        crate::policy::plan(db, at)
            .into_iter()
            .filter(|c| c.op.to_string().contains("SOCKET_GROUP"))
            .collect::<Vec<_>>()
    };
    assert!(
        socket(&db, down_at.plus(Millis(20_499))).is_empty(),
        "placed before the stop bound"
    );
    assert_eq!(
        crate::policy::next_wakeup(&db, down_at.plus(Millis(1))),
        Some(down_at.plus(wait)),
        "the leader wakes up when the wait ends"
    );
    let at = down_at.plus(wait);
    let err = db
        .clone()
        .apply(Command::policy(
            down_at.plus(Millis(1000)),
            place("SOCKET_GROUP", "osdb-back"),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("past its stop bound"), "{err}");
    let planned = socket(&db, at);
    assert!(
        matches!(&planned[..], [Command { op: Op::Place { node: Some(n), .. }, .. }] if n == "osdb-back"),
        "{planned:?}"
    );
}

#[test]
fn i10_8_no_group_is_left_with_only_witnesses_as_owners() {
    let mut db = ClusterDb::new();
    let witness = |name: &str| {
        Op::PutNode(NodeSpec {
            name: name.into(),
            witness: true,
            ..Default::default()
        })
    };
    op(&mut db, witness("w")).unwrap();
    op(&mut db, node("a")).unwrap();
    rejected(
        &mut db,
        group("G", &["w"]),
        "group \"G\": owners: every owner is a witness, and a witness runs no resources: the \
         group could never run",
    );
    op(&mut db, group("G", &["a", "w"])).unwrap();
    // Its last owner that can run it cannot become a witness either.
    rejected(
        &mut db,
        witness("a"),
        "node \"a\": witness: group \"G\" would be left with only witnesses as owners, so it \
         could never run: give it another owner first",
    );
}

#[test]
fn i10_8_the_witness_rule_never_panics_on_an_owner_it_does_not_know() {
    // `config check` keeps a group whose owners are wrong in its scratch database as written
    // (to check its resources): apply must judge a node there without indexing a missing one.
    let mut db = ClusterDb::new();
    op(&mut db, node("a")).unwrap();
    let spec = GroupSpec {
        name: "G".into(),
        owners: vec!["a".into(), "ghost".into()],
        ..Default::default()
    };
    db.groups.insert("G".into(), Group::new(spec));
    let witness = Op::PutNode(NodeSpec {
        name: "a".into(),
        witness: true,
        ..Default::default()
    });
    assert!(op(&mut db, witness).is_ok());
}

/// An agent whose report call timed out sends the same batch again, though the leader may have
/// committed it already. Applied twice, an old "Stopped" would overwrite a newer "Online" and a
/// restart would count twice; the leader must apply each numbered report once.
#[test]
fn a_report_sent_again_after_a_timeout_is_applied_once() {
    let mut db = paper();
    for n in ["osdb-serv", "osdb-back"] {
        live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
    }
    live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
    let epoch = db.groups["SOCKET_GROUP"].epoch;
    let numbered = |incarnation, seq, state, again: Option<RestartCount>| {
        let mut op = report("osdb-serv", "disk", epoch, state);
        if let Op::ReportResource { restart, mark, .. } = &mut op {
            *restart = again;
            *mark = Some(ReportMark { incarnation, seq });
        }
        op
    };
    let again = RestartCount {
        attempt: 1,
        limit: Some(3),
    };
    // The first batch: Offline, then Online after a restart in place.
    live(&mut db, numbered(7, 1, ResourceState::Offline, None)).unwrap();
    live(&mut db, numbered(7, 2, ResourceState::Online, Some(again))).unwrap();
    let before = db.clone();
    // The same batch again: both refused as duplicates, nothing changes.
    for (seq, state, restart) in [
        (1, ResourceState::Offline, None),
        (2, ResourceState::Online, Some(again)),
    ] {
        let err = live(&mut db, numbered(7, seq, state, restart)).unwrap_err();
        assert!(matches!(err, ApplyError::Duplicate { .. }), "{err}");
    }
    assert_eq!(db, before);
    assert_eq!(db.resources["disk"].state, ResourceState::Online);
    assert_eq!(db.resources["disk"].restarts.len(), 1);
    // The next report of the same agent, and the first of a restarted one, are news.
    live(&mut db, numbered(7, 3, ResourceState::Failed, None)).unwrap();
    live(&mut db, numbered(8, 1, ResourceState::Offline, None)).unwrap();
    assert_eq!(db.resources["disk"].state, ResourceState::Offline);
    // A stop confirmation is numbered in the same sequence.
    let err = live(
        &mut db,
        Op::GroupStopped {
            node: "osdb-serv".into(),
            group: "SOCKET_GROUP".into(),
            epoch,
            stop: 1,
            mark: Some(ReportMark {
                incarnation: 8,
                seq: 1,
            }),
        },
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Duplicate { .. }), "{err}");
}

#[test]
fn one_drill_runs_at_a_time_unless_forced_and_its_marks_are_events() {
    let mut db = ClusterDb::new();
    let drill = |id: &str, step, force| Op::Drill {
        id: id.into(),
        step,
        text: format!("{id} text"),
        force,
    };
    let e = op(&mut db, drill("d1", DrillStep::Begin, false)).unwrap();
    assert_eq!(e[0].summary().unwrap(), "* Drill d1 started: d1 text");
    let running = db.drill.clone().unwrap();
    assert_eq!((running.id.as_str(), running.by.as_str()), ("d1", "test"));
    // A second one is refused while the first runs, and changes nothing.
    let before = db.clone();
    let err = op(&mut db, drill("d2", DrillStep::Begin, false)).unwrap_err();
    assert!(
        err.to_string()
            .contains("drill d1 (d1 text) by test is running"),
        "{err}"
    );
    assert_eq!(db, before);
    // Notes go to the history; the end of another drill leaves this one running.
    let e = op(&mut db, drill("d1", DrillStep::Note, false)).unwrap();
    assert_eq!(e[0].summary().unwrap(), "* Drill d1 step: d1 text");
    op(&mut db, drill("d9", DrillStep::End, false)).unwrap();
    assert_eq!(db.drill.as_ref().unwrap().id, "d1");
    // Forced: takes over (the first one's CLI died); its end clears it.
    op(&mut db, drill("d2", DrillStep::Begin, true)).unwrap();
    assert_eq!(db.drill.as_ref().unwrap().id, "d2");
    op(&mut db, drill("d2", DrillStep::End, false)).unwrap();
    assert_eq!(db.drill, None);
    // Bad ids and texts are refused naming the field; a drill mark is never batched.
    let err = op(&mut db, drill("a b", DrillStep::Begin, false)).unwrap_err();
    assert!(err.to_string().contains("id"), "{err}");
    let long = Op::Drill {
        id: "d3".into(),
        step: DrillStep::Note,
        text: "x".repeat(5000),
        force: false,
    };
    assert!(op(&mut db, long).unwrap_err().to_string().contains("text"));
    let batched = Op::Batch(vec![drill("d4", DrillStep::Begin, false)]);
    assert!(op(&mut db, batched).is_err());
    assert_eq!(db.drill, None);
}

#[test]
fn a_registration_records_where_the_daemon_listens() {
    let mut db = ClusterDb::new();
    op(&mut db, node("a")).unwrap();
    let reg = |daemon: &str| Op::Registered {
        node: "a".into(),
        incarnation: 5,
        daemon: daemon.into(),
    };
    op(&mut db, reg("127.0.0.1:7701")).unwrap();
    assert_eq!(
        db.nodes["a"].daemon_address.as_deref(),
        Some("127.0.0.1:7701")
    );
    let err = op(&mut db, reg("no port")).unwrap_err();
    assert!(err.to_string().contains("address"), "{err}");
    assert_eq!(
        db.nodes["a"].daemon_address.as_deref(),
        Some("127.0.0.1:7701")
    );
}
