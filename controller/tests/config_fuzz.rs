//! Fuzzing the `cluster.yaml` loader and checker with proptest: arbitrary bytes, and valid files
//! with random mutations. Nothing may panic; every diagnostic must point inside the file; a file
//! that checks must build a database whose diff against the file is empty.
//!
//! The case count defaults to a quick run; for a long run:
//! `CONFIG_FUZZ_CASES=200000 cargo test -p nonstop-controller --test config_fuzz --release`.

use nonstop_contract::Value;
use nonstop_controller::config::{self, ClusterFile, Diagnostic};
use nonstop_controller::db::model::Load;
use nonstop_controller::{ClusterDb, Command, Op, Time};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn cases() -> u32 {
    std::env::var("CONFIG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

const SEEDS: [&str; 2] = [
    include_str!("../../examples/cluster.yaml"),
    include_str!("fixtures/config/good/everything.yaml"),
];

/// Checks `text` and the promises that hold whatever it contains.
fn check_promises(text: &str) {
    match config::check("f.yaml", text) {
        Ok(c) => {
            let d = config::diff(&c.db, &c.file).expect("a checked file diffs");
            assert!(d.is_empty(), "{:?}", d.lines);
        }
        Err(diags) => {
            assert!(!diags.is_empty());
            let lines = yaml_lines(text) + 1;
            for d in &diags {
                in_file(d, lines, text);
            }
        }
    }
}

/// Lines as YAML counts them: a lone carriage return breaks a line too (found by this fuzzing:
/// `str::lines` does not count it, YAML does).
fn yaml_lines(text: &str) -> usize {
    let lone_cr = text
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] == b'\r' && w[1] != b'\n');
    let trailing_cr = usize::from(text.ends_with('\r'));
    text.matches('\n').count() + lone_cr.count() + trailing_cr + 1
}

fn in_file(d: &Diagnostic, lines: usize, text: &str) {
    assert_eq!(d.file, "f.yaml");
    assert!(
        d.line >= 1 && d.line <= lines,
        "{d} outside {lines} lines:\n{text}"
    );
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

/// One edit of a valid file: YAML-significant characters and names from the file, put where
/// they break something.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Replace(usize, String),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just(":".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("\"".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!window ".to_string()),
        Just("-1".to_string()),
        Just("11".to_string()),
        Just("osdb-serv".to_string()),
        Just("SOCKET_GROUP".to_string()),
        Just("depends_on: [chat]".to_string()),
        Just("99999999999999999999".to_string()),
        "[a-z_]{1,8}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), token.clone()).prop_map(|(a, t)| Edit::Insert(a, t)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), token).prop_map(|(a, t)| Edit::Replace(a, t)),
    ]
}

