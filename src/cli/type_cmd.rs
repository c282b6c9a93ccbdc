//! `nonstop type`: what plug-in authors use. `list` shows every type this machine can run
//! (built-in, `exec` plug-ins, OCF agents), `show` one type's properties and default timings,
//! and `test` runs the conformance suite against a type here, like resource-agents'
//! ocf-tester but for every kind of type.

use super::output::tell;
use clap::{Args, Subcommand};
use nonstop_contract::{Properties, PropertySpec, TypeDef, Value};
use nonstop_resource_types::conformance::Suite;
use nonstop_resource_types::registry::Origin;
use nonstop_resource_types::{HandlerError, Registry, RegistryConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `nonstop type ...`
#[derive(Debug, Args)]
pub struct TypeArgs {
    /// A directory of `exec` plug-ins (repeat for more; default /usr/lib/nonstop/plugins).
    #[arg(long = "plugin-dir", global = true, env = "NONSTOP_PLUGIN_DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// The OCF root whose resource.d holds the OCF agents.
    #[arg(long, global = true, env = "OCF_ROOT", default_value = "/usr/lib/ocf")]
    ocf_root: PathBuf,
    /// A cluster.yaml whose `types` are listed and shown too [default: the local cluster's,
    /// .nonstop/cluster.yaml, when there is one].
    #[arg(long, global = true)]
    file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: TypeCmd,
}

/// The local cluster's file (`nonstop up`).
const LOCAL_CLUSTER: &str = ".nonstop/cluster.yaml";

#[derive(Debug, Subcommand)]
enum TypeCmd {
    /// Lists the resource types this machine can run.
    List,
    /// Shows a type's properties and default timings.
    Show {
        /// The type (`process`, a plug-in's name, `ocf:heartbeat:Dummy`).
        type_name: String,
    },
    /// Runs the conformance suite against a type on this machine; exit 1 on any failure.
    Test {
        /// The type.
        type_name: String,
        /// A property, KEY=VALUE (repeat for more).
        #[arg(long = "prop", value_parser = parse_prop)]
        props: Vec<(String, String)>,
        /// A property with which online hangs (KEY=VALUE, repeatable, added to --prop): adds
        /// the check that terminate after a hung online stops everything.
        #[arg(long = "hang-prop", value_parser = parse_prop)]
        hang_props: Vec<(String, String)>,
        /// The longest any entry point may take (seconds).
        #[arg(long, default_value_t = 60)]
        step_limit: u64,
    },
}

fn parse_prop(s: &str) -> Result<(String, String), String> {
    let (k, v) = nonstop_contract::split_key_value(s)?;
    Ok((k.to_string(), v.to_string()))
}

/// Runs `nonstop type ...`.
pub fn run(args: TypeArgs) -> ExitCode {
    let plugin_dirs = if args.plugin_dirs.is_empty() {
        RegistryConfig::default().plugin_dirs
    } else {
        args.plugin_dirs
    };
    let registry = Registry::new(RegistryConfig {
        plugin_dirs,
        ocf_root: args.ocf_root,
        meta_data_cache: None,
    });
    let file = args.file.clone().or_else(|| {
        let local = PathBuf::from(LOCAL_CLUSTER);
        local.exists().then_some(local)
    });
    if let Some(file) = &file
        && let Err(e) = register_cluster_types(&registry, file)
    {
        return fail(&e);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        match args.cmd {
            TypeCmd::List => list(&registry),
            TypeCmd::Show { type_name } => show(&registry, &type_name).await,
            TypeCmd::Test {
                type_name,
                props,
                hang_props,
                step_limit,
            } => {
                let limit = Duration::from_secs(step_limit);
                test(&registry, &type_name, &props, &hang_props, limit).await
            }
        }
    })
}

/// Registers the types a cluster file defines, so that they are listed and shown as the
/// cluster knows them.
fn register_cluster_types(registry: &Registry, file: &std::path::Path) -> Result<(), String> {
    use nonstop_controller::config as cluster_config;
    let name = file.display().to_string();
    let errors = |e: Vec<nonstop_controller::config::Diagnostic>| {
        let lines: Vec<String> = e.iter().map(|d| d.to_string()).collect();
        format!("{name} is not a valid cluster file:\n{}", lines.join("\n"))
    };
    let text = cluster_config::read(file).map_err(errors)?;
    let checked = cluster_config::check(&name, &text).map_err(errors)?;
    for t in checked.file.types.iter() {
        let Some(def) = checked.db.types.get(&t.name) else {
            continue;
        };
        // A type this machine cannot run (its plug-in or agent is elsewhere) is still the
        // cluster's: said, not fatal.
        if let Err(e) = registry.register(def.clone()) {
            tell!(
                "nonstop type: {name}: type {:?} cannot run here: {e}",
                t.name
            );
        }
    }
    Ok(())
}

/// A failure of the command: bad input, an unknown type (exit 1).
fn fail(message: &str) -> ExitCode {
    tell!("nonstop type: {message}");
    ExitCode::from(1)
}

