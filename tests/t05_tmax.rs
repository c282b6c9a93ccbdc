//! The Tmax environment file, end to end: every example of the manual chapter, the import
//! mapping, the `cfl`-style errors, and the `nonstop tmax` command line.
//!
//! Fixtures (tests/fixtures/tmax/):
//! - manual/: the manual's examples, verbatim. Those with typos or elisions have a NAME.expect
//!   with the errors nonstop must report (`LINE:COL CODE`); the others must import.
//! - corrected/: the failing examples with the typos fixed (first line says what): must import.
//! - bad/: one file per family of errors; `# expect L:C CODE` and `# warn L:C CODE` lines at
//!   the end list exactly what `check` must report.
//! - good/mapping.m: every part of the mapping, asserted on below.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use nonstop::tmax::{self, Finding, Severity};
use nonstop_contract::{Millis, RestartMode, Value};
use nonstop_controller::config::{ClusterFile, to_ops};
use nonstop_controller::db::model::{Load, Target};
use nonstop_controller::{ClusterDb, Command, Op, Time};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tmax")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "m"))
        .collect();
    files.sort();
    files
}

fn codes(findings: &[Finding], severity: Severity) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| {
            let code = f.diag.code.clone().unwrap_or_default();
            format!("{}:{} {code}", f.diag.line, f.diag.column)
        })
        .collect()
}

/// Imports a file and applies it to an empty cluster database, as `nonstop apply` will.
fn import_and_apply(path: &Path) -> ClusterFile {
    let (cluster, _warnings) = tmax::import_path(path).unwrap_or_else(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{} does not import:\n{}", path.display(), shown.join("\n"))
    });
    let ops = to_ops(&cluster).unwrap_or_else(|e| panic!("{}: to_ops: {e}", path.display()));
    let cmd = Command::operator(Time(0), "test", Op::Batch(ops));
    ClusterDb::new()
        .apply(cmd)
        .unwrap_or_else(|e| panic!("{}: apply: {e}", path.display()));
    cluster
}

#[test]
fn every_manual_example_imports_or_reports_the_manuals_own_typos() {
    let mut imported = 0;
    for path in fixtures("manual") {
        let expect = path.with_extension("expect");
        if expect.exists() {
            let want: Vec<String> = fs::read_to_string(&expect)
                .expect("expect file")
                .lines()
                .map(str::to_string)
                .collect();
            let checked = tmax::check_path(&path);
            let got = codes(&checked.findings, Severity::Error);
            assert_eq!(got, want, "{}", path.display());
            let fixed = path
                .parent()
                .unwrap()
                .join("../corrected")
                .join(path.file_name().unwrap());
            import_and_apply(&fixed);
        } else {
            import_and_apply(&path);
        }
        imported += 1;
    }
    assert_eq!(imported, 15, "the chapter has 15 complete example files");
}

#[test]
fn every_corrected_example_imports_and_applies() {
    let files = fixtures("corrected");
    assert_eq!(files.len(), 11);
    for path in files {
        import_and_apply(&path);
    }
}

#[test]
fn bad_files_report_exactly_the_expected_errors_and_warnings() {
    let files = fixtures("bad");
    assert!(files.len() >= 6);
    for path in files {
        let text = fs::read_to_string(&path).expect("fixture");
        let listed = |tag: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(tag))
                .map(str::to_string)
                .collect()
        };
        let checked = tmax::check_path(&path);
        assert!(checked.has_errors(), "{}", path.display());
        let errors = codes(&checked.findings, Severity::Error);
        assert_eq!(errors, listed("# expect "), "{}", path.display());
        let warnings = codes(&checked.findings, Severity::Warning);
        assert_eq!(warnings, listed("# warn "), "{}", path.display());
        assert!(
            tmax::import_path(&path).is_err(),
            "{} imported",
            path.display()
        );
    }
}