/// The nearest char boundary at or before `i % (len + 1)`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &mut String, edit: &Edit) {
    match edit {
        Edit::Delete(a, n) => {
            let a = boundary(text, *a);
            let b = boundary(text, a + n).max(a);
            text.replace_range(a..b, "");
        }
        Edit::Insert(a, t) => text.insert_str(boundary(text, *a), t),
        Edit::Replace(a, t) => {
            let a = boundary(text, *a);
            let end = text[a..]
                .find([' ', '\n', ',', ']'])
                .map_or(text.len(), |e| a + e);
            text.replace_range(a..end, t);
        }
        Edit::DuplicateLine(i) | Edit::SwapLines(i, _) => {
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            if lines.is_empty() {
                return;
            }
            let i = i % lines.len();
            match edit {
                Edit::SwapLines(_, j) => {
                    let j = j % lines.len();
                    lines.swap(i, j);
                }
                _ => lines.insert(i, lines[i].clone()),
            }
            *text = lines.join("\n") + "\n";
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_promises(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec(arb_edit(), 1..5),
    ) {
        let mut text = SEEDS[seed].to_string();
        for e in &edits {
            apply(&mut text, e);
        }
        check_promises(&text);
    }

    #[test]
    fn changed_meanings_are_judged_as_apply_judges_them(
        seed in 0..SEEDS.len(),
        changes in proptest::collection::vec(arb_change(), 1..6),
    ) {
        let mut f = config::load_str("seed.yaml", SEEDS[seed]).expect("seeds load");
        for c in &changes {
            change(&mut f, c);
        }
        check_agrees_with_apply(&f);
    }
}

/// Every duration of a cluster.yaml with the range docs/configuration.md gives it, in ms, and
/// where it is written: `r:`, `g:` or `top:` and the text, `{}` standing for the value, put in
/// the resource, the group or the top level; `profile` for a field of a full timing profile.
const DURATIONS: [(&str, u64, u64, &str); 13] = [
    ("looks_alive", 10, 3_600_000, "r:timings: {looks_alive: {}}"),
    ("is_alive", 10, 3_600_000, "r:timings: {is_alive: {}}"),
    (
        "pending_timeout",
        100,
        86_400_000,
        "r:timings: {pending_timeout: {}}",
    ),
    (
        "restart.window",
        1000,
        2_592_000_000,
        "r:timings: {restart: {window: {}}}",
    ),
    (
        "restart.delay",
        0,
        3_600_000,
        "r:timings: {restart: {delay: {}}}",
    ),
    (
        "stop_grace",
        0,
        3_600_000,
        "r:properties: {command: x, stop_grace: {}}",
    ),
    (
        "failover_limit.window",
        1000,
        2_592_000_000,
        "g:failover_limit: {count: 1, window: {}}",
    ),
    ("startup_grace", 0, 3_600_000, "top:startup_grace: {}"),
    ("heartbeat", 1, 600_000, "profile"),
    ("lease", 1, 600_000, "profile"),
    ("terminate", 1, 600_000, "profile"),
    ("node_timeout", 1, 600_000, "profile"),
    ("raft_election", 1, 600_000, "profile"),
];

/// A cluster with duration `field` (written at `place`) set to `ms` milliseconds.
fn with_duration(field: &str, place: &str, ms: u64) -> String {
    let value = format!("{ms}ms");
    let mut top = String::new();
    let mut group = String::new();
    let mut resource = String::from("properties: {command: x}");
    match place.split_once(':') {
        Some(("r", text)) if text.starts_with("properties") => {
            resource = text.replace("{}", &value)
        }
        Some(("r", text)) => resource = format!("{resource}, {}", text.replace("{}", &value)),
        Some(("g", text)) => group = format!(", {}", text.replace("{}", &value)),
        Some(("top", text)) => top = text.replace("{}", &value),
        _ => {
            let profile = [
                ("heartbeat", "200ms"),
                ("lease", "1s"),
                ("terminate", "500ms"),
                ("node_timeout", "2s"),
                ("raft_heartbeat", "100ms"),
                ("raft_election", "1s"),
            ];
            let fields: Vec<String> = profile
                .iter()
                .map(|(k, v)| format!("{k}: {}", if *k == field { &value } else { *v }))
                .collect();
            top = format!("timing: {{name: custom, {}}}", fields.join(", "));
        }
    }
    format!(
        "{top}\nnodes: [{{name: a}}]\ngroups:\n  - {{name: G, owners: [a]{group}, resources: \
         [{{name: r, type: process, {resource}}}]}}\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Found by the reliability review: zero intervals, zero windows and a node_timeout of
    /// 18446744073709551s were all accepted. Every duration is now refused outside its range,
    /// naming the field, and accepted inside it (a profile may still break the safety rule).
    #[test]
    fn i10_8_durations_are_judged_by_their_documented_range(
        f in 0..DURATIONS.len(),
        edge in 0..6usize,
        any in any::<u64>(),
    ) {
        let (field, min, max, place) = DURATIONS[f];
        let ms = match edge {
            0 => min.saturating_sub(1),
            1 => min,
            2 => max,
            3 => max + 1,
            4 => any,
            _ => any % (2 * max),
        };
        let text = with_duration(field, place, ms);
        check_promises(&text);
        let outside = ms < min || ms > max;
        let result = config::check("f.yaml", &text);
        let errors: Vec<String> = result
            .as_ref()
            .err()
            .map(|d| d.iter().map(|d| d.message.clone()).collect())
            .unwrap_or_default();
        let named = errors.iter().any(|m| {
            m.contains(field)
                && (m.contains("is not within") || m.contains("the maximum") || m.contains("the minimum"))
        });
        prop_assert_eq!(named, outside, "{}\n{:?}", text, errors);
        if place != "profile" {
            prop_assert_eq!(result.is_ok(), !outside, "{}\n{:?}", text, errors);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `nonstop up` keeps a node's files in DIR/<node>/: whatever a node is called, if the
    /// file checks, that folder is one new entry inside DIR (never DIR itself, its parent, or
    /// deeper), and the name reads as no option.
    #[test]
    fn i10_8_an_accepted_node_name_is_one_folder_inside_dir(
        name in prop_oneof![
            "[a-zA-Z0-9_.:/-]{0,6}",
            "\\PC{0,8}",
            Just("..".to_string()),
            Just(".".to_string()),
            Just("a/../..".to_string()),
        ],
    ) {
        let text = format!("nodes: [{{name: {}}}]\n", serde_json::to_string(&name).unwrap());
        check_promises(&text);
        if config::check("f.yaml", &text).is_ok() {
            let dir = std::path::Path::new("/d");
            let path = dir.join(&name);
            let parts: Vec<_> = path.strip_prefix(dir).unwrap().components().collect();
            prop_assert!(
                matches!(parts[..], [std::path::Component::Normal(_)]),
                "{name:?} -> {path:?}"
            );
            prop_assert!(!name.starts_with('-'), "{name:?}");
        }
    }
}

/// A change to a valid file's meaning (not its syntax), aimed at the checker's rules: names
/// swapped for other names (known, unknown, repeated), values out of range, items repeated or
/// dropped.
#[derive(Clone, Debug)]
enum Change {
    Owner(usize, usize, usize),
    Dependency(usize, usize),
    Type(usize, usize),
    Property(usize, usize, usize),
    RepeatGroup(usize),
    RepeatNode(usize),
    DropNode(usize),
    DropGroup(usize),
    MemberGroup(usize, usize),
    ServiceGroup(usize),
    Timing(usize),
}

const NAMES: [&str; 12] = [
    "osdb-serv",
    "osdb-back",
    "n1",
    "n2",
    "ghost",
    "vip",
    "chat",
    "a-tmax",
    "SOCKET_GROUP",
    "TMAX_A",
    "TMAX_B",
    "bad name",
];
const TYPES: [&str; 5] = ["process", "chat-server", "hook", "nothing", "ip-address"];
const KEYS: [&str; 5] = ["MaxUser", "command", "address", "instances", "mode"];

fn value(i: usize) -> Value {
    match i % 6 {
        0 => Value::Int(11),
        1 => Value::Int(0),
        2 => Value::Int(5),
        3 => Value::Str("198.18.0.300/24".into()),
        4 => Value::Str("safe".into()),
        _ => Value::List(vec!["x".into()]),
    }
}

fn arb_change() -> impl Strategy<Value = Change> {
    let n = || 0usize..64;
    prop_oneof![
        (n(), n(), n()).prop_map(|(a, b, c)| Change::Owner(a, b, c)),
        (n(), n()).prop_map(|(a, b)| Change::Dependency(a, b)),
        (n(), n()).prop_map(|(a, b)| Change::Type(a, b)),
        (n(), n(), n()).prop_map(|(a, b, c)| Change::Property(a, b, c)),
        n().prop_map(Change::RepeatGroup),
        n().prop_map(Change::RepeatNode),
        n().prop_map(Change::DropNode),
        n().prop_map(Change::DropGroup),
        (n(), n()).prop_map(|(a, b)| Change::MemberGroup(a, b)),
        n().prop_map(Change::ServiceGroup),
        n().prop_map(Change::Timing),
    ]
}

fn pick<T>(v: &mut [T], i: usize) -> Option<&mut T> {
    let len = v.len();
    (len > 0).then(|| &mut v[i % len])
}

fn change(f: &mut ClusterFile, c: &Change) {
    let name = |i: usize| NAMES[i % NAMES.len()].to_string();
    let resources = f.groups.iter_mut().flat_map(|g| g.resources.iter_mut());
    let mut resources: Vec<_> = resources.collect();
    match *c {
        Change::Owner(g, k, n) => {
            if let Some(o) = pick(&mut f.groups, g).and_then(|g| pick(&mut g.owners, k)) {
                *o = name(n);
            }
        }
        Change::Dependency(r, n) => {
            if let Some(r) = pick(&mut resources, r) {
                r.depends_on.push(name(n));
            }
        }
        Change::Type(r, t) => {
            if let Some(r) = pick(&mut resources, r) {
                r.type_name = TYPES[t % TYPES.len()].into();
            }
        }
        Change::Property(r, k, v) => {
            if let Some(r) = pick(&mut resources, r) {
                r.properties.insert(KEYS[k % KEYS.len()].into(), value(v));
            }
        }
        Change::RepeatGroup(g) => {
            let copy = pick(&mut f.groups, g).map(|g| g.clone());
            f.groups.extend(copy);
        }
        Change::RepeatNode(n) => {
            let copy = pick(&mut f.nodes, n).map(|n| n.clone());
            f.nodes.extend(copy);
        }
        Change::DropNode(n) if !f.nodes.is_empty() => drop(f.nodes.remove(n % f.nodes.len())),
        Change::DropGroup(g) if !f.groups.is_empty() => drop(f.groups.remove(g % f.groups.len())),
        Change::MemberGroup(m, n) => {
            if let Some(m) = pick(&mut f.cousins, 0).and_then(|c| pick(&mut c.members, m)) {
                m.group = name(n);
                m.load = Load::try_from((n % 7) as i64 - 3).unwrap_or(Load::Standby);
            }
        }
        Change::ServiceGroup(n) => {
            if let Some(s) = pick(&mut f.services, 0) {
                s.group = name(n);
            }
        }
        Change::Timing(n) => {
            let t = ["default", "fast", "slow"][n % 3];
            f.timing = Some(config::file::TimingChoice::Named(t.into()));
        }
        _ => {}
    }
}

/// Whether a list of names holds one twice.
fn repeats<'a>(names: impl Iterator<Item = &'a str>) -> bool {
    let mut seen = BTreeSet::new();
    names.into_iter().any(|n| !seen.insert(n))
}

/// What apply alone thinks of the file: the batch of its ops on an empty database.
fn apply_accepts(f: &ClusterFile) -> bool {
    let Ok(ops) = config::to_ops(f) else {
        return false;
    };
    let mut db = ClusterDb::new();
    db.apply(Command::policy(Time(0), Op::Batch(ops))).is_ok()
}

/// The checker agrees with apply, except for what apply cannot see (names used twice, which it
/// takes as replacements, and a file without nodes).
fn check_agrees_with_apply(f: &ClusterFile) {
    let text = yaml_serde::to_string(f).expect("a ClusterFile serialises");
    check_promises(&text);
    let resources = f
        .groups
        .iter()
        .flat_map(|g| g.resources.iter().map(|r| r.name.as_str()));
    let blind = f.nodes.is_empty()
        || repeats(f.nodes.iter().map(|n| n.name.as_str()))
        || repeats(f.groups.iter().map(|g| g.name.as_str()))
        || repeats(resources);
    let checked = config::check("f.yaml", &text);
    if !blind {
        assert_eq!(checked.is_ok(), apply_accepts(f), "{text}\n{checked:?}");
    } else {
        assert!(checked.is_err(), "{text}");
    }
}

#[test]
fn deep_nesting_is_refused_before_it_costs_minutes() {
    // Found by this file's fuzzing: libyaml took a minute over 200 kB of `{a: {a: ...`.
    let err = config::load_str("f.yaml", &"[".repeat(100_000)).unwrap_err();
    assert!(
        err[0].message.starts_with("nested deeper than 32 levels"),
        "{err:?}"
    );
    let err = config::load_str("f.yaml", &"{a: ".repeat(50_000)).unwrap_err();
    assert!(err[0].to_string().starts_with("f.yaml:1:"), "{err:?}");
    assert!(
        err[0].message.starts_with("nested deeper than 32 levels"),
        "{err:?}"
    );
    let deep_block = format!("nodes:\n  {}x\n", "- ".repeat(40));
    let err = config::load_str("f.yaml", &deep_block).unwrap_err();
    assert!(
        err[0].message.starts_with("nested deeper than 32 levels"),
        "{err:?}"
    );
}

#[test]
fn deep_nesting_and_huge_numbers_are_errors_not_crashes() {
    for text in [
        "[".repeat(100_000),
        "{a: ".repeat(50_000),
        format!("nodes:\n{}", "  - name: a\n".repeat(10)),
        "nodes: [{name: a}]\nutc_offset_minutes: 99999999999999999999\n".to_string(),
        "nodes: &x [{name: a}]\ngroups: *x\n".to_string(),
        "nodes: [{name: a}]\n---\nnodes: [{name: b}]\n".to_string(),
    ] {
        check_promises(&text);
    }
}
