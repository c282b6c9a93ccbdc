//! `config::diff`: the batch that turns a live configuration into a file's applies, leaves the
//! live database's configuration equal to a fresh load of the file, and a second diff is empty.

use std::collections::BTreeMap;

use nonstop_contract::{TypeDef, Value};
use nonstop_controller::config::{self, ClusterFile, file::*};
use nonstop_controller::db::model::{
    CousinSet, GroupSpec, NodeSpec, ResourceSpec, Service, Settings,
};
use nonstop_controller::{ClusterDb, Command, Time};
use proptest::prelude::*;

/// Everything `nonstop apply` may change, and nothing else.
#[derive(Debug, PartialEq)]
struct Config {
    settings: Settings,
    nodes: Vec<NodeSpec>,
    types: Vec<TypeDef>,
    groups: Vec<GroupSpec>,
    resources: Vec<ResourceSpec>,
    cousins: Vec<CousinSet>,
    services: Vec<Service>,
}

fn config_of(db: &ClusterDb) -> Config {
    Config {
        settings: db.settings.clone(),
        nodes: db.nodes.values().map(|n| n.spec.clone()).collect(),
        types: db.types.values().cloned().collect(),
        groups: db.groups.values().map(|g| g.spec.clone()).collect(),
        resources: db.resources.values().map(|r| r.spec.clone()).collect(),
        cousins: db.cousin_sets.values().cloned().collect(),
        services: db.services.values().cloned().collect(),
    }
}

fn example() -> ClusterFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cluster.yaml");
    config::load_path(path.as_ref()).unwrap()
}

fn fresh(file: &ClusterFile) -> ClusterDb {
    let text = yaml_serde::to_string(file).unwrap();
    config::check("f.yaml", &text)
        .unwrap_or_else(|d| panic!("{text}\n{d:#?}"))
        .db
}

/// Diffs, applies, and checks the two properties; returns the diff's lines.
fn converge(live: &mut ClusterDb, file: &ClusterFile) -> Vec<String> {
    let d = config::diff(live, file).unwrap_or_else(|e| panic!("{e}"));
    live.apply(Command::operator(Time(1), "test", d.op.clone()))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", d.lines));
    assert_eq!(config_of(live), config_of(&fresh(file)));
    let again = config::diff(live, file).unwrap();
    assert!(again.is_empty(), "second diff: {:?}", again.lines);
    d.lines
}

#[test]
fn from_empty_everything_is_added() {
    let mut live = ClusterDb::new();
    let lines = converge(&mut live, &example());
    assert!(
        lines.contains(&"+ group SOCKET_GROUP".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"+ resource chat".to_string()));
    assert!(lines.contains(&"+ type chat-server".to_string()));
    assert_eq!(lines.iter().filter(|l| l.starts_with("+ node")).count(), 3);
}

#[test]
fn changes_moves_and_removals_apply_in_an_order_apply_accepts() {
    let mut live = fresh(&example());
    let mut f = example();
    f.timing = Some(TimingChoice::Named("fast".into()));
    f.nodes.retain(|n| n.name != "osdb-third");
    let sock = &mut f.groups[0];
    sock.resources.retain(|r| r.name != "vip");
    let chat = &mut sock.resources[0];
    chat.depends_on.clear();
    chat.properties.insert("MaxUser".into(), Value::Int(5));
    let report = f.groups[1].resources.pop().unwrap();
    f.groups[0].resources.push(report);
    f.groups[1].owners = vec!["osdb-back".into()];
    f.services.push(ServiceEntry {
        name: "CHAT".into(),
        group: "SOCKET_GROUP".into(),
    });
    let lines = converge(&mut live, &f);
    let expected = [
        "~ settings: timing.heartbeat 200ms -> 50ms",
        "~ settings: timing.lease 1s -> 300ms",
        "~ settings: timing.name default -> fast",
        "~ settings: timing.node_timeout 2s -> 600ms",
        "~ settings: timing.raft_election 1s -> 500ms",
        "~ settings: timing.raft_heartbeat 100ms -> 50ms",
        "~ settings: timing.terminate 500ms -> 200ms",
        "- node osdb-third",
        "~ group REPORT_GROUP: owners [\"osdb-third\",\"osdb-back\"] -> [\"osdb-back\"]",
        "- resource vip",
        "~ resource chat: depends_on [\"vip\"] -> []",
        "~ resource chat: properties.MaxUser 8 -> 5",
        "~ resource report: group REPORT_GROUP -> SOCKET_GROUP",
        // The chat server has a reload_signal: MaxUser reaches it without a restart.
        "  resource chat changed in place, no restart",
        "+ service CHAT",
    ];
    assert_eq!(lines, expected);
}

