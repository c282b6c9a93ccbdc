//! `ocf`: real agents from Debian's `resource-agents` (ocf:heartbeat:Dummy), installed by
//! scripts/test.sh from scripts/apt-packages.txt, and a small fake agent for the error paths.

mod common;

use common::{assert_passed, context, props};
use nonstop_resource_types::conformance::Suite;
use nonstop_resource_types::{Health, Registry, RegistryConfig, ResourceHandler};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Whether the OCF agents are here. Missing is a loud skip on a developer's machine and a
/// failure under CI, where scripts/test.sh installs them.
fn have_ocf() -> bool {
    let present = Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but /usr/lib/ocf is missing: scripts/test.sh installs resource-agents"
        );
        eprintln!(
            "!!! SKIPPED: /usr/lib/ocf is absent; run scripts/test.sh (installs resource-agents)"
        );
    }
    present
}

/// The handler of ocf:heartbeat:Dummy, from the default registry; `None` (a loud skip, see
/// [`have_ocf`]) when the OCF agents are not installed.
async fn dummy() -> Option<Arc<dyn ResourceHandler>> {
    if !have_ocf() {
        return None;
    }
    let reg = Registry::new(RegistryConfig::default());
    let def = reg.type_def("ocf:heartbeat:Dummy").await.unwrap();
    Some(reg.handler_for(&def).unwrap())
}

#[tokio::test]
async fn dummy_is_listed_and_its_meta_data_is_the_schema() {
    if !have_ocf() {
        return;
    }
    let reg = Registry::new(RegistryConfig::default());
    assert!(reg.list().iter().any(|l| l.name == "ocf:heartbeat:Dummy"));
    let def = reg.type_def("ocf:heartbeat:Dummy").await.unwrap();
    let state = def
        .schema
        .get("state")
        .expect("Dummy has a state parameter");
    assert_eq!(state.default, None, "the agent's own default applies");
    assert_eq!(def.timings.pending_timeout.0, 20_000);
}

#[tokio::test]
async fn dummy_passes_the_conformance_suite() {
    let Some(h) = dummy().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dummy.state");
    let p = props(&[("state", state.to_str().unwrap())]);
    let report = Suite::new(h.as_ref(), p, dir.path().into())
        .step_limit(Duration::from_secs(20))
        .test_all()
        .await;
    assert_passed(&report, 10);
}

#[tokio::test]
async fn dummy_validate_all_rejects_an_unwritable_state_file() {
    let Some(h) = dummy().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = props(&[("state", "/nonexistent/dir/x.state")]);
    let err = h
        .open(context("d", p, dir.path()).0)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OCF_ERR_ARGS") && err.contains("not writable"),
        "{err}"
    );
}

/// A fake agent under a temporary OCF root: start fails, monitor says "not running".
fn fake_root(dir: &Path) {
    let agents = dir.join("resource.d/test");
    std::fs::create_dir_all(&agents).unwrap();
    let script = r#"#!/bin/sh
case "$1" in
meta-data) echo '<resource-agent name="broken"><parameters>
  <parameter name="level" required="1"><content type="integer"/></parameter>
  </parameters></resource-agent>' ;;
validate-all) [ "$OCF_RESKEY_level" -lt 5 ] || { echo "level too high" >&2; exit 6; } ;;
start) echo "disk on fire" >&2; exit 1 ;;
stop) exit 0 ;;
monitor) exit 7 ;;
*) exit 3 ;;
esac
"#;
    let path = agents.join("broken");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn ocf_exit_codes_become_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    fake_root(dir.path());
    let reg = Registry::new(RegistryConfig {
        plugin_dirs: vec![],
        ocf_root: dir.path().into(),
        meta_data_cache: None,
    });
    let def = reg.type_def("ocf:test:broken").await.unwrap();
    let h = reg.handler_for(&def).unwrap();
    let err = h
        .open(context("b", props(&[]), dir.path()).0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"level\": is required"), "{err}");
    let err = h
        .open(context("b", props(&[("level", "9")]), dir.path()).0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OCF_ERR_CONFIGURED"), "{err}");
    let mut r = h
        .open(context("b", props(&[("level", "1")]), dir.path()).0)
        .await
        .unwrap();
    let err = r.online().await.unwrap_err().to_string();
    assert!(
        err.contains("disk on fire") && err.contains("OCF_ERR_GENERIC"),
        "{err}"
    );
    assert_eq!(
        r.looks_alive().await,
        Health::Dead("not running (OCF_NOT_RUNNING)".into())
    );
    let err = reg
        .type_def("ocf:test:missing")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no executable agent at"), "{err}");
    let err = reg.type_def("ocf:nonsense").await.unwrap_err().to_string();
    assert!(err.contains("ocf:<provider>:<agent>"), "{err}");
}

