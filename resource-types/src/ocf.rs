//! `ocf`: runs OCF resource agents unmodified (those of Debian's `resource-agents` package,
//! `/usr/lib/ocf/resource.d/<provider>/<agent>`), as Pacemaker does.
//!
//! | nonstop entry point | OCF action |
//! |---|---|
//! | open | `validate-all` (unimplemented is fine) |
//! | online / offline | `start` / `stop` (stop's 7 "not running" is success) |
//! | looks_alive / is_alive | `monitor` with `OCF_CHECK_LEVEL` 0 / 10 |
//! | terminate | `stop`, bounded; it never fails |
//!
//! Properties reach the agent as `OCF_RESKEY_<name>`. The schema comes from `meta-data`; its
//! defaults are shown but not copied into the schema, because an agent computes its own
//! (Dummy's default state file depends on the resource's name).

use async_trait::async_trait;
use nonstop_contract::plugin::ocf::{STOP_BOUND, clean_name};
use nonstop_contract::schema::{PropertyError, PropertyKind, PropertySpec, Schema};
use nonstop_contract::timing::Timings;
use nonstop_contract::typedef::{HandlerRef, TypeDef};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

use crate::action::{self, Outcome, Program};
use crate::extend::env_name;
use crate::handler::{
    Footprint, HandlerError, Health, OpenContext, ResourceHandler, ResourceInstance, Result,
};

pub mod cache;
mod meta;

/// Debian's OCF root.
pub const DEFAULT_ROOT: &str = "/usr/lib/ocf";

/// OCF exit codes (OCF resource agent API, "Return codes").
pub mod rc {
    /// Success (monitor: running).
    pub const SUCCESS: i32 = 0;
    /// Generic error.
    pub const ERR_GENERIC: i32 = 1;
    /// Invalid arguments (properties).
    pub const ERR_ARGS: i32 = 2;
    /// Action not implemented.
    pub const ERR_UNIMPLEMENTED: i32 = 3;
    /// Insufficient privileges.
    pub const ERR_PERM: i32 = 4;
    /// A required program is not installed.
    pub const ERR_INSTALLED: i32 = 5;
    /// The configuration is wrong.
    pub const ERR_CONFIGURED: i32 = 6;
    /// Not running (a clean state, not a failure, where offline is expected).
    pub const NOT_RUNNING: i32 = 7;
    /// Running as promoted.
    pub const RUNNING_PROMOTED: i32 = 8;
    /// Failed as promoted.
    pub const FAILED_PROMOTED: i32 = 9;

    /// The code's name (`OCF_NOT_RUNNING`).
    pub fn name(code: i32) -> &'static str {
        const NAMES: [&str; 10] = [
            "OCF_SUCCESS",
            "OCF_ERR_GENERIC",
            "OCF_ERR_ARGS",
            "OCF_ERR_UNIMPLEMENTED",
            "OCF_ERR_PERM",
            "OCF_ERR_INSTALLED",
            "OCF_ERR_CONFIGURED",
            "OCF_NOT_RUNNING",
            "OCF_RUNNING_PROMOTED",
            "OCF_FAILED_PROMOTED",
        ];
        usize::try_from(code)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("unknown")
    }
}

/// How long the quick actions (meta-data, validate-all, monitor) may take.
const QUICK_LIMIT: Duration = Duration::from_secs(30);
/// How long terminate's stop may take.
const TERMINATE_LIMIT: Duration = Duration::from_secs(20);
// The type's stop bound (`STOP_BOUND`, in the contract, which the controller reads) covers the
// stop and the second that killing what carries the marker may take.
const _: () = assert!(STOP_BOUND.as_millis() >= TERMINATE_LIMIT.as_millis() + 1000);

/// The path of agent `provider`/`agent`, which must exist and be executable.
pub fn agent_path(root: &Path, provider: &str, agent: &str) -> Result<PathBuf> {
    let name = format!("ocf:{provider}:{agent}");
    if !clean_name(provider) || !clean_name(agent) {
        return Err(crate::registry::not_found(
            &name,
            "bad provider or agent name".into(),
        ));
    }
    let path = root.join("resource.d").join(provider).join(agent);
    if !crate::registry::is_executable(&path) {
        let why = format!("no executable agent at {}", path.display());
        return Err(crate::registry::not_found(&name, why));
    }
    Ok(path)
}