/// Reports a type that could not be loaded, saying where plug-ins were looked for.
fn unknown(registry: &Registry, e: HandlerError) -> ExitCode {
    let dirs: Vec<String> = registry
        .config()
        .plugin_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    match e {
        HandlerError::UnknownType(_) => fail(&format!(
            "{e}: not a built-in type, nor an executable plug-in in {} (see `nonstop type list`)",
            dirs.join(", ")
        )),
        e => fail(&e.to_string()),
    }
}

/// Prints `text`; a closed stdout (`| head`) ends the command quietly.
fn print(text: &str) {
    if let Err(e) = super::output::write_out(text) {
        super::output::end(&e)
    }
}

fn list(registry: &Registry) -> ExitCode {
    let mut text = String::new();
    for entry in registry.list() {
        let origin = match &entry.origin {
            Origin::Builtin => "built-in".to_string(),
            Origin::Registered => "cluster file".to_string(),
            Origin::Exec(p) => format!("exec {}", p.display()),
            Origin::Ocf(p) => format!("ocf {}", p.display()),
        };
        text.push_str(&format!("{:<32} {origin}\n", entry.name));
    }
    print(&text);
    ExitCode::SUCCESS
}

async fn show(registry: &Registry, name: &str) -> ExitCode {
    let def = match registry.type_def(name).await {
        Ok(def) => def,
        Err(e) => return unknown(registry, e),
    };
    print(&describe(&def));
    ExitCode::SUCCESS
}

/// The text `nonstop type show` prints.
fn describe(def: &TypeDef) -> String {
    let mut out = format!(
        "type {}: {}\nhandler: {:?}\n\nproperties:\n",
        def.name, def.description, def.handler
    );
    if def.schema.properties.is_empty() {
        out.push_str("  (none)\n");
    }
    for p in &def.schema.properties {
        out.push_str(&format!(
            "  {:<16} {:<9} {}\n",
            p.name,
            kind(p),
            constraints(p)
        ));
        if !p.description.is_empty() {
            out.push_str(&format!("  {:<16} {}\n", "", p.description));
        }
    }
    let t = &def.timings;
    out.push_str(&format!(
        "\ndefault timings:\n  looks_alive every {}\n  is_alive every {}\n  pending timeout {}\n  \
         restart: {:?}, at most {} in {}, delay {}\n",
        t.looks_alive,
        t.is_alive,
        t.pending_timeout,
        t.restart.mode,
        t.restart
            .limit
            .map_or("unlimited".to_string(), |n| n.to_string()),
        t.restart.window,
        t.restart.delay,
    ));
    out
}

fn kind(p: &PropertySpec) -> String {
    serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn constraints(p: &PropertySpec) -> String {
    let mut parts = Vec::new();
    if p.required {
        parts.push("required".to_string());
    }
    if let Some(d) = &p.default {
        parts.push(format!("default {d}"));
    }
    match (p.min, p.max) {
        (None, None) => {}
        (lo, hi) => parts.push(format!(
            "range {}..={}",
            lo.map_or(String::new(), |v| v.to_string()),
            hi.map_or(String::new(), |v| v.to_string())
        )),
    }
    if !p.values.is_empty() {
        parts.push(format!("one of {}", p.values.join(", ")));
    }
    if let Some(f) = p.format {
        parts.push(format!("format {}", f.name()));
    }
    if p.restart {
        parts.push("change needs a restart".to_string());
    }
    parts.join("; ")
}

async fn test(
    registry: &Registry,
    name: &str,
    props: &[(String, String)],
    hang_props: &[(String, String)],
    limit: Duration,
) -> ExitCode {
    let handler = match registry
        .type_def(name)
        .await
        .and_then(|d| registry.handler_for(&d))
    {
        Ok(h) => h,
        Err(e) => return unknown(registry, e),
    };
    let data_dir = std::env::temp_dir().join(format!("nonstop-type-test-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        return fail(&format!("cannot create {}: {e}", data_dir.display()));
    }
    let to_props = |pairs: &[(String, String)]| -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect()
    };
    let base = to_props(props);
    let mut suite = Suite::new(handler.as_ref(), base.clone(), data_dir.clone()).step_limit(limit);
    if !hang_props.is_empty() {
        let mut hang = base;
        hang.extend(to_props(hang_props));
        suite = suite.hung_online(hang);
    }
    let report = suite.test_all().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut text: String = report.checks.iter().map(|c| format!("{c}\n")).collect();
    let failed = report.failures().len();
    text.push_str(&format!(
        "{name}: {} checks, {failed} failed\n",
        report.checks.len()
    ));
    print(&text);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_must_be_key_value() {
        assert_eq!(parse_prop("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_prop("=x").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_prop("novalue").is_err());
    }

    #[test]
    fn show_prints_the_schema_and_the_default_timings() {
        let text = describe(&nonstop_contract::builtin::process());
        assert!(
            text.contains("instances        int       default 1; range 1..=1024"),
            "{text}"
        );
        assert!(text.contains("looks_alive every 1s"), "{text}");
        assert!(text.contains("pending timeout 3m"), "{text}");
    }
}
