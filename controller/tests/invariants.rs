//! Property tests over random clusters and random event sequences, with the real apply and
//! plan: the invariants that must hold whatever happens. The simulator's model agents take time
//! to stop (up to each type's stop bound), lose reports and stop confirmations, and keep running
//! on a failed node until their lease runs out; the invariants are checked at every instant the
//! simulator passes through, so a placement that comes too early shows as a resource running on
//! two nodes.

use std::collections::BTreeMap;

use nonstop_contract::{Millis, ReportMark, Value};
use nonstop_controller::config::ClusterFile;
use nonstop_controller::db::model::{GroupSpec, Liveness, ResourceSpec, Target};
use nonstop_controller::sim::{SimError, SimEvent, SimOptions, Simulator};
use nonstop_controller::{ClusterDb, Command, Op, Time, policy};
use proptest::prelude::*;

/// A random cluster: 2..6 nodes (some AUTOBACKUP=N), 1..6 groups with 1..4 owners and a chain
/// of 1..4 resources each, random restart modes; a resource is a process (its stop can be
/// forced within the profile's `terminate`) or, one time in three, an OCF agent (a stop within
/// 21 s, so its group waits 20.5 s after its node is Down).
fn cluster() -> impl Strategy<Value = String> {
    let resource = (0usize..3, 0usize..3);
    let group = (
        prop::collection::vec(0usize..6, 1..4),
        prop::collection::vec(resource, 1..4),
    );
    (2usize..6, prop::collection::vec(group, 1..6), prop::collection::vec(any::<bool>(), 6))
        .prop_map(|(n, groups, autobackup)| {
            let mut y = String::from("types:\n  - {name: slow, ocf: \"heartbeat:Dummy\"}\nnodes:\n");
            for (i, auto) in autobackup.iter().take(n).enumerate() {
                y += &format!("  - {{name: n{i}, autobackup: {auto}}}\n");
            }
            y += "groups:\n";
            for (gi, (owners, resources)) in groups.iter().enumerate() {
                let mut o: Vec<usize> = Vec::new();
                for x in owners {
                    if !o.contains(&(x % n)) {
                        o.push(x % n);
                    }
                }
                let o: Vec<String> = o.iter().map(|i| format!("n{i}")).collect();
                y += &format!("  - name: g{gi}\n    owners: [{}]\n    resources:\n", o.join(", "));
                for (r, (mode, kind)) in resources.iter().enumerate() {
                    let mode = ["restart", "restart-then-failover", "no-restart"][*mode];
                    let dep = if r > 0 { format!(", depends_on: [g{gi}r{}]", r - 1) } else { String::new() };
                    let kind = if *kind == 2 { "slow" } else { "process, properties: {command: x}" };
                    y += &format!("      - {{name: g{gi}r{r}, type: {kind}, timings: {{restart: {{mode: {mode}, limit: 2}}}}{dep}}}\n");
                }
            }
            y
        })
}

/// How long stops take (each capped by its type's bound) and which reports are lost.
fn faults() -> impl Strategy<Value = SimOptions> {
    let latency = prop_oneof![Just(0u64), 0u64..1_000, 0u64..30_000,].prop_map(Millis);
    (
        prop::collection::vec(latency, 1..5),
        prop::collection::vec(prop::bool::weighted(0.25), 0..6),
    )
        .prop_map(|(stop_latencies, losses)| SimOptions {
            stop_latencies,
            losses,
        })
}

fn event(nodes: usize) -> impl Strategy<Value = String> {
    let n = 0..nodes;
    prop_oneof![
        n.clone().prop_map(|i| format!("fail node:n{i}")),
        n.clone().prop_map(|i| format!("recover node:n{i}")),
        n.clone().prop_map(|i| format!("pause node:n{i}")),
        n.clone().prop_map(|i| format!("resume node:n{i}")),
        (0usize..6, 0usize..4).prop_map(|(g, r)| format!("fail resource:g{g}r{r}")),
        (0usize..6).prop_map(|g| format!("move group:g{g}")),
        (0usize..6, n.clone()).prop_map(|(g, i)| format!("move group:g{g}@n{i}")),
        (0usize..6).prop_map(|g| format!("offline group:g{g}")),
        (0usize..6).prop_map(|g| format!("online group:g{g}")),
        (0usize..6).prop_map(|g| format!("clear group:g{g}")),
        Just("advance 20m".to_string()),
    ]
}

/// An event, or a pause that lets what is under way go on (`step`: to the next instant
/// something is due; `advance` by a little), so that events race with stops in progress.
fn racing_event(nodes: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => event(nodes),
        3 => Just("step".to_string()),
        1 => prop_oneof![Just("advance 500ms"), Just("advance 2s"), Just("advance 10s")]
            .prop_map(str::to_string),
        1 => (0usize..6, 0usize..4).prop_map(|(g, r)| format!("lose report:g{g}r{r}")),
        1 => (0usize..6).prop_map(|g| format!("lose stop:g{g}")),
    ]
}