/// The agents a daemon finds are read once (their meta-data) and reported as discovered: one
/// that answers meta-data with something else than its XML is left out, named.
#[tokio::test]
async fn load_ocf_agents_discovers_what_answers_meta_data() {
    let dir = tempfile::tempdir().unwrap();
    fake_root(dir.path());
    let mute = dir.path().join("resource.d/test/mute");
    std::fs::write(&mute, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&mute, std::fs::Permissions::from_mode(0o755)).unwrap();
    let reg = Registry::new(RegistryConfig {
        plugin_dirs: vec![],
        ocf_root: dir.path().into(),
        meta_data_cache: None,
    });
    assert!(reg.discovered().is_empty(), "nothing is read before asked");
    let errors = reg.load_ocf_agents(2).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].to_string().contains("ocf:test:mute"),
        "{}",
        errors[0]
    );
    let found = reg.discovered();
    let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ocf:test:broken"]);
    assert!(found[0].schema.get("level").unwrap().required);
    // The same definition coming back from the cluster (the desired state) stays discovered.
    reg.register(found[0].clone()).unwrap();
    assert_eq!(reg.discovered().len(), 1);
    let h = reg.handler_now("ocf:test:broken", &found[0].handler);
    assert!(h.is_ok(), "found without reading meta-data again");
}

/// Two daemons of one machine sharing a meta-data cache: the first reads each agent, the
/// second (and the first again) reads none; an upgraded agent is read again.
#[tokio::test]
async fn meta_data_is_read_once_per_machine_and_again_after_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("runs");
    let agents = dir.path().join("resource.d/test");
    std::fs::create_dir_all(&agents).unwrap();
    let write_agent = |version: &str| {
        let path = agents.join("counted");
        let _ = std::fs::remove_file(&path);
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = meta-data ] || exit 3\necho x >> {}\n\
             echo '<resource-agent name=\"counted\" version=\"{version}\"><parameters>\
             <parameter name=\"v{version}\"><content type=\"string\"/></parameter>\
             </parameters></resource-agent>'\n",
            count.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let runs = || {
        std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let registry = || {
        Registry::new(RegistryConfig {
            plugin_dirs: vec![],
            ocf_root: dir.path().into(),
            meta_data_cache: Some(dir.path().join("cache")),
        })
    };
    let params = |reg: &Registry| -> Vec<String> {
        let found = reg.discovered();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0]
            .schema
            .properties
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    write_agent("1");
    let (a, b) = (registry(), registry());
    let (ea, eb) = tokio::join!(a.load_ocf_agents(2), b.load_ocf_agents(2));
    assert!(ea.is_empty() && eb.is_empty(), "{ea:?} {eb:?}");
    assert_eq!(runs(), 1, "two daemons at once read the agent once");
    assert_eq!(
        (params(&a), params(&b)),
        (vec!["v1".to_string()], vec!["v1".to_string()])
    );
    registry().load_ocf_agents(2).await;
    assert_eq!(runs(), 1, "a restarted daemon reads nothing");
    // The package is upgraded: a new file.
    write_agent("2");
    let c = registry();
    c.load_ocf_agents(2).await;
    assert_eq!(runs(), 2);
    assert_eq!(params(&c), ["v2"]);
}

/// A cache folder that cannot be made (a daemon without the rights, a path through a file):
/// every agent is read as if there were no cache, nothing fails.
#[tokio::test]
async fn an_unusable_meta_data_cache_only_costs_time() {
    let dir = tempfile::tempdir().unwrap();
    fake_root(dir.path());
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let reg = Registry::new(RegistryConfig {
        plugin_dirs: vec![],
        ocf_root: dir.path().into(),
        meta_data_cache: Some(blocker.join("cache")),
    });
    let errors = reg.load_ocf_agents(2).await;
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<String> = reg.discovered().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["ocf:test:broken"]);
}