#[test]
fn the_manuals_cousin_rules_print_like_cfl() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax/bad");
    let checked = tmax::check_path(&dir.join("cousin_and_backup.m"));
    let line = checked.findings[0].to_string();
    assert!(
        line.ends_with(":10:26: CFL0309: server group svg3 is defined as both COUSIN and BACKUP"),
        "{line}"
    );
    let checked = tmax::check_path(&dir.join("duplicate_cousin.m"));
    let line = checked.findings[0].to_string();
    assert!(line.contains(":12:26: CFL0310: server group svg3 is defined as duplicate COUSIN"));
}

fn mapping() -> ClusterFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax/good/mapping.m");
    import_and_apply(&path)
}

fn group<'a>(c: &'a ClusterFile, name: &str) -> &'a nonstop_controller::config::file::GroupEntry {
    c.groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn resource<'a>(
    c: &'a ClusterFile,
    name: &str,
) -> &'a nonstop_controller::config::file::ResourceEntry {
    c.groups
        .iter()
        .flat_map(|g| &g.resources)
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no resource {name}"))
}

#[test]
fn backup_groups_add_their_nodes_in_order_and_are_not_groups() {
    let c = mapping();
    assert_eq!(group(&c, "svg1").owners, ["tmaxh4", "tmaxh2", "tmaxh3"]);
    assert!(
        c.groups
            .iter()
            .all(|g| g.name != "svg1b" && g.name != "svg1c")
    );
    assert_eq!(group(&c, "gw1").owners, ["tmaxh4", "tmaxh1"]);
    assert!(c.groups.iter().all(|g| g.name != "gw1b"));
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["svg1", "svg2", "svg3", "svg4", "svg5", "gw1"]);
}

#[test]
fn nodes_keep_autobackup() {
    let c = mapping();
    let auto: Vec<(&str, bool)> = c
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.autobackup))
        .collect();
    assert_eq!(
        auto,
        [
            ("tmaxh4", true),
            ("tmaxh2", false),
            ("tmaxh3", true),
            ("tmaxh1", true)
        ]
    );
}

#[test]
fn cousins_carry_load_with_the_manuals_default_of_one() {
    let c = mapping();
    assert_eq!(c.cousins.len(), 1);
    let loads: Vec<(&str, Load)> = c.cousins[0]
        .members
        .iter()
        .map(|m| (m.group.as_str(), m.load))
        .collect();
    assert_eq!(
        loads,
        [
            ("svg2", Load::LocalFirst),
            ("svg3", Load::Weight(1)),
            ("svg4", Load::Standby),
            ("gw1", Load::Weight(2)),
        ]
    );
}

#[test]
fn servers_become_process_resources() {
    let c = mapping();
    let svr1 = resource(&c, "svr1");
    assert_eq!(svr1.type_name, "process");
    let p = &svr1.properties;
    assert_eq!(p["command"], Value::Str("/home/tmax/appbin/svr1".into()));
    let args = ["-e", "err1", "-o", "out1", "--", "svr1", "1"]
        .map(String::from)
        .to_vec();
    assert_eq!(p["args"], Value::List(args));
    assert_eq!(
        p["instances"],
        Value::Int(2),
        "MIN from the SERVER DEFAULT: label"
    );
    let svr2 = resource(&c, "svr2");
    assert_eq!(
        svr2.properties["command"],
        Value::Str("/home/tmax/appbin/svr1".into())
    );
    let svr5 = resource(&c, "svr5");
    assert_eq!(
        svr5.properties["command"],
        Value::Str("/opt/tmax/appbin/svr5".into())
    );
    assert_eq!(
        resource(&c, "svr3").target,
        Some(Target::Offline),
        "MIN = 0"
    );
    assert_eq!(
        resource(&c, "svr4").target,
        Some(Target::Offline),
        "DUMMY = Y"
    );
    assert_eq!(svr1.target, None);
}