/// Fails with `$why` unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// The invariants, checked at the end of every instant the simulator passes through.
fn check(sim: &Simulator) -> Result<(), String> {
    let db = &sim.db;
    // A resource runs on at most one node, and only on its group's owner (a resource being
    // stopped, or terminated by a node whose lease ran out, still runs).
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (node, rs) in sim.running() {
        for r in rs {
            if let Some(other) = seen.insert(r, node) {
                return Err(format!("{r} runs on two nodes, {other} and {node}"));
            }
            let g = &db.groups[&db.resources[r].spec.group];
            ensure!(
                g.owner.as_deref() == Some(node.as_str()),
                "{r} runs on {node}, off its group's owner {:?}",
                g.owner
            );
        }
    }
    for g in db.groups.values() {
        let Some(owner) = &g.owner else { continue };
        ensure!(
            g.rank(owner).is_some(),
            "{} placed outside its owners",
            g.spec.name
        );
        let n = &db.nodes[owner];
        // A group stays on a Down node only when held or while it waits out its slowest stop
        // bound; on a paused node only while it moves away or when no other owner could take
        // it (a drain never takes a service down).
        if n.liveness == Liveness::Down {
            let waits = sim.now < n.since.plus(db.stop_wait(g));
            ensure!(
                g.held.is_some() || waits,
                "{} left on Down node {owner}",
                g.spec.name
            );
        }
        if n.paused
            && n.liveness == Liveness::Up
            && g.held.is_none()
            && g.moving.is_none()
            && g.target == Target::Online
        {
            ensure!(
                db.best_owner(g, sim.now).is_none(),
                "{} left on paused {owner}",
                g.spec.name
            );
        }
    }
    // The leader publishes every node's desired state from one pass over the groups: it is
    // exactly what each node's own computation says, and nodes the cluster lacks run nothing.
    let all = db.desired_all();
    ensure!(
        all.keys().eq(db.nodes.keys()),
        "desired_all covers {:?}, the cluster has {:?}",
        all.keys().collect::<Vec<_>>(),
        db.nodes.keys().collect::<Vec<_>>()
    );
    for (node, d) in &all {
        ensure!(
            *d == db.desired_for(node),
            "desired_all differs from desired_for({node})"
        );
    }
    // Settled at this instant: plan has nothing more to say.
    ensure!(
        policy::plan(db, sim.now).is_empty(),
        "plan still has {:?}",
        policy::plan(db, sim.now)
    );
    Ok(())
}

