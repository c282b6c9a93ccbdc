//! `cluster.yaml` checking: good files load, and each kind of bad input gives the expected
//! `FILE:LINE:COL: message` lines, all of them, nothing else.

use std::path::PathBuf;

use nonstop_contract::Value;
use nonstop_controller::config::{self, Diagnostic};

fn fixture(rel: &str) -> (String, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (name, text)
}

fn errors(rel: &str) -> Vec<String> {
    let (name, text) = fixture(rel);
    match config::check(&name, &text) {
        Ok(_) => panic!("{rel} was accepted"),
        Err(diags) => diags.iter().map(Diagnostic::to_string).collect(),
    }
}

fn assert_errors(rel: &str, expected: &[&str]) {
    assert_eq!(errors(&format!("bad/{rel}")), expected, "{rel}");
}

#[test]
fn the_example_and_the_good_fixtures_check() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/cluster.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    let c = config::check("cluster.yaml", &text).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(c.db.nodes.len(), 3);
    assert_eq!(
        c.db.groups["SOCKET_GROUP"].spec.owners,
        ["osdb-serv", "osdb-back"]
    );
    let chat = &c.db.resources["chat"];
    assert_eq!(chat.spec.depends_on, ["vip"]);
    assert_eq!(
        chat.spec.properties["MaxUser"],
        nonstop_contract::Value::Int(8)
    );
    assert!(!c.db.nodes["osdb-third"].spec.autobackup);
    let netns =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/chat/cluster-netns.yaml");
    let text = std::fs::read_to_string(netns).unwrap();
    let c = config::check("cluster-netns.yaml", &text).unwrap_or_else(|d| panic!("{d:#?}"));
    let vip = &c.db.resources["vip"].spec;
    assert_eq!(
        vip.properties_on("osdb-back")["netns"],
        Value::Str("nonstop-back".into())
    );
    assert_eq!(
        vip.properties_on("osdb-serv")["netns"],
        Value::Str("nonstop-serv".into())
    );
    for entry in std::fs::read_dir(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/good"),
    )
    .unwrap()
    {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        config::check("good.yaml", &text).unwrap_or_else(|d| panic!("{path:?}: {d:#?}"));
    }
}

#[test]
fn load_path_names_the_file_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "nodes:\n  - name: a\n    port: 1\n").unwrap();
    let err = config::load_path(&path).unwrap_err();
    let shown = err[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:3:5: nodes[0]: unknown field `port`",
            path.display()
        )),
        "{shown}"
    );
    let missing = config::load_path(&dir.path().join("none.yaml")).unwrap_err();
    assert!(
        missing[0]
            .to_string()
            .contains("none.yaml:1:1: No such file"),
        "{missing:?}"
    );
}

#[test]
fn a_syntax_error_is_located() {
    assert_errors(
        "syntax.yaml",
        &["syntax.yaml:6:14: did not find expected ',' or ']', while parsing a flow sequence"],
    );
}