/// Every agent under `root`, as (`ocf:<provider>:<agent>`, path), sorted.
pub fn find_agents(root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(providers) = std::fs::read_dir(root.join("resource.d")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for provider in providers.filter_map(|e| e.ok()) {
        let pname = provider.file_name().to_string_lossy().into_owned();
        for path in crate::registry::executables(&provider.path()) {
            let agent = path.file_name().map(|n| n.to_string_lossy().into_owned());
            out.push((format!("ocf:{pname}:{}", agent.unwrap_or_default()), path));
        }
    }
    out.sort();
    out
}

/// Reads an agent's type definition from its meta-data.
pub async fn read_type(root: &Path, provider: &str, agent: &str) -> Result<TypeDef> {
    read_type_cached(root, provider, agent, None).await
}

/// As [`read_type`], through `cache`: an agent whose output is cached (and still current) is
/// not run; one that is run and succeeds is cached.
pub async fn read_type_cached(
    root: &Path,
    provider: &str,
    agent: &str,
    cache: Option<&cache::MetaCache>,
) -> Result<TypeDef> {
    let path = agent_path(root, provider, agent)?;
    let name = format!("ocf:{provider}:{agent}");
    let bad = |reason: String| HandlerError::Failed {
        entry: "meta-data",
        reason: format!("{name}: {reason}"),
    };
    let cached = cache.and_then(|c| c.get(root, provider, agent, &path));
    let xml = match cached {
        Some(xml) => xml,
        None => {
            let mut cmd = Command::new(&path);
            cmd.arg("meta-data").env("OCF_ROOT", root);
            let out = action::run_for("meta-data", cmd, QUICK_LIMIT).await?;
            if out.code != Some(rc::SUCCESS) {
                return Err(bad(out.describe()));
            }
            if let Some(c) = cache
                && let Err(e) = c.put(root, provider, agent, &path, &out.stdout)
            {
                tracing::debug!(agent = %name, error = %e, "meta-data not cached");
            }
            out.stdout
        }
    };
    let meta = meta::parse(&xml).map_err(bad)?;
    Ok(TypeDef {
        name,
        handler: HandlerRef::Ocf {
            provider: provider.into(),
            agent: agent.into(),
        },
        schema: meta.schema,
        timings: meta.timings,
        description: meta.description,
        stop: nonstop_contract::typedef::StopBound::Forced,
        reconfigures: false,
    }
    .stop_within(STOP_BOUND))
}

/// The handler of one OCF agent.
#[derive(Debug)]
pub struct OcfHandler {
    def: TypeDef,
    root: PathBuf,
    agent: PathBuf,
}

impl OcfHandler {
    /// A handler for `def`, run by the agent at `agent` under OCF root `root`.
    pub fn new(def: TypeDef, root: PathBuf, agent: PathBuf) -> Self {
        OcfHandler { def, root, agent }
    }

    fn env(
        &self,
        ctx: &OpenContext,
        props: &nonstop_contract::schema::Properties,
    ) -> Vec<(String, String)> {
        let (provider, agent) = match &self.def.handler {
            HandlerRef::Ocf { provider, agent } => (provider.clone(), agent.clone()),
            _ => Default::default(),
        };
        let timeout = self.def.timings.pending_timeout.0.to_string();
        let mut env: Vec<(String, String)> = [
            ("OCF_ROOT", self.root.display().to_string()),
            ("OCF_RA_VERSION_MAJOR", "1".into()),
            ("OCF_RA_VERSION_MINOR", "0".into()),
            ("OCF_RESOURCE_INSTANCE", ctx.resource.clone()),
            ("OCF_RESOURCE_TYPE", agent),
            ("OCF_RESOURCE_PROVIDER", provider),
            ("OCF_RESKEY_CRM_meta_timeout", timeout),
            (crate::procs::MARKER_VAR, ctx.marker.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(
            props
                .iter()
                .map(|(k, v)| (env_name("OCF_RESKEY_", k), v.to_plain())),
        );
        env
    }
}

#[async_trait]
impl ResourceHandler for OcfHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let props = self
            .def
            .schema
            .validate(&ctx.properties)
            .map_err(HandlerError::InvalidProperties)?;
        let instance = OcfInstance(Program::new(
            self.agent.clone(),
            self.env(&ctx, &props),
            self.def.timings.pending_timeout.as_duration(),
            ctx.marker,
            &["stop"],
        ));
        instance.validate().await?;
        Ok(Box::new(instance))
    }
}

/// One resource run by an OCF agent: its cleanup command is `stop`.
#[derive(Debug)]
pub struct OcfInstance(Program);

impl OcfInstance {
    async fn call(&self, action: &'static str, depth: u32, limit: Duration) -> Result<Outcome> {
        let depth = depth.to_string();
        self.0
            .call(action, &[("OCF_CHECK_LEVEL", &depth)], limit)
            .await
    }

    async fn validate(&self) -> Result<()> {
        let out = self.call("validate-all", 0, QUICK_LIMIT).await?;
        match out.code {
            Some(rc::SUCCESS | rc::ERR_UNIMPLEMENTED) => Ok(()),
            Some(code @ (rc::ERR_ARGS | rc::ERR_CONFIGURED)) => {
                Err(HandlerError::InvalidProperties(vec![PropertyError {
                    property: "(validate-all)".into(),
                    reason: format!("{}: {}", rc::name(code), out.describe()),
                }]))
            }
            _ => Err(failed("validate-all", &out)),
        }
    }

    async fn monitor(&self, depth: u32) -> Health {
        match self.call("monitor", depth, QUICK_LIMIT).await {
            Err(e) => Health::Dead(e.to_string()),
            Ok(out) => match out.code {
                Some(rc::SUCCESS | rc::RUNNING_PROMOTED) => Health::Alive,
                Some(rc::NOT_RUNNING) => Health::Dead("not running (OCF_NOT_RUNNING)".into()),
                _ => Health::Dead(format!("monitor: {}", describe(&out))),
            },
        }
    }
}

#[async_trait]
impl ResourceInstance for OcfInstance {
    async fn online(&mut self) -> Result<()> {
        self.0.online = true;
        let out = self.call("start", 0, self.0.limit).await?;
        match out.code {
            Some(rc::SUCCESS) => Ok(()),
            _ => Err(failed("start", &out)),
        }
    }

    async fn offline(&mut self) -> Result<()> {
        let out = self.call("stop", 0, self.0.limit).await?;
        match out.code {
            Some(rc::SUCCESS | rc::NOT_RUNNING) => {
                self.0.online = false;
                Ok(())
            }
            _ => Err(failed("stop", &out)),
        }
    }

    async fn terminate(&mut self) {
        // OCF has no forceful stop: stop, bounded. What it leaves stays in the footprint.
        match self.call("stop", 0, TERMINATE_LIMIT).await {
            Ok(out) if matches!(out.code, Some(rc::SUCCESS | rc::NOT_RUNNING)) => {
                self.0.online = false;
            }
            Ok(out) => {
                tracing::warn!(agent = %self.0.path().display(), "terminate: stop {}", describe(&out))
            }
            Err(e) => tracing::warn!(agent = %self.0.path().display(), "terminate: {e}"),
        }
        // Daemons the agent started and its stop left running carry the marker.
        self.0.kill_marked().await;
    }

    async fn looks_alive(&mut self) -> Health {
        self.monitor(0).await
    }

    async fn is_alive(&mut self) -> Health {
        self.monitor(10).await
    }

    fn footprint(&self) -> Footprint {
        self.0.footprint()
    }

    fn intent(&self) -> Footprint {
        self.0.intent()
    }
}

/// How it ended, with the OCF code's name.
fn describe(out: &Outcome) -> String {
    match out.code {
        Some(code) => format!("{} ({})", out.describe(), rc::name(code)),
        None => out.describe(),
    }
}

fn failed(entry: &'static str, out: &Outcome) -> HandlerError {
    HandlerError::Failed {
        entry,
        reason: describe(out),
    }
}

/// What meta-data says, as nonstop's model.
#[derive(Debug)]
struct Meta {
    description: String,
    schema: Schema,
    timings: Timings,
}

/// A property spec of `kind`, OCF's defaults kept out (see the module's docs).
fn spec(name: &str, kind: PropertyKind) -> PropertySpec {
    PropertySpec::new(name, kind)
}
