//! `exec` plug-ins: the example shell plug-in (examples/plugins/sleeper) through the registry,
//! the conformance suite with a hung online, and the protocol's error paths.

mod common;

use common::{assert_passed, context, props};
use nonstop_resource_types::conformance::Suite;
use nonstop_resource_types::{Health, Registry, RegistryConfig};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins")
}

fn registry(dirs: Vec<PathBuf>) -> Registry {
    Registry::new(RegistryConfig {
        plugin_dirs: dirs,
        ..RegistryConfig::default()
    })
}

fn write_plugin(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn the_example_plugin_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(vec![examples()]);
    assert!(
        reg.list().iter().any(|l| l.name == "sleeper"),
        "{:?}",
        reg.list()
    );
    let def = reg.type_def("sleeper").await.unwrap();
    assert_eq!(
        def.schema.get("start_delay").unwrap().max,
        Some(nonstop_contract::Bound::Int(3600))
    );
    let h = reg.handler_for(&def).unwrap();
    let report = Suite::new(h.as_ref(), props(&[("message", "hi")]), dir.path().into())
        .step_limit(Duration::from_secs(10))
        .hung_online(props(&[("start_delay", "3600")]))
        .test_all()
        .await;
    assert_passed(&report, 11);
}

#[tokio::test]
async fn schema_errors_name_the_property_and_plugin_validate_is_run() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(vec![examples()]);
    let exec = nonstop_contract::HandlerRef::Exec("sleeper".into());
    let h = reg.handler("sleeper", &exec).await.unwrap();
    let err = h
        .open(context("s", props(&[("start_delay", "-1")]), dir.path()).0)
        .await;
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("\"start_delay\": -1 is below the minimum 0"),
        "{err}"
    );
    let err = h
        .open(context("s", props(&[("message", "a\nb")]), dir.path()).0)
        .await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("message: must be one line"), "{err}");
}

#[tokio::test]
async fn the_footprint_stops_what_a_dead_agent_left() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(vec![examples()]);
    let h = reg
        .handler_for(&reg.type_def("sleeper").await.unwrap())
        .unwrap();
    let mut r = h
        .open(context("left", props(&[]), dir.path()).0)
        .await
        .unwrap();
    r.online().await.unwrap();
    let footprint = r.footprint();
    assert_eq!(footprint.cleanup_commands.len(), 1);
    drop(r); // the agent died without stopping it
    h.clean_up(&footprint).await;
    let mut fresh = h
        .open(context("left", props(&[]), dir.path()).0)
        .await
        .unwrap();
    assert!(matches!(fresh.looks_alive().await, Health::Dead(_)));
}

#[tokio::test]
async fn broken_plugins_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "junk", "echo 'not json'");
    write_plugin(dir.path(), "failing", "echo 'cannot' >&2; exit 1");
    let reg = registry(vec![dir.path().into()]);
    let err = reg.type_def("junk").await.unwrap_err().to_string();
    assert!(
        err.contains("junk") && err.contains("output is not the schema"),
        "{err}"
    );
    let err = reg.type_def("failing").await.unwrap_err().to_string();
    assert!(err.contains("exit code 1: cannot"), "{err}");
    let err = reg.type_def("nothing-here").await.unwrap_err().to_string();
    assert!(
        err.contains("unknown resource type") && err.contains("nothing-here"),
        "{err}"
    );
    let err = reg.type_def("../junk").await.unwrap_err().to_string();
    assert!(err.contains("unknown resource type"), "{err}");
}

/// Issue 17, item 8: a type defined in the cluster's configuration as `exec: PATH` declares none
/// of the plug-in's properties; the plug-in's own defaults (`message: hello`) must still reach
/// it, or its is-alive fails ("log is empty") ten seconds after every start.
#[tokio::test]
async fn i17_8_the_plugins_own_defaults_reach_a_type_defined_in_the_cluster() {
    use nonstop_contract::{HandlerRef, Schema, TypeDef};
    use nonstop_resource_types::ResourceHandler;
    use nonstop_resource_types::exec::ExecHandler;
    let dir = tempfile::tempdir().unwrap();
    let program = examples().join("sleeper").canonicalize().unwrap();
    // What `types: [{name: sleeper, exec: PATH}]` makes: no properties of its own.
    let def = TypeDef {
        name: "sleeper".into(),
        handler: HandlerRef::Exec(program.display().to_string()),
        schema: Schema::default(),
        timings: Default::default(),
        description: String::new(),
        stop: Default::default(),
        reconfigures: false,
    };
    let h = ExecHandler::new(def, program);
    let (ctx, _failures) = context("s", props(&[]), dir.path());
    let mut r = h.open(ctx).await.unwrap();
    r.online().await.unwrap();
    assert_eq!(r.is_alive().await, Health::Alive);
    let log = std::fs::read_to_string(dir.path().join("sleeper-s.pid.log")).unwrap();
    assert_eq!(log.trim(), "hello");
    r.terminate().await;
}
