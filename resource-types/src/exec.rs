//! `exec` plug-ins: a resource type written in any language as one executable, called with the
//! entry point's name as its only argument and the properties in environment variables. The
//! protocol is docs/plugins.md; this file is its one implementation.
//!
//! ```text
//!  PROGRAM meta-data | validate | online | offline | terminate | looks-alive | is-alive
//!  env: NONSTOP_ACTION, NONSTOP_RESOURCE, NONSTOP_DATA_DIR, NONSTOP_PROP_<name>...
//!  exit: 0 ok/running, 1 error, 2 invalid properties, 3 unimplemented, 7 not running
//! ```

use async_trait::async_trait;
use nonstop_contract::plugin::exec::STOP_BOUND;
use nonstop_contract::schema::{PropertyError, Schema};
use nonstop_contract::timing::Timings;
use nonstop_contract::typedef::{HandlerRef, TypeDef};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

use crate::action::{self, Outcome, Program};
use crate::extend::env_name;
use crate::handler::{
    Footprint, HandlerError, Health, OpenContext, ResourceHandler, ResourceInstance, Result,
};

/// Exit code: success (for the checks: running).
pub const EXIT_OK: i32 = 0;
/// Exit code: the properties are invalid (from `validate`).
pub const EXIT_INVALID: i32 = 2;
/// Exit code: the plug-in does not implement this entry point.
pub const EXIT_UNIMPLEMENTED: i32 = 3;
/// Exit code: not running (from the checks, and accepted from `offline`).
pub const EXIT_NOT_RUNNING: i32 = 7;

/// How long `meta-data`, `validate` and the checks may take.
const QUICK_LIMIT: Duration = Duration::from_secs(30);
/// How long `terminate` may take before the handler gives up on it (it never fails); then
/// `offline` gets as long again.
const TERMINATE_LIMIT: Duration = Duration::from_secs(10);
// The type's stop bound (`STOP_BOUND`, in the contract, which the controller reads) covers
// `terminate`, then `offline`, then the second that killing what carries the marker may take.
const _: () = assert!(STOP_BOUND.as_millis() >= 2 * TERMINATE_LIMIT.as_millis() + 1000);

/// What `meta-data` prints (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaData {
    #[serde(default)]
    description: String,
    #[serde(default)]
    properties: Schema,
    #[serde(default)]
    timings: Option<Timings>,
}

/// Reads a plug-in's type definition by running `PROGRAM meta-data`. The type's name is the
/// file's name.
pub async fn read_type(program: &Path) -> Result<TypeDef> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(program);
    cmd.arg("meta-data").env("NONSTOP_ACTION", "meta-data");
    let out = action::run_for("meta-data", cmd, QUICK_LIMIT).await?;
    let bad = |reason: String| HandlerError::Failed {
        entry: "meta-data",
        reason: format!("plug-in {}: {reason}", program.display()),
    };
    if out.code != Some(EXIT_OK) {
        return Err(bad(out.describe()));
    }
    let meta: MetaData = serde_json::from_str(&out.stdout)
        .map_err(|e| bad(format!("output is not the schema: {e}")))?;
    // Absolute, so that the reference works whatever the agent's working directory.
    let path = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let def = TypeDef {
        name,
        handler: HandlerRef::Exec(path.display().to_string()),
        schema: meta.properties,
        timings: meta.timings.unwrap_or_default(),
        description: meta.description,
        stop: nonstop_contract::typedef::StopBound::Forced,
        reconfigures: false,
    }
    .stop_within(STOP_BOUND);
    def.check()
        .map_err(|errs| bad(format!("bad schema: {}", join(&errs))))?;
    Ok(def)
}