#[test]
fn unknown_fields_are_errors_at_every_depth() {
    assert_errors(
        "unknown_field_top.yaml",
        &[
            "unknown_field_top.yaml:3:1: unknown field `colour`, expected one of `timing`, \
           `utc_offset_minutes`, `startup_grace`, `fencing`, `nodes`, `types`, `groups`, \
           `cousins`, `services`, `alerts`",
        ],
    );
    assert_errors(
        "unknown_field_node.yaml",
        &[
            "unknown_field_node.yaml:3:5: nodes[0]: unknown field `adress`, expected one of \
           `name`, `address`, `autobackup`, `witness`, `fence`",
        ],
    );
    assert_errors(
        "unknown_field_timings.yaml",
        &[
            "unknown_field_timings.yaml:11:37: groups[0].resources[0].timings.restart: unknown \
           field `limt`, expected one of `mode`, `limit`, `window`, `delay`",
        ],
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named() {
    assert_errors(
        "wrong_type.yaml",
        &[
            "wrong_type.yaml:3:17: nodes[0].autobackup: invalid type: string \"maybe\", \
           expected a boolean",
        ],
    );
}

#[test]
fn a_property_value_of_the_wrong_shape_is_named_at_its_key() {
    let text = "nodes: [{name: a}]\ngroups:\n  - name: G\n    owners: [a]\n    resources:\n      \
                - { name: r, type: process, properties: { command: x, args: {a: 1} } }\n";
    let err = config::check("p.yaml", text).unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "p.yaml:6:67: groups[0].resources[0].properties.args: invalid type: map, expected \
         text, a whole number, true/false or a list of text"
    );
}

#[test]
fn owners_must_be_known_and_distinct() {
    assert_errors(
        "unknown_owner.yaml",
        &[
            "unknown_owner.yaml:6:25: group \"SOCKET_GROUP\": owners names unknown node \"osdb-bak\"",
        ],
    );
    assert_errors(
        "home_as_backup.yaml",
        &[
            "home_as_backup.yaml:9:9: group \"SOCKET_GROUP\": owners: node \"osdb-serv\" is the \
           home node and cannot also be a backup",
        ],
    );
}

#[test]
fn a_name_used_twice_is_an_error_not_an_overwrite() {
    assert_errors(
        "duplicate_group.yaml",
        &["duplicate_group.yaml:6:11: group \"SOCKET_GROUP\": defined twice (first at line 4)"],
    );
}

#[test]
fn types_and_properties_are_checked() {
    assert_errors(
        "unknown_type.yaml",
        &["unknown_type.yaml:8:15: resource \"chat\": type names unknown type \"chat-sever\""],
    );
    assert_errors(
        "max_user.yaml",
        &["max_user.yaml:16:20: resource \"chat\": properties.MaxUser: 11 is above the maximum 10"],
    );
}

#[test]
fn dependencies_stay_acyclic_and_inside_their_group() {
    assert_errors(
        "cycle.yaml",
        &["cycle.yaml:14:22: resource \"b\": depends_on: dependency cycle a -> b -> a"],
    );
    assert_errors(
        "cross_group.yaml",
        &[
            "cross_group.yaml:16:22: resource \"b\": depends_on: \"a\" is in group \"G1\", not \
           \"G2\": dependencies stay inside a group",
        ],
    );
}

#[test]
fn durations_timing_profiles_and_loads_are_checked() {
    assert_errors(
        "bad_duration.yaml",
        &[
            "bad_duration.yaml:6:21: groups[0].failover_limit: \"5 parsecs\" is not a duration: \
           write a whole number with a unit, like 500ms, 5s, 15m or 24h",
        ],
    );
    assert_errors(
        "bad_timing.yaml",
        &[
            "bad_timing.yaml:6:17: timing: node_timeout 1s must exceed lease 1s + terminate 500ms \
           + a 5% margin (1550ms), or a node cut off from the leader could still be running its \
           groups when they start elsewhere",
        ],
    );
    assert_errors(
        "unknown_profile.yaml",
        &[
            "unknown_profile.yaml:1:9: timing: unknown profile \"slow\" (use default or fast, or \
           give every field)",
        ],
    );
    assert_errors(
        "bad_load.yaml",
        &[
            "bad_load.yaml:13:9: cousins[0].members[1]: LOAD -4 is out of range: use -1, -2, -3, \
           0 or a positive weight",
        ],
    );
}

#[test]
fn empty_files_and_files_without_nodes_are_errors() {
    assert_errors(
        "empty.yaml",
        &["empty.yaml:1:1: the file is empty: a cluster needs nodes"],
    );
    assert_errors(
        "no_nodes.yaml",
        &["no_nodes.yaml:1:8: nodes: a cluster needs at least one node"],
    );
}

#[test]
fn every_error_is_reported_and_cascades_are_not() {
    assert_errors(
        "many.yaml",
        &[
            "many.yaml:4:11: node \"osdb-serv\": defined twice (first at line 2)",
            "many.yaml:7:25: group \"SOCKET_GROUP\": owners names unknown node \"osdb-bak\"",
            "many.yaml:7:35: group \"SOCKET_GROUP\": owners names unknown node \"osdb-gone\"",
            "many.yaml:11:32: resource \"vip\": properties.address: \"198.18.0.300/24\" is not an \
             IP address",
            "many.yaml:14:27: resource \"chat\": depends_on names unknown resource \"nothing\"",
            "many.yaml:15:51: resource \"chat\": properties.instances: 0 is below the minimum 1",
            "many.yaml:15:67: resource \"chat\": properties.stop_signal: \"STOP\" is not one of \
             TERM, INT, HUP, QUIT, USR1, USR2, KILL",
            "many.yaml:17:14: group \"BROKEN\": owners names unknown node \"nowhere\"",
            "many.yaml:20:15: resource \"lost\": type names unknown type \"no-such-type\"",
            "many.yaml:21:9: resource \"lost2\": properties.command: is required",
            "many.yaml:26:26: service \"SVC2\": group names unknown group \"NOGROUP\"",
        ],
    );
}

#[test]
fn a_file_written_by_yaml_serde_reads_back_the_same() {
    // The Tmax importer writes a ClusterFile with yaml_serde: what it writes must load again.
    let (_, text) = fixture("good/everything.yaml");
    let file = config::load_str("everything.yaml", &text).unwrap();
    let written = yaml_serde::to_string(&file).unwrap();
    let again =
        config::load_str("written.yaml", &written).unwrap_or_else(|d| panic!("{written}\n{d:#?}"));
    assert_eq!(again, file);
    config::check("written.yaml", &written).unwrap_or_else(|d| panic!("{d:#?}"));
}

#[test]
fn failback_takes_a_word_a_window_or_a_tag() {
    let base = "nodes: [{name: a}]\ngroups:\n  - name: G\n    owners: [a]\n    failback: ";
    for (policy, ok) in [
        ("never", true),
        ("immediate", true),
        ("{ window: { start: 22, end: 6 } }", true),
        ("!window { start: 22, end: 6 }", true),
        ("sometimes", false),
        ("{ window: { start: 22 } }", false),
    ] {
        let text = format!("{base}{policy}\n");
        assert_eq!(config::check("f.yaml", &text).is_ok(), ok, "{policy}");
    }
    let text = format!("{base}sometimes\n");
    let err = config::check("f.yaml", &text).unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "f.yaml:5:15: groups[0].failback: unknown fail-back policy \"sometimes\": use \
         immediate, never or { window: { start: HOUR, end: HOUR } }"
    );
}