/// Manual 3.8.2: a server's restarts follow the SERVER section (its entry and `DEFAULT:`);
/// the NODE's and SVRGROUP's items govern the engine's and the TMS's processes.
#[test]
fn restart_limits_come_from_the_server_and_the_servers_defaults_only() {
    let c = mapping();
    let policy = |r: &str| resource(&c, r).timings.expect("timings").restart;
    let svr1 = policy("svr1");
    assert_eq!(svr1.mode, RestartMode::Restart);
    assert_eq!(
        (svr1.limit, svr1.window),
        (Some(5), Millis::secs(86_400)),
        "node MAXRSTART 7 and group GPERIOD 300 do not apply"
    );
    let svr2 = policy("svr2");
    assert_eq!(
        (svr2.limit, svr2.window),
        (None, Millis::secs(86_400)),
        "MAXRSTART -1"
    );
    let svr3 = policy("svr3");
    assert_eq!(
        (svr3.limit, svr3.window),
        (Some(0), Millis::secs(86_400)),
        "RESTART = N"
    );
    let svr5 = policy("svr5");
    assert_eq!(
        (svr5.limit, svr5.window),
        (Some(5), Millis::secs(86_400)),
        "defaults"
    );
}

#[test]
fn services_point_at_the_group_of_their_server_or_gateway() {
    let c = mapping();
    let s: Vec<(&str, &str)> = c
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.group.as_str()))
        .collect();
    assert_eq!(s, [("SVC1", "svg1"), ("SVC2", "svg2"), ("GWSVC", "gw1")]);
}

#[test]
fn gateways_are_typed_resources_in_groups_of_their_own() {
    let c = mapping();
    assert_eq!(c.types[0].name, "tmax-gateway");
    assert_eq!(c.types[0].base.as_deref(), Some("process"));
    let gw = resource(&c, "gw1");
    assert_eq!(gw.type_name, "tmax-gateway");
    assert_eq!(gw.properties["gwtype"], Value::Str("TMAXNONTX".into()));
    assert_eq!(gw.properties["rgwportno"], Value::Int(6688));
}

fn nonstop(args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(args)
        .output()
        .expect("run nonstop")
}