fn join(errs: &[PropertyError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The handler of one `exec` plug-in.
#[derive(Debug)]
pub struct ExecHandler {
    def: TypeDef,
    program: PathBuf,
    /// The schema resources are validated against: the definition's properties, and those of
    /// the plug-in's own meta-data that the definition does not declare (their defaults and
    /// checks), read once, on the first open.
    schema: tokio::sync::OnceCell<Schema>,
}

impl ExecHandler {
    /// A handler for `def`, run by `program`.
    pub fn new(def: TypeDef, program: PathBuf) -> Self {
        ExecHandler {
            def,
            program,
            schema: tokio::sync::OnceCell::new(),
        }
    }

    /// [`ExecHandler::schema`]: a type defined in the cluster's configuration (`exec: PATH`)
    /// may declare none of the plug-in's properties, whose defaults must still reach it.
    async fn schema(&self) -> &Schema {
        self.schema
            .get_or_init(|| async {
                let mut schema = self.def.schema.clone();
                match read_type(&self.program).await {
                    Ok(meta) => {
                        for p in meta.schema.properties {
                            if schema.get(&p.name).is_none() {
                                schema.properties.push(p);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        program = %self.program.display(),
                        "no meta-data, only the configured schema applies: {e}"
                    ),
                }
                schema
            })
            .await
    }
}

#[async_trait]
impl ResourceHandler for ExecHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let props = self
            .schema()
            .await
            .validate(&ctx.properties)
            .map_err(HandlerError::InvalidProperties)?;
        let mut env = vec![
            ("NONSTOP_RESOURCE".to_string(), ctx.resource.clone()),
            (
                "NONSTOP_DATA_DIR".to_string(),
                ctx.data_dir.display().to_string(),
            ),
            (crate::procs::MARKER_VAR.to_string(), ctx.marker.clone()),
        ];
        env.extend(
            props
                .iter()
                .map(|(k, v)| (env_name("NONSTOP_PROP_", k), v.to_plain())),
        );
        let instance = ExecInstance(Program::new(
            self.program.clone(),
            env,
            self.def.timings.pending_timeout.as_duration(),
            ctx.marker,
            &["terminate", "offline"],
        ));
        instance.validate().await?;
        Ok(Box::new(instance))
    }
}

/// One resource of an `exec` plug-in: its cleanup command is `terminate`, or else `offline`.
#[derive(Debug)]
pub struct ExecInstance(Program);

impl ExecInstance {
    async fn call(&self, entry: &'static str, limit: Duration) -> Result<Outcome> {
        self.0
            .call(entry, &[("NONSTOP_ACTION", entry)], limit)
            .await
    }

    async fn validate(&self) -> Result<()> {
        let out = self.call("validate", QUICK_LIMIT).await?;
        match out.code {
            Some(EXIT_OK | EXIT_UNIMPLEMENTED) => Ok(()),
            Some(EXIT_INVALID) => Err(HandlerError::InvalidProperties(vec![PropertyError {
                property: "(plug-in validate)".into(),
                reason: out.describe(),
            }])),
            _ => Err(failed("validate", &out)),
        }
    }

    async fn check(&self, entry: &'static str) -> Option<Health> {
        match self.call(entry, QUICK_LIMIT).await {
            Err(e) => Some(Health::Dead(e.to_string())),
            Ok(out) => match out.code {
                Some(EXIT_OK) => Some(Health::Alive),
                Some(EXIT_UNIMPLEMENTED) => None,
                Some(EXIT_NOT_RUNNING) => Some(Health::Dead("not running".into())),
                _ => Some(Health::Dead(format!("{entry}: {}", out.describe()))),
            },
        }
    }
}

#[async_trait]
impl ResourceInstance for ExecInstance {
    async fn online(&mut self) -> Result<()> {
        // Recorded before the call: a hung online may have started things terminate must stop.
        self.0.online = true;
        let out = self.call("online", self.0.limit).await?;
        match out.code {
            Some(EXIT_OK) => Ok(()),
            _ => Err(failed("online", &out)),
        }
    }

    async fn offline(&mut self) -> Result<()> {
        let out = self.call("offline", self.0.limit).await?;
        match out.code {
            Some(EXIT_OK | EXIT_NOT_RUNNING) => {
                self.0.online = false;
                Ok(())
            }
            _ => Err(failed("offline", &out)),
        }
    }

    async fn terminate(&mut self) {
        let done = match self.call("terminate", TERMINATE_LIMIT).await {
            Ok(out) => matches!(out.code, Some(EXIT_OK | EXIT_NOT_RUNNING)),
            Err(_) => false,
        };
        if !done {
            // Unimplemented or failed: a graceful stop is the best there is left.
            let _ = self.call("offline", TERMINATE_LIMIT).await;
        }
        // What the plug-in started and left running carries the marker.
        self.0.kill_marked().await;
        self.0.online = false;
    }

    async fn looks_alive(&mut self) -> Health {
        self.check("looks-alive")
            .await
            .unwrap_or_else(|| Health::Dead("plug-in has no looks-alive".into()))
    }

    async fn is_alive(&mut self) -> Health {
        match self.check("is-alive").await {
            Some(h) => h,
            None => self.looks_alive().await,
        }
    }

    fn footprint(&self) -> Footprint {
        self.0.footprint()
    }

    fn intent(&self) -> Footprint {
        self.0.intent()
    }
}

fn failed(entry: &'static str, out: &Outcome) -> HandlerError {
    HandlerError::Failed {
        entry,
        reason: out.describe(),
    }
}
