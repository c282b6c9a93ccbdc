//! `tmax-node` against the stand-in tmboot/tmdown (tests/fixtures/tmax-standin/: Tmax itself
//! is proprietary), which start and stop a loopback listener on TPORTNO.

mod common;

use common::{assert_passed, context, props};
use nonstop_contract::builtin;
use nonstop_resource_types::conformance::Suite;
use nonstop_resource_types::process::tcp_answers;
use nonstop_resource_types::tmax_node::TmaxNodeHandler;
use nonstop_resource_types::{Health, ResourceHandler};
use std::path::Path;
use std::time::Duration;

/// A TMAXDIR whose bin/ holds the stand-in tools.
fn tmaxdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tmax-standin");
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    for tool in ["tmboot", "tmdown"] {
        std::os::unix::fs::symlink(fixtures.join(tool), dir.path().join("bin").join(tool)).unwrap();
    }
    dir
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn node_props(dir: &Path, port: u16) -> nonstop_contract::Properties {
    props(&[
        ("node", "node1"),
        ("tmaxdir", dir.to_str().unwrap()),
        ("tportno", &port.to_string()),
    ])
}

#[tokio::test]
async fn tmax_node_passes_the_conformance_suite() {
    let dir = tmaxdir();
    let h = TmaxNodeHandler::new(builtin::tmax_node());
    let p = node_props(dir.path(), free_port());
    let mut hang = node_props(dir.path(), free_port());
    hang.insert(
        "boot_command".into(),
        nonstop_contract::Value::Str("sleep 3600".into()),
    );
    let report = Suite::new(&h, p, dir.path().into())
        .step_limit(Duration::from_secs(15))
        .hung_online(hang)
        .test_all()
        .await;
    assert_passed(&report, 11);
}

#[tokio::test]
async fn the_footprint_downs_a_node_a_dead_agent_left() {
    let dir = tmaxdir();
    let port = free_port();
    let h = TmaxNodeHandler::new(builtin::tmax_node());
    let mut r = h
        .open(context("n", node_props(dir.path(), port), dir.path()).0)
        .await
        .unwrap();
    r.online().await.unwrap();
    let addr = format!("127.0.0.1:{port}");
    assert!(tcp_answers(&addr, Duration::from_secs(1)).await);
    let footprint = r.footprint();
    drop(r);
    h.clean_up(&footprint).await;
    assert!(
        !tcp_answers(&addr, Duration::from_secs(1)).await,
        "node still up after clean-up"
    );
}

#[tokio::test]
async fn a_failing_probe_makes_is_alive_dead() {
    let dir = tmaxdir();
    let h = TmaxNodeHandler::new(builtin::tmax_node());
    let mut p = node_props(dir.path(), free_port());
    let probe = "echo 'tmadmin: no TMM' >&2; exit 1";
    p.insert(
        "probe_command".into(),
        nonstop_contract::Value::Str(probe.into()),
    );
    let mut r = h.open(context("n", p, dir.path()).0).await.unwrap();
    r.online().await.unwrap();
    assert_eq!(r.looks_alive().await, Health::Alive);
    let health = r.is_alive().await;
    assert!(
        matches!(&health, Health::Dead(why) if why.contains("tmadmin: no TMM")),
        "{health:?}"
    );
    r.terminate().await;
    assert!(matches!(r.looks_alive().await, Health::Dead(_)));
}

#[tokio::test]
async fn a_port_out_of_range_is_rejected() {
    let dir = tmaxdir();
    let h = TmaxNodeHandler::new(builtin::tmax_node());
    let mut p = node_props(dir.path(), 1);
    p.insert("tportno".into(), nonstop_contract::Value::Int(70000));
    let err = h
        .open(context("n", p, dir.path()).0)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"tportno\": 70000 is above the maximum 65535"),
        "{err}"
    );
}
