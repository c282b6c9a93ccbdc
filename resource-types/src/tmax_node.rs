//! `tmax-node`: a Tmax TP-monitor node, booted and downed with Tmax's own tools (`tmboot -n
//! NODE`, `tmdown -n NODE -i` by default) and checked by a TCP connect to its TPORTNO on the
//! loopback address (and optionally a `tmadmin` probe command).
//!
//! Tmax is proprietary: the tests use stand-in `tmboot`/`tmdown` scripts
//! (tests/fixtures/tmax-standin/) that start and stop a loopback listener.
//!
//! The commands run through `sh -c` with `TMAXDIR`, `TPORTNO`, `TMAX_NODE` and
//! `PATH=$TMAXDIR/bin:$PATH` set, plus `NONSTOP_PROP_<name>` for properties a type extending
//! this one adds. What tmboot starts lives outside the agent's process tree, so the footprint
//! records the down command for a later agent to run.

use async_trait::async_trait;
use nonstop_contract::builtin;
use nonstop_contract::typedef::TypeDef;
use std::time::Duration;

use crate::action::{self, Outcome};
use crate::extend::{self, Validated};
use crate::handler::{
    Footprint, HandlerError, Health, OpenContext, Reconfigured, ResourceHandler, ResourceInstance,
    Result,
};
use crate::process::tcp_answers;
use crate::runas::RunAs;

/// How long a check's connect or probe may take.
const CHECK_LIMIT: Duration = Duration::from_secs(5);
/// How long terminate's down command may take: the type's stop bound, which the contract
/// declares (the controller reads it from the type definition).
pub const TERMINATE_LIMIT: Duration = builtin::TMAX_NODE_TERMINATE_LIMIT;
/// How often online and offline look at the port while the node boots or goes down (no event
/// says when a port opens or closes).
const PORT_POLL: Duration = Duration::from_millis(20);

/// The `tmax-node` handler (or a type that extends it).
#[derive(Debug)]
pub struct TmaxNodeHandler {
    def: TypeDef,
}

impl TmaxNodeHandler {
    /// A handler for `def`, whose schema is the tmax-node schema or extends it.
    pub fn new(def: TypeDef) -> Self {
        TmaxNodeHandler { def }
    }
}

#[async_trait]
impl ResourceHandler for TmaxNodeHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let props = extend::validate(&self.def, &builtin::tmax_node().schema, &ctx.properties)?;
        let run_as = RunAs::from_props(props.str("user"), props.str("group"))
            .map_err(|e| HandlerError::InvalidProperties(vec![e]))?;
        let mut node = TmaxNode::new(
            &props,
            self.def.timings.pending_timeout.as_duration(),
            run_as,
            ctx.marker,
        );
        node.def = Some(self.def.clone());
        Ok(Box::new(node))
    }
}

/// One Tmax node.
#[derive(Debug)]
pub struct TmaxNode {
    boot: String,
    down: String,
    probe: Option<String>,
    env: Vec<(String, String)>,
    port: String,
    limit: Duration,
    run_as: Option<RunAs>,
    marker: String,
    /// Set from the start of online until offline or terminate succeeded (for the footprint).
    booted: bool,
    /// Its type, to validate properties changed in place.
    def: Option<TypeDef>,
}

impl TmaxNode {
    fn new(p: &Validated, limit: Duration, run_as: Option<RunAs>, marker: String) -> Self {
        let node = p.str("node").unwrap_or_default().to_string();
        let tmaxdir = p.str("tmaxdir").unwrap_or_default().to_string();
        let port = p.int("tportno").unwrap_or_default();
        let quoted = action::shell_quote(&node);
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let mut env = vec![
            ("TMAXDIR".to_string(), tmaxdir.clone()),
            ("TPORTNO".to_string(), port.to_string()),
            ("TMAX_NODE".to_string(), node.clone()),
            ("PATH".to_string(), format!("{tmaxdir}/bin:{path}")),
        ];
        env.extend(p.extra_env.iter().cloned());
        TmaxNode {
            boot: p
                .str("boot_command")
                .map(String::from)
                .unwrap_or(format!("tmboot -n {quoted}")),
            down: p
                .str("down_command")
                .map(String::from)
                .unwrap_or(format!("tmdown -n {quoted} -i")),
            probe: p.str("probe_command").map(String::from),
            env,
            port: format!("127.0.0.1:{port}"),
            limit,
            run_as,
            marker,
            booted: false,
            def: None,
        }
    }

    async fn run(&self, entry: &'static str, text: &str, limit: Duration) -> Result<Outcome> {
        let mut cmd = action::shell(text);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(user) = &self.run_as {
            user.apply(&mut cmd);
        }
        action::mark(&mut cmd, &self.marker);
        action::run_for(entry, cmd, limit).await
    }