#[test]
fn node_properties_are_checked_at_their_own_lines() {
    assert_errors(
        "node_properties.yaml",
        &[
            "node_properties.yaml:10:45: resource \"vip\": node_properties.osdb-serv.colour: \
             unknown property (known: address, interface, netns)",
            "node_properties.yaml:11:33: resource \"vip\": node_properties.osdb-back.address: \
             \"not-an-address\" is not an IP address",
            "node_properties.yaml:16:23: resource \"vip2\": node_properties.osdb-third: node \
             \"osdb-third\" is not an owner of group \"SOCKET_GROUP\", so the resource never \
             runs there",
            "node_properties.yaml:21:22: resource \"vip3\": node_properties.osdb-gone names \
             unknown node \"osdb-gone\"",
        ],
    );
}

#[test]
fn i10_8_a_node_named_dot_dot_is_refused() {
    // `nonstop up` keeps a node's files in DIR/<node>/: `..` put them beside DIR.
    let text = "nodes:\n  - name: \"..\"\n";
    let err = config::check("c.yaml", text).unwrap_err();
    assert_eq!(
        err.iter().map(Diagnostic::to_string).collect::<Vec<_>>(),
        [
            "c.yaml:2:11: node \"..\": name: use 1 to 63 letters, digits, '_', '-', '.' or ':', \
          starting with a letter or a digit"
        ]
    );
}

#[test]
fn i10_8_every_name_starts_with_a_letter_or_a_digit() {
    let rule = "name: use 1 to 63 letters, digits, '_', '-', '.' or ':', starting with a letter \
                or a digit";
    let expected: Vec<String> = [
        "2:11: node \"..\"",
        "5:13: type \"-rf\"",
        "7:11: group \".hidden\"",
        "12:17: resource \":r\"",
        "14:13: service \"_svc\"",
    ]
    .iter()
    .map(|e| format!("unsafe_names.yaml:{e}: {rule}"))
    .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_errors("unsafe_names.yaml", &expected);
}

#[test]
fn i10_8_process_properties_that_cannot_work_are_refused() {
    assert_errors(
        "process_properties.yaml",
        &[
            "process_properties.yaml:9:20: resource \"p\": properties.command: \"\" is empty",
            "process_properties.yaml:10:16: resource \"p\": properties.cwd: \" \" is empty",
            "process_properties.yaml:11:16: resource \"p\": properties.log: \"\" is empty",
            "process_properties.yaml:12:16: resource \"p\": properties.env: item 2: \"NOEQUALS\" \
             is not KEY=VALUE (a name, '=', then the value)",
            "process_properties.yaml:13:22: resource \"p\": properties.check_tcp: \
             \"127.0.0.1:99999\": port 99999 is not within 1..=65535",
            "process_properties.yaml:14:23: resource \"p\": properties.stop_grace: 2h is above \
             the maximum 1h",
            "process_properties.yaml:15:17: resource \"p\": properties.user: \"\" is empty",
            "process_properties.yaml:18:46: resource \"q\": properties.check_tcp: \"localhost\" \
             is not HOST:PORT: write HOST:PORT, like 127.0.0.1:7000 or [::1]:7000",
        ],
    );
}