/// Alerts are settings, changed as one, but told one by one by name.
#[test]
fn alerts_are_added_changed_and_removed_by_name() {
    use nonstop_controller::db::model::{AlertKind, AlertSpec};
    let alert = |name: &str| AlertSpec {
        name: name.into(),
        path: format!("/usr/local/bin/{name}"),
        ..AlertSpec::default()
    };
    let mut live = fresh(&example());
    let mut f = example();
    f.alerts = vec![alert("log"), alert("pager")];
    let lines = converge(&mut live, &f);
    assert_eq!(lines, ["+ alert log", "+ alert pager"]);
    f.alerts = vec![AlertSpec {
        kinds: Some(vec![AlertKind::Group]),
        timeout: Some(nonstop_contract::Millis(10_000)),
        ..alert("log")
    }];
    let lines = converge(&mut live, &f);
    assert_eq!(
        lines,
        [
            "- alert pager",
            "~ alert log: kinds (none) -> [\"group\"]",
            "~ alert log: timeout (none) -> 10s",
        ]
    );
}

#[test]
fn removing_everything_empties_the_configuration() {
    let mut live = fresh(&example());
    let mut f = example();
    f.groups.clear();
    f.types.clear();
    f.nodes.truncate(1);
    let lines = converge(&mut live, &f);
    assert!(
        lines.contains(&"- type chat-server".to_string()),
        "{lines:?}"
    );
    assert!(live.resources.is_empty() && live.groups.is_empty());
}

#[test]
fn a_live_running_resource_is_not_removed_behind_the_operators_back() {
    // Removing a resource that runs is refused by apply; diff says which change is stuck
    // instead of producing a batch that would fail.
    let mut live = fresh(&example());
    let r = live.resources.get_mut("report").unwrap();
    r.state = nonstop_contract::ResourceState::Online;
    let mut f = example();
    f.groups.pop();
    let err = config::diff(&live, &f).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot apply remove resource report"),
        "{err}"
    );
}

/// A random valid file over a small universe of names, so that two of them overlap.
fn arb_file() -> impl Strategy<Value = ClusterFile> {
    let nodes = proptest::sample::subsequence(vec!["n1", "n2", "n3", "n4"], 1..=4);
    (
        nodes,
        0usize..4,
        proptest::collection::vec((0usize..4, 1i64..=10, any::<bool>()), 0..7),
        any::<bool>(),
    )
        .prop_flat_map(|(nodes, ngroups, res, fast)| {
            let owners = proptest::collection::vec(
                proptest::sample::subsequence(nodes.clone(), 1..=nodes.len()).prop_shuffle(),
                ngroups,
            );
            (Just(nodes), owners, Just(res), Just(fast))
        })
        .prop_map(|(nodes, owners, res, fast)| build_file(&nodes, &owners, &res, fast))
}

