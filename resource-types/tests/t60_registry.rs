//! The registry: built-ins, registered types extending a built-in, unknown types.

mod common;

use common::{context, props};
use nonstop_contract::schema::{PropertyKind, PropertySpec};
use nonstop_contract::{HandlerRef, TypeDef, builtin};
use nonstop_resource_types::registry::Origin;
use nonstop_resource_types::{Registry, RegistryConfig};

fn chat_server() -> TypeDef {
    let mut def = builtin::process();
    def.name = "chat-server".into();
    def.description = "the paper's chat server".into();
    def.schema.properties.push(
        PropertySpec::new("MaxUser", PropertyKind::Int)
            .range(Some(1), Some(10))
            .required(),
    );
    def
}

fn registry() -> Registry {
    Registry::new(RegistryConfig {
        plugin_dirs: vec![],
        ocf_root: "/nonexistent".into(),
        meta_data_cache: None,
    })
}

#[test]
fn builtins_are_listed_first() {
    let names: Vec<(String, Origin)> = registry()
        .list()
        .into_iter()
        .map(|l| (l.name, l.origin))
        .collect();
    let builtins: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(builtins, ["ip-address", "process", "tmax-node"]);
    assert!(names.iter().all(|(_, o)| *o == Origin::Builtin));
}

#[tokio::test]
async fn a_registered_extension_validates_its_own_properties() {
    let reg = registry();
    reg.register(chat_server()).unwrap();
    assert!(
        reg.list()
            .iter()
            .any(|l| l.name == "chat-server" && l.origin == Origin::Registered)
    );
    let h = reg
        .handler("chat-server", &HandlerRef::Builtin("process".into()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = props(&[("command", "sleep"), ("MaxUser", "11")]);
    let err = h
        .open(context("chat", p, dir.path()).0)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"MaxUser\": 11 is above the maximum 10"),
        "{err}"
    );
    let p = props(&[("command", "sleep"), ("MaxUser", "3")]);
    h.open(context("chat", p, dir.path()).0).await.unwrap();
}

#[tokio::test]
async fn unknown_types_and_handlers_are_errors_naming_them() {
    let reg = registry();
    let mut def = chat_server();
    def.handler = HandlerRef::Builtin("teleporter".into());
    let err = reg.register(def.clone()).unwrap_err().to_string();
    assert_eq!(err, "unknown resource type \"teleporter\"");
    assert!(reg.handler_for(&def).is_err());
    let err = reg.type_def("nope").await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let wrong = HandlerRef::Builtin("ip-address".into());
    let err = reg
        .handler("process", &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("configured with handler"), "{err}");
    let mut dropped = chat_server();
    dropped.schema.properties.retain(|p| p.name != "command");
    let err = reg.register(dropped).unwrap_err().to_string();
    assert!(
        err.contains("\"command\"") && err.contains("drops"),
        "{err}"
    );
}

#[tokio::test]
async fn plugins_load_for_callers_that_cannot_wait() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins");
    let reg = Registry::new(RegistryConfig {
        plugin_dirs: vec![examples],
        ocf_root: "/nonexistent".into(),
        meta_data_cache: None,
    });
    let exec = HandlerRef::Exec("sleeper".into());
    let err = reg.handler_now("sleeper", &exec).unwrap_err().to_string();
    assert_eq!(err, "unknown resource type \"sleeper\"");
    assert!(reg.load_plugins().await.is_empty());
    assert!(reg.type_names().contains(&"sleeper".to_string()));
    assert_eq!(
        reg.handler_now("sleeper", &exec).unwrap().def().name,
        "sleeper"
    );
}