#[test]
fn i10_8_a_node_address_is_host_port_and_a_fence_is_a_command() {
    assert_errors(
        "node_fields.yaml",
        &[
            "node_fields.yaml:2:25: node \"a\": address: \"127.0.0.1:99999\": port 99999 is not \
             within 1..=65535",
            "node_fields.yaml:3:25: node \"b\": address: \"osdb-back\" is not HOST:PORT: write \
             HOST:PORT, like 127.0.0.1:7000 or [::1]:7000",
            "node_fields.yaml:4:25: node \"c\": address: \"::1:7701\": an IPv6 address goes in \
             brackets, like [::1]:7000",
            "node_fields.yaml:5:34: node \"d\": fence.command: is empty: give the program's \
             absolute path",
            "node_fields.yaml:8:23: node \"g\": fence: \"touch /tmp/fenced\" is a command line \
             as text, which nonstop never ran: give {agent: fence_NAME, params: {...}} or \
             {command: /path/to/program, args: [...]}",
            "node_fields.yaml:9:63: node \"h\": fence.params.action: is nonstop's to give: use \
             fence.action (off or reboot)",
        ],
    );
}

#[test]
fn with_fencing_required_every_node_that_runs_groups_needs_a_fence_method() {
    assert_errors(
        "fencing_required.yaml",
        &[
            "fencing_required.yaml:4:5: node \"b\": fence: fencing is required (fencing: \
           required), so every node that runs groups needs a fence method: give fence: {agent: \
           ..., params: {...}} or {command: ..., args: [...]}, or set fencing: lease",
        ],
    );
}

#[test]
fn i10_8_every_duration_keeps_within_its_range() {
    assert_errors(
        "durations.yaml",
        &[
            "durations.yaml:6:17: timing: node_timeout 18446744073709551s is not within 1ms..=10m",
            "durations.yaml:9:16: settings: startup_grace: 2h is not within 0s..=1h",
            "durations.yaml:14:29: type \"t\": timings.looks_alive: 0s is not within 10ms..=1h",
            "durations.yaml:18:41: group \"G\": failover_limit.window: 0s is not within \
             1s..=720h",
            "durations.yaml:25:37: resource \"r\": timings.pending_timeout: 0s is not within \
             100ms..=24h",
            "durations.yaml:29:39: resource \"s\": timings.restart.window: 0s is not within \
             1s..=720h",
        ],
    );
}

#[test]
fn i10_8_a_group_whose_owners_are_all_witnesses_is_refused() {
    // A witness runs no resources: such a group could never run. Its resources are still
    // checked.
    assert_errors(
        "witness_owners.yaml",
        &[
            "witness_owners.yaml:7:13: group \"G\": owners: every owner is a witness, and a \
             witness runs no resources: the group could never run",
            "witness_owners.yaml:9:58: resource \"r\": properties.command: \"\" is empty",
        ],
    );
}

#[test]
fn i10_8_an_ocf_agent_is_named_inside_the_ocf_folder() {
    // The agent runs from /usr/lib/ocf/resource.d/<provider>/<agent>: refused at apply, not
    // only when a node opens it.
    for spec in ["../../bin:sh", "heartbeat:", "heartbeat:a/b", ":Dummy"] {
        let text = format!("nodes: [{{name: a}}]\ntypes:\n  - {{ name: x, ocf: \"{spec}\" }}\n");
        let err = config::check("c.yaml", &text).unwrap_err();
        let want = format!(
            "c.yaml:3:21: type \"x\": ocf: {spec:?}: the provider and the agent are file \
             names under /usr/lib/ocf/resource.d: not empty, without '/', not . or .."
        );
        assert_eq!(err[0].to_string(), want);
    }
}

#[test]
fn every_fault_of_every_alert_is_named_at_its_value() {
    assert_errors(
        "alerts.yaml",
        &[
            "alerts.yaml:4:13: alerts[1].name: \"log\" is used twice",
            "alerts.yaml:4:24: alerts[1].path: \"alert_file.sh\" is not an absolute path",
            "alerts.yaml:5:13: alerts[2].name: \"\": use 1 to 63 letters, digits, '_', '-', '.' \
             or ':', starting with a letter or a digit",
            "alerts.yaml:5:55: alerts[2].kinds[2]: \"node\" is listed twice",
            "alerts.yaml:6:66: alerts[3].recipients[1]: is empty: leave recipients out to run \
             the agent once without one",
            "alerts.yaml:6:78: alerts[3].kinds: lists no kind: leave it out for node, resource \
             and fencing",
            "alerts.yaml:6:91: alerts[3].timeout: 500ms is not within 1s..=10m",
        ],
    );
}

#[test]
fn an_unknown_alert_kind_is_named_with_the_kinds_there_are() {
    assert_errors(
        "alert_kind.yaml",
        &[
            "alert_kind.yaml:3:60: alerts[0].kinds[1]: unknown kind \"nodes\"; expected one of \
           node, resource, fencing, group, drill",
        ],
    );
}