fn build_file(
    nodes: &[&str],
    owners: &[Vec<&str>],
    res: &[(usize, i64, bool)],
    fast: bool,
) -> ClusterFile {
    let mut f = example();
    f.timing = Some(TimingChoice::Named(
        if fast { "fast" } else { "default" }.into(),
    ));
    f.nodes = nodes
        .iter()
        .map(|n| NodeSpec {
            name: n.to_string(),
            ..NodeSpec::default()
        })
        .collect();
    let chat_type = f.types.clone();
    f.types = chat_type;
    f.groups = owners
        .iter()
        .enumerate()
        .map(|(i, o)| GroupEntry {
            name: format!("G{i}"),
            owners: o.iter().map(|s| s.to_string()).collect(),
            failback: None,
            failover_limit: None,
            target: None,
            resources: vec![],
        })
        .collect();
    let mut last_in: BTreeMap<usize, String> = BTreeMap::new();
    for (i, (g, max_user, depend)) in res.iter().enumerate() {
        let Some(group) = f.groups.get_mut(*g) else {
            continue;
        };
        let name = format!("r{i}");
        let mut properties = BTreeMap::new();
        properties.insert("command".to_string(), Value::Str("/bin/true".into()));
        properties.insert("MaxUser".to_string(), Value::Int(*max_user));
        let depends_on = match (depend, last_in.get(g)) {
            (true, Some(prev)) => vec![prev.clone()],
            _ => vec![],
        };
        group.resources.push(ResourceEntry {
            name: name.clone(),
            type_name: "chat-server".into(),
            properties,
            node_properties: Default::default(),
            depends_on,
            timings: None,
            target: None,
        });
        last_in.insert(*g, name);
    }
    f.cousins.clear();
    if f.groups.len() >= 2 {
        let member = |g: &GroupEntry| CousinMemberEntry {
            group: g.name.clone(),
            load: nonstop_controller::db::model::Load::LeastLoaded,
        };
        f.cousins.push(CousinEntry {
            name: "C".into(),
            members: vec![member(&f.groups[0]), member(&f.groups[1])],
        });
    }
    f.services = f
        .groups
        .iter()
        .take(1)
        .map(|g| ServiceEntry {
            name: "S".into(),
            group: g.name.clone(),
        })
        .collect();
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_file_to_any_file_converges(a in arb_file(), b in arb_file()) {
        let mut live = fresh(&a);
        converge(&mut live, &b);
        converge(&mut live, &a);
    }
}

/// The example with `vip` in namespace `ns` on osdb-back only.
fn localized(ns: &str) -> ClusterFile {
    let mut f = example();
    let vip = f.groups[0]
        .resources
        .iter_mut()
        .find(|r| r.name == "vip")
        .unwrap();
    let over = BTreeMap::from([("netns".to_string(), Value::Str(ns.into()))]);
    vip.node_properties.insert("osdb-back".into(), over);
    f
}

#[test]
fn node_properties_are_shown_and_an_owner_goes_with_its_overrides() {
    let mut live = fresh(&localized("back"));
    let lines = converge(&mut live, &localized("other"));
    assert_eq!(
        lines,
        [
            "~ resource vip: node_properties.osdb-back.netns back -> other",
            "  resource vip restarts (for netns)"
        ]
    );
    // Dropping the owner and its overrides in one apply: the resource changes first.
    let mut f = example();
    f.groups[0].owners.retain(|o| o != "osdb-back");
    let lines = converge(&mut live, &f);
    assert!(
        lines.contains(
            &r#"~ resource vip: node_properties {"osdb-back":{"netns":"other"}} -> (none)"#.into()
        ),
        "{lines:?}"
    );
}

#[test]
fn i10_8_a_node_becomes_a_witness_once_its_group_has_another_owner() {
    let parse = |t: &str| config::load_str("f.yaml", t).unwrap();
    let before = parse("nodes: [{name: a}, {name: b}]\ngroups: [{name: G, owners: [a]}]\n");
    let after = parse(
        "nodes: [{name: a, witness: true}, {name: b}]\ngroups: [{name: G, owners: [a, b]}]\n",
    );
    let mut live = fresh(&before);
    let lines = converge(&mut live, &after);
    assert_eq!(
        lines,
        [
            "~ node a: witness (none) -> true",
            "~ group G: owners [\"a\"] -> [\"a\",\"b\"]"
        ]
    );
}