    async fn answers(&self) -> bool {
        tcp_answers(&self.port, Duration::from_secs(1)).await
    }

    /// Waits until the port answers (`up`) or stops answering.
    async fn wait_port(&self, up: bool) {
        while self.answers().await != up {
            tokio::time::sleep(PORT_POLL).await;
        }
    }

    async fn wait_port_bounded(&self, entry: &'static str, up: bool) -> Result<()> {
        tokio::time::timeout(self.limit, self.wait_port(up))
            .await
            .map_err(|_| {
                let state = if up { "answer" } else { "close" };
                failed(
                    entry,
                    format!(
                        "TPORTNO {} did not {state} within {:?}",
                        self.port, self.limit
                    ),
                )
            })
    }
}

#[async_trait]
impl ResourceInstance for TmaxNode {
    async fn online(&mut self) -> Result<()> {
        if self.answers().await {
            self.booted = true;
            return Ok(());
        }
        self.booted = true;
        let out = self.run("online", &self.boot, self.limit).await?;
        if out.code != Some(0) {
            return Err(failed(
                "online",
                format!("{:?}: {}", self.boot, out.describe()),
            ));
        }
        self.wait_port_bounded("online", true).await
    }

    async fn offline(&mut self) -> Result<()> {
        if !self.answers().await {
            self.booted = false;
            return Ok(());
        }
        let out = self.run("offline", &self.down, self.limit).await?;
        if out.code != Some(0) && self.answers().await {
            return Err(failed(
                "offline",
                format!("{:?}: {}", self.down, out.describe()),
            ));
        }
        self.wait_port_bounded("offline", false).await?;
        self.booted = false;
        Ok(())
    }

    async fn terminate(&mut self) {
        let stopped = match self.run("terminate", &self.down, TERMINATE_LIMIT).await {
            Ok(out) if out.code == Some(0) || !self.answers().await => true,
            Ok(out) => {
                tracing::warn!("tmax-node terminate: {:?}: {}", self.down, out.describe());
                false
            }
            Err(e) => {
                tracing::warn!("tmax-node terminate: {e}");
                false
            }
        };
        // Whatever the boot started and the down left running carries the marker.
        let marked = Footprint::marked(&self.marker);
        crate::cleanup::kill_processes(&[marked], Duration::from_secs(1)).await;
        if stopped || !self.answers().await {
            self.booted = false;
        }
    }

    async fn looks_alive(&mut self) -> Health {
        if self.answers().await {
            Health::Alive
        } else {
            Health::Dead(format!("TPORTNO {} does not answer", self.port))
        }
    }

    async fn is_alive(&mut self) -> Health {
        if !tcp_answers(&self.port, CHECK_LIMIT).await {
            return Health::Dead(format!("TPORTNO {} does not answer", self.port));
        }
        let Some(probe) = &self.probe else {
            return Health::Alive;
        };
        match self.run("is_alive", probe, CHECK_LIMIT).await {
            Ok(out) if out.code == Some(0) => Health::Alive,
            Ok(out) => Health::Dead(format!("probe {probe:?}: {}", out.describe())),
            Err(e) => Health::Dead(e.to_string()),
        }
    }

    /// The boot, down and probe commands change in place (they are run afresh each time);
    /// everything else the schema marks `restart`.
    async fn reconfigure(
        &mut self,
        properties: &nonstop_contract::schema::Properties,
    ) -> Result<Reconfigured> {
        let Some(def) = self.def.clone() else {
            return Ok(Reconfigured::NeedsRestart);
        };
        let props = extend::validate(&def, &builtin::tmax_node().schema, properties)?;
        let fresh = TmaxNode::new(&props, self.limit, self.run_as.clone(), self.marker.clone());
        self.boot = fresh.boot;
        self.down = fresh.down;
        self.probe = fresh.probe;
        Ok(Reconfigured::Applied)
    }

    fn footprint(&self) -> Footprint {
        if self.booted {
            self.intent()
        } else {
            Footprint::default()
        }
    }

    /// What tmboot starts lives outside the agent's process tree but carries the marker; the
    /// down command undoes the rest.
    fn intent(&self) -> Footprint {
        let mut env = self.env.clone();
        env.push(("NONSTOP_DOWN".into(), self.down.clone()));
        env.push((crate::procs::MARKER_VAR.into(), self.marker.clone()));
        let line = action::shell_line(&env, "sh", &["-c", "eval \"$NONSTOP_DOWN\""]);
        Footprint {
            cleanup_commands: vec![line],
            run_as: self.run_as.as_ref().map(|u| (u.uid, u.gid)),
            ..Footprint::marked(&self.marker)
        }
    }
}

fn failed(entry: &'static str, reason: String) -> HandlerError {
    HandlerError::Failed { entry, reason }
}