/// Runs `events` (and `step`s) on `sim` without waiting between them, then lets it settle:
/// every rejected event must leave the database as it was; anything else that goes wrong,
/// a failed invariant at some instant included, fails the case.
fn race(sim: &mut Simulator, events: &[String]) -> Result<(), TestCaseError> {
    let failed = |e: SimError| TestCaseError::fail(e.to_string());
    for e in events {
        if e == "step" {
            sim.step().map_err(failed)?;
            continue;
        }
        let ev = SimEvent::parse_line(e).unwrap();
        let before = sim.db.clone();
        match sim.inject_at_once(&ev) {
            Ok(()) => {}
            Err(SimError::Rejected { .. }) => prop_assert_eq!(&sim.db, &before, "{}", e),
            Err(other) => return Err(failed(other)),
        }
    }
    sim.settle().map_err(failed)?;
    prop_assert!(!sim.busy());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("NONSTOP_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn invariants_hold_under_random_events(yaml in cluster(), events in prop::collection::vec(event(6), 0..30)) {
        let file: ClusterFile = yaml_serde::from_str(&yaml).unwrap();
        let mut sim = Simulator::start(&file).unwrap();
        sim.watch(check).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for e in &events {
            let ev = SimEvent::parse_line(e).unwrap();
            // Rejected events (unknown names, moves to nodes that cannot host) are fine: they
            // must leave the database as it was.
            let before = sim.db.clone();
            match sim.inject(&ev) {
                Ok(()) => {}
                Err(SimError::Rejected { .. }) => prop_assert_eq!(&sim.db, &before),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
    }

    /// Stops that take time, lost reports and confirmations, and events that come while stops
    /// are under way: a resource still never runs on two nodes, nor off its group's owner.
    #[test]
    fn invariants_hold_with_slow_stops_and_lost_reports(
        yaml in cluster(),
        options in faults(),
        events in prop::collection::vec(racing_event(6), 0..40),
    ) {
        let file: ClusterFile = yaml_serde::from_str(&yaml).unwrap();
        let mut sim = Simulator::start_with(&file, &[], options).unwrap();
        sim.watch(check).map_err(|e| TestCaseError::fail(e.to_string()))?;
        race(&mut sim, &events)?;
    }

    #[test]
    fn plan_then_apply_converges(yaml in cluster(), events in prop::collection::vec(event(6), 0..10)) {
        let file: ClusterFile = yaml_serde::from_str(&yaml).unwrap();
        let mut sim = Simulator::start(&file).unwrap();
        for e in &events {
            let _ = sim.inject(&SimEvent::parse_line(e).unwrap());
        }
        // Without agents acting, planning after applying a plan yields nothing new.
        let mut db = sim.db.clone();
        let t = sim.now;
        for cmd in policy::plan(&db, t) {
            db.apply(cmd).unwrap();
        }
        prop_assert!(policy::plan(&db, t).is_empty(), "{:?}", policy::plan(&db, t));
    }

    #[test]
    fn apply_never_panics_and_rejections_change_nothing(yaml in cluster(), ops in prop::collection::vec(any_op(), 0..40)) {
        let file: ClusterFile = yaml_serde::from_str(&yaml).unwrap();
        let mut db = Simulator::start(&file).unwrap().db;
        for op in ops {
            let before = db.clone();
            if db.apply(Command::operator(Time(5_000_000), "fuzz", op)).is_err() {
                prop_assert_eq!(&db, &before);
            }
        }
    }
}

/// Arbitrary live commands, including nonsense (unknown names, wrong epochs, odd nodes).
fn any_op() -> impl Strategy<Value = Op> {
    let name = prop_oneof![
        (0usize..7).prop_map(|i| format!("n{i}")),
        Just("".to_string()),
        "[a-z]{1,3}"
    ];
    let group = (0usize..7).prop_map(|g| format!("g{g}"));
    let res = (0usize..7, 0usize..5).prop_map(|(g, r)| format!("g{g}r{r}"));
    use nonstop_contract::ResourceState;
    use nonstop_controller::db::model::PlaceReason;
    let state = prop_oneof![
        Just(ResourceState::Online),
        Just(ResourceState::Offline),
        Just(ResourceState::Failed),
        Just(ResourceState::OnlinePending)
    ];
    prop_oneof![
        name.clone().prop_map(|node| Op::NodeUp { node }),
        name.clone().prop_map(|node| Op::NodeDown {
            node,
            reason: "fuzz".into()
        }),
        name.clone().prop_map(|node| Op::EvictNode { node }),
        name.clone().prop_map(|node| Op::RemoveNode { node }),
        (group.clone(), prop::option::of(name.clone())).prop_map(|(group, node)| Op::Place {
            group,
            node,
            reason: PlaceReason::Operator
        }),
        (group.clone(), prop::option::of(name.clone())).prop_map(|(group, to)| Op::BeginMove {
            group,
            to,
            reason: PlaceReason::Drain
        }),
        (group.clone(), prop::option::of(name.clone()))
            .prop_map(|(group, to)| Op::MoveGroup { group, to }),
        group.clone().prop_map(|group| Op::RemoveGroup { group }),
        res.clone()
            .prop_map(|resource| Op::RemoveResource { resource }),
        (
            res.clone(),
            group.clone(),
            prop::collection::btree_map(name.clone(), any_props(), 0..3)
        )
            .prop_map(|(r, g, node_properties)| Op::PutResource(ResourceSpec {
                name: r,
                group: g,
                type_name: "process".into(),
                properties: [("command".to_string(), Value::Str("x".into()))].into(),
                node_properties,
                ..Default::default()
            })),
        (group.clone(), prop::collection::vec(name.clone(), 0..4)).prop_map(|(name, owners)| {
            Op::PutGroup(GroupSpec {
                name,
                owners,
                ..Default::default()
            })
        }),
        (
            name,
            res,
            0u64..20,
            state,
            any::<bool>(),
            proptest::option::of((1u64..3, 0u64..5))
        )
            .prop_map(|(node, resource, epoch, state, gave_up, mark)| {
                Op::ReportResource {
                    node,
                    resource,
                    epoch,
                    state,
                    restart: None,
                    gave_up,
                    message: None,
                    reported_at: None,
                    // Numbered reports, some of them sent again.
                    mark: mark.map(|(incarnation, seq)| ReportMark { incarnation, seq }),
                }
            }),
    ]
}

/// Per-node property values, valid or not for `process`.
fn any_props() -> impl Strategy<Value = nonstop_contract::Properties> {
    let value = prop_oneof![
        (0i64..2000).prop_map(Value::Int),
        "[a-z0-9]{0,3}".prop_map(Value::Str),
        any::<bool>().prop_map(Value::Bool),
    ];
    let key = prop_oneof![
        Just("instances".to_string()),
        Just("command".to_string()),
        Just("colour".to_string())
    ];
    prop::collection::btree_map(key, value, 0..3)
}

#[test]
fn an_empty_database_plans_nothing() {
    assert!(policy::plan(&ClusterDb::new(), Time(0)).is_empty());
}