#[test]
fn check_exits_zero_on_a_good_file_and_one_on_a_bad_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax");
    let good = root.join("manual/m3_2_10_basic.m");
    let out = nonstop(&["tmax", "check", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = root.join("bad/cousin_and_backup.m");
    let out = nonstop(&["tmax", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cousin_and_backup.m:10:26: CFL0309: "),
        "{stderr}"
    );
}

#[test]
fn import_writes_the_file_only_when_there_is_no_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax");
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("cluster.yaml");
    let out = dir
        .path()
        .join("cluster.yaml")
        .to_str()
        .unwrap()
        .to_string();
    let bad = root.join("bad/limits.m");
    let run = nonstop(&["tmax", "import", bad.to_str().unwrap(), "-o", &out]);
    assert_eq!(run.status.code(), Some(1));
    assert!(!out_path.exists(), "nothing is written for a bad file");
    let good = root.join("manual/m3_2_10_basic.m");
    let run = nonstop(&["tmax", "import", good.to_str().unwrap(), "-o", &out]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let yaml = fs::read_to_string(&out_path).expect("written");
    let back: ClusterFile = yaml_serde::from_str(&yaml).expect("a cluster.yaml");
    assert_eq!(group(&back, "svg3").owners, ["tmax2"]);
    assert_eq!(back.cousins[0].name, "svg3");
    let stdout = nonstop(&["tmax", "import", good.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&stdout.stdout),
        yaml,
        "stdout without -o"
    );
}

#[test]
fn a_missing_file_is_one_clear_error() {
    let out = nonstop(&["tmax", "check", "/nonexistent/env.m"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("/nonexistent/env.m:1:1: NST0001: "),
        "{stderr}"
    );
}

const TWO_NODES: &str = "*DOMAIN\nd SHMKEY = 77990\n*NODE\nn1 TMAXDIR = \"/t\", APPDIR = \"/a\"\n\
                         n2 TMAXDIR = \"/t\", APPDIR = \"/a\"\nn3 TMAXDIR = \"/t\", APPDIR = \"/a\"\n";

fn with_groups(groups: &str) -> String {
    format!("{TWO_NODES}*SVRGROUP\n{groups}*SERVER\ns1 SVGNAME = g1\n*SERVICE\nV1 SVRNAME = s1\n")
}

#[test]
fn one_group_may_give_cousin_and_backup_when_they_name_different_groups() {
    // Manual 3.2.3 COUSIN: "COUSIN과 BACKUP을 함께 지정할 수 있는데 이 경우 COUSIN, BACKUP
    // 각각 다른 서버 그룹이어야 한다."
    let ok = with_groups(
        "g1 NODENAME = n1, COUSIN = \"g2\", BACKUP = \"g3\"\ng2 NODENAME = n2\ng3 NODENAME = n3\n",
    );
    let (cluster, warnings) = tmax::import_source("ok.m", &ok).expect("imports");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(group(&cluster, "g1").owners, ["n1", "n3"]);
    assert_eq!(cluster.cousins[0].members.len(), 2);
    let ops = to_ops(&cluster).expect("ops");
    ClusterDb::new()
        .apply(Command::operator(Time(0), "test", Op::Batch(ops)))
        .expect("applies");
    let bad = with_groups("g1 NODENAME = n1, COUSIN = \"g2\", BACKUP = \"g2\"\ng2 NODENAME = n2\n");
    let errors = tmax::import_source("bad.m", &bad).expect_err("CFL0309");
    assert_eq!(codes(&errors, Severity::Error), ["8:28 CFL0309"]);
}

/// Tmax allows a GPERIOD up to MAX_INT seconds; nonstop's restart window stops at 30 days
/// (docs/configuration.md). A longer one imports as 30 days, with a warning at the item, so
/// that the imported cluster applies.
#[test]
fn i10_8_a_gperiod_beyond_thirty_days_imports_as_thirty_days_with_a_warning() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax/good/mapping.m");
    let src = fs::read_to_string(path).unwrap().replace(
        "RESTART = N, MIN = 0",
        "RESTART = N, GPERIOD = 2592001, MIN = 0",
    );
    let (cluster, findings) = tmax::import_source("m.m", &src).unwrap_or_else(|e| {
        panic!(
            "{:?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    let warned: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        warned.contains(
            &"m.m:24:48: warning: NST0039: \"svr3\": GPERIOD = 2592001 s is longer than the \
              longest restart window, 30 days (2592000 s): imported as 30 days"
                .to_string()
        ),
        "{warned:?}"
    );
    let svr3 = resource(&cluster, "svr3").timings.expect("timings").restart;
    assert_eq!(svr3.window, Millis::secs(30 * 86_400));
    let ops = to_ops(&cluster).unwrap();
    let cmd = Command::operator(Time(0), "test", Op::Batch(ops));
    ClusterDb::new()
        .apply(cmd)
        .expect("the imported cluster applies");
}

/// A gateway in a cousin set that is also somebody's BACKUP is named a gateway in CFL0309
/// (the manual's message speaks of server groups because its example has only those).
#[test]
fn cfl0309_names_a_gateway_a_gateway() {
    let src = format!(
        "{TWO_NODES}*SVRGROUP\ng1 NODENAME = n1, COUSIN = \"gw1\"\n*SERVER\ns1 SVGNAME = g1\n\
         *SERVICE\nV1 SVRNAME = s1\n*GATEWAY\n\
         gw1 NODENAME = n1, GWTYPE = TMAXNONTX, PORTNO = 7788, RGWADDR = \"127.0.0.1\", RGWPORTNO = 6688\n\
         gw2 NODENAME = n2, GWTYPE = TMAXNONTX, PORTNO = 7788, RGWADDR = \"127.0.0.1\", RGWPORTNO = 6688, BACKUP = gw1\n"
    );
    let errors = tmax::import_source("gw.m", &src).expect_err("CFL0309");
    let msgs: Vec<&str> = errors
        .iter()
        .filter(|f| f.diag.code.as_deref() == Some("CFL0309"))
        .map(|f| f.diag.message.as_str())
        .collect();
    assert_eq!(
        msgs,
        ["gateway gw1 is defined as both COUSIN and BACKUP"],
        "{errors:?}"
    );
}

/// A SERVER DEFAULT of MIN = 0 is one warning at the DEFAULT naming every server it reaches,
/// not one per server on the same line.
#[test]
fn min_zero_from_a_default_is_one_warning_naming_every_server() {
    let src = format!(
        "{TWO_NODES}*SVRGROUP\ng1 NODENAME = n1\n*SERVER\nDEFAULT: MIN = 0\ns1 SVGNAME = g1\n\
         s2 SVGNAME = g1\ns3 SVGNAME = g1, MIN = 0\n*SERVICE\nV1 SVRNAME = s1\n"
    );
    let (_, warnings) = tmax::import_source("min.m", &src).expect("imports");
    let zero: Vec<String> = warnings
        .iter()
        .filter(|f| f.diag.code.as_deref() == Some("NST0036"))
        .map(|f| f.diag.message.clone())
        .collect();
    assert_eq!(zero.len(), 2, "{zero:?}");
    assert!(
        zero[0].contains("servers \"s1\", \"s2\": MIN = 0 (from DEFAULT)"),
        "{zero:?}"
    );
    assert!(zero[1].contains("server \"s3\": MIN = 0"), "{zero:?}");
}

fn imported(name: &str, src: &str) -> (ClusterFile, Vec<Finding>) {
    let (cluster, warnings) = tmax::import_source(name, src).unwrap_or_else(|e| {
        panic!(
            "{:?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    let ops = to_ops(&cluster).expect("ops");
    ClusterDb::new()
        .apply(Command::operator(Time(0), "test", Op::Batch(ops)))
        .expect("the imported cluster applies");
    (cluster, warnings)
}

fn str_prop<'a>(r: &'a nonstop_controller::config::file::ResourceEntry, key: &str) -> &'a Value {
    &r.properties[key]
}

/// Manual 3.5.1 (COUSIN: "각 노드의 APPDIR에는 필요한 서버 프로그램이 존재해야 한다") and
/// 3.8.1 ("부하 조절을 위해 이중 복사된 서버 그룹"): a cousin group runs copies of the
/// original group's servers, with its own APPDIR and its node's TMAXDIR.
#[test]
fn i14_1_cousin_groups_run_copies_of_the_original_groups_servers() {
    let src = "*DOMAIN\nd SHMKEY = 77990\n*NODE\nn1 TMAXDIR = \"/t1\", APPDIR = \"/a1\"\n\
         n2 TMAXDIR = \"/t2\", APPDIR = \"/a2\"\nn3 TMAXDIR = \"/t3\", APPDIR = \"/a3\"\n\
         *SVRGROUP\ng1 NODENAME = n1, COUSIN = \"g2, g3\", LOAD = 2\ng2 NODENAME = n2\n\
         g3 NODENAME = n3, APPDIR = \"/g3bin\"\n\
         *SERVER\ns1 SVGNAME = g1, MIN = 3, CLOPT = \"-x\"\ns2 SVGNAME = g1, TARGET = prog\n\
         *SERVICE\nV1 SVRNAME = s1\nV2 SVRNAME = s2\n";
    let (c, _) = imported("c.m", src);
    let names = |g: &str| -> Vec<String> {
        group(&c, g)
            .resources
            .iter()
            .map(|r| r.name.clone())
            .collect()
    };
    assert_eq!(names("g1"), ["s1", "s2"]);
    assert_eq!(names("g2"), ["s1.g2", "s2.g2"]);
    assert_eq!(names("g3"), ["s1.g3", "s2.g3"]);
    let copy = resource(&c, "s1.g2");
    assert_eq!(str_prop(copy, "command"), &Value::Str("/a2/s1".into()));
    assert_eq!(str_prop(copy, "cwd"), &Value::Str("/a2".into()));
    assert_eq!(
        str_prop(copy, "env"),
        &Value::List(vec!["TMAXDIR=/t2".into()])
    );
    assert_eq!(str_prop(copy, "instances"), &Value::Int(3));
    assert_eq!(str_prop(copy, "args"), &Value::List(vec!["-x".into()]));
    let g3 = resource(&c, "s2.g3");
    assert_eq!(str_prop(g3, "command"), &Value::Str("/g3bin/prog".into()));
    // Services still name the original group, whose cousin set resolves them to every member.
    let s: Vec<(&str, &str)> = c
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.group.as_str()))
        .collect();
    assert_eq!(s, [("V1", "g1"), ("V2", "g1")]);
    let members: Vec<&str> = c.cousins[0]
        .members
        .iter()
        .map(|m| m.group.as_str())
        .collect();
    assert_eq!(members, ["g1", "g2", "g3"]);
    // Started, the service resolves to every member: each now runs something.
    let sim = nonstop_controller::sim::Simulator::start(&c).expect("simulated");
    let r = nonstop_controller::policy::service::resolve(&sim.db, "V1", None).expect("resolves");
    let mut nodes: Vec<&str> = r.routes.iter().map(|r| r.node.as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["n1", "n2", "n3"], "{r:?}");
}

#[test]
fn i14_1_a_copy_name_taken_by_a_server_is_an_error() {
    let src = format!(
        "{TWO_NODES}*SVRGROUP\ng1 NODENAME = n1, COUSIN = \"g2\"\ng2 NODENAME = n2\n\
         *SERVER\ns1 SVGNAME = g1\ns1.g2 SVGNAME = g2\n*SERVICE\nV1 SVRNAME = s1\n"
    );
    let errors = tmax::import_source("clash.m", &src).expect_err("a clash");
    assert_eq!(
        codes(&errors, Severity::Error),
        ["12:1 NST0041"],
        "{errors:?}"
    );
    assert!(
        errors[0].diag.message.contains(
            "\"s1.g2\" is the name nonstop gives the copy of server \"s1\" in cousin group \"g2\""
        ),
        "{errors:?}"
    );
}

/// Manual 3.8.1: "서버 그룹과 서버의 환경 옵션은 기본적으로 원본 서버 그룹의 환경을 그대로
/// 따르며, 환경 옵션을 변경하고자 하는 경우 서버 그룹이나 서버별로 관련 항목들을 재정의할
/// 수 있다": on each BACKUP node the servers run with the backup group's APPDIR (or its node's)
/// and that node's TMAXDIR.
#[test]
fn i14_2_backup_nodes_run_the_servers_with_the_backups_settings() {
    let src = "*DOMAIN\nd SHMKEY = 77990\n*NODE\nn1 TMAXDIR = \"/t1\", APPDIR = \"/a1\"\n\
               n2 TMAXDIR = \"/t2\", APPDIR = \"/a2\"\nn3 TMAXDIR = \"/t1\", APPDIR = \"/a1\"\n\
               n4 TMAXDIR = \"/t1\", APPDIR = \"/a1\"\n\
               *SVRGROUP\ng1 NODENAME = n1, BACKUP = \"b2, b3, b4\"\nb2 NODENAME = n2\n\
               b3 NODENAME = n3, APPDIR = \"/b3bin\"\nb4 NODENAME = n4\n\
               *SERVER\ns1 SVGNAME = g1\n*SERVICE\nV1 SVRNAME = s1\n";
    let (c, _) = imported("b.m", src);
    let s1 = resource(&c, "s1");
    assert_eq!(str_prop(s1, "command"), &Value::Str("/a1/s1".into()));
    let on = |n: &str| s1.node_properties.get(n).cloned().unwrap_or_default();
    let n2 = on("n2");
    assert_eq!(n2["command"], Value::Str("/a2/s1".into()));
    assert_eq!(n2["cwd"], Value::Str("/a2".into()));
    assert_eq!(n2["env"], Value::List(vec!["TMAXDIR=/t2".into()]));
    let n3 = on("n3");
    assert_eq!(n3["command"], Value::Str("/b3bin/s1".into()));
    assert_eq!(n3["cwd"], Value::Str("/b3bin".into()));
    assert!(!n3.contains_key("env"), "same TMAXDIR: {n3:?}");
    assert!(
        !s1.node_properties.contains_key("n4"),
        "nothing differs on n4"
    );
}

/// Manual 3.8.2: NODE RESTART/MAXRSTART/GPERIOD govern CLH, CAS, CLL and TLM; SVRGROUP ones
/// govern TMS (or RQ); a server follows the SERVER section's items, MAXRSTART defaulting to 5.
#[test]
fn i14_3_node_and_group_restart_items_do_not_reach_servers() {
    let src = "*DOMAIN\nd SHMKEY = 77990\n*NODE\nDEFAULT: MAXRSTART = 7\n\
               n1 TMAXDIR = \"/t\", APPDIR = \"/a\", GPERIOD = 600\n\
               n2 TMAXDIR = \"/t\", APPDIR = \"/a\"\n\
               *SVRGROUP\ng1 NODENAME = n1, RESTART = N\n\
               *SERVER\nDEFAULT: GPERIOD = 120\ns1 SVGNAME = g1\ns2 SVGNAME = g1, MAXRSTART = 2\n\
               *SERVICE\nV1 SVRNAME = s1\n";
    let (c, warnings) = imported("r.m", src);
    let policy = |r: &str| resource(&c, r).timings.expect("timings").restart;
    assert_eq!(
        (policy("s1").limit, policy("s1").window),
        (Some(5), Millis::secs(120))
    );
    assert_eq!(
        (policy("s2").limit, policy("s2").window),
        (Some(2), Millis::secs(120))
    );
    let got = codes(&warnings, Severity::Warning);
    assert_eq!(got, ["4:10 NST0040", "5:35 NST0040", "8:19 NST0040"]);
    let msgs: Vec<&str> = warnings.iter().map(|w| w.diag.message.as_str()).collect();
    assert!(msgs[0].contains("nodes \"n1\", \"n2\""), "{msgs:?}");
    assert!(msgs[0].contains("CLH, CAS, CLL and TLM"), "{msgs:?}");
    assert!(msgs[2].contains("TMS"), "{msgs:?}");
}

/// Manual 3.2.3 LOAD = -1: "COUSIN 에 속해 있는 도메인 게이트웨이는 호출되지 않는다": the
/// gateways of a local-only cousin set are left out of it, with a warning.
#[test]
fn i14_4_gateways_are_not_called_in_a_local_only_cousin_set() {
    let src = format!(
        "{TWO_NODES}*SVRGROUP\ng1 NODENAME = n1, COUSIN = \"g2, gw1, gw2\", LOAD = -1\n\
         g2 NODENAME = n2, LOAD = -1\n*SERVER\ns1 SVGNAME = g1\n*SERVICE\nV1 SVRNAME = s1\n\
         *GATEWAY\n\
         gw1 NODENAME = n1, LOAD = -1, GWTYPE = TMAXNONTX, PORTNO = 7788, RGWADDR = \"127.0.0.1\", RGWPORTNO = 6688\n\
         gw2 NODENAME = n2, LOAD = -1, GWTYPE = TMAXNONTX, PORTNO = 7788, RGWADDR = \"127.0.0.1\", RGWPORTNO = 6688\n"
    );
    let (c, warnings) = imported("l.m", &src);
    let members: Vec<&str> = c.cousins[0]
        .members
        .iter()
        .map(|m| m.group.as_str())
        .collect();
    assert_eq!(members, ["g1", "g2"]);
    assert_eq!(codes(&warnings, Severity::Warning), ["8:28 NST0042"]);
    assert!(
        warnings[0]
            .diag
            .message
            .contains("gateways \"gw1\", \"gw2\""),
        "{warnings:?}"
    );
    // Gateways remain groups of their own.
    group(&c, "gw1");
}

#[test]
fn i14_1_two_copies_with_one_name_are_an_error() {
    let src = format!(
        "{TWO_NODES}*SVRGROUP\ng1 NODENAME = n1, COUSIN = \"c\"\nc NODENAME = n2\n\
         g2 NODENAME = n1, COUSIN = \"b.c\"\nb.c NODENAME = n3\n\
         *SERVER\na.b SVGNAME = g1\na SVGNAME = g2\n*SERVICE\nV1 SVRNAME = a\n"
    );
    let errors = tmax::import_source("twice.m", &src).expect_err("a clash");
    assert_eq!(
        codes(&errors, Severity::Error),
        ["13:1 NST0041"],
        "{errors:?}"
    );
}
