//! `process`: runs a program (Tmax SERVER, MSCS Generic Application) and watches it.
//!
//! ```text
//!  online ──spawn × instances──▶ child (own process group, dies with the agent)
//!                                  │ exit
//!  watcher task (one per child) ◀──┘──▶ FailureSink.fail("instance 0 (pid 41) exited ...")
//! ```
//!
//! Failure is detected by the child's exit at once (a task awaits it), not by polling, so the
//! agent can restart it within milliseconds. `offline` sends the stop signal to each process
//! group and kills what is left after the grace period.

use async_trait::async_trait;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

use crate::action::{self, kill_group};
use crate::builtin;
use crate::extend::{self, Validated};
use crate::handler::{
    FailureSink, Footprint, HandlerError, Health, OpenContext, ResourceHandler, ResourceInstance,
    Result,
};
use crate::typedef::TypeDef;

/// How long `terminate` waits for killed processes to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(2);
/// How long `is_alive`'s TCP connect and check command may take.
const CHECK_LIMIT: Duration = Duration::from_secs(5);

/// The `process` handler (or a type that extends it).
#[derive(Debug)]
pub struct ProcessHandler {
    def: TypeDef,
}

impl ProcessHandler {
    /// A handler for `def`, whose schema is the process schema or extends it.
    pub fn new(def: TypeDef) -> Self {
        ProcessHandler { def }
    }
}

#[async_trait]
impl ResourceHandler for ProcessHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let props = extend::validate(&self.def, &builtin::process().schema, &ctx.properties)?;
        let config = Config::from_props(&props, &ctx)?;
        Ok(Box::new(ProcessInstance {
            config,
            failures: ctx.failures,
            slots: Vec::new(),
        }))
    }
}

/// A validated configuration.
#[derive(Clone, Debug)]
struct Config {
    resource: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    instances: usize,
    stop_signal: Signal,
    stop_grace: Duration,
    log: PathBuf,
    check_tcp: Option<String>,
    check_command: Option<String>,
}

impl Config {
    fn from_props(p: &Validated, ctx: &OpenContext) -> Result<Config> {
        let invalid = |name: &str, reason: String| {
            HandlerError::InvalidProperties(vec![crate::schema::PropertyError {
                property: name.into(),
                reason,
            }])
        };
        let mut env = Vec::new();
        for pair in p.list("env") {
            match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
                _ => return Err(invalid("env", format!("{pair:?} is not KEY=VALUE"))),
            }
        }
        env.extend(p.extra_env.iter().cloned());
        let signal = p.str("stop_signal").unwrap_or("TERM");
        let stop_signal = format!("SIG{signal}")
            .parse::<Signal>()
            .map_err(|_| invalid("stop_signal", format!("{signal:?} is not a signal")))?;
        Ok(Config {
            resource: ctx.resource.clone(),
            command: p.str("command").unwrap_or_default().to_string(),
            args: p.list("args"),
            env,
            cwd: p.str("cwd").map(PathBuf::from),
            instances: p.int("instances").unwrap_or(1).max(1) as usize,
            stop_signal,
            stop_grace: p.duration("stop_grace").unwrap_or(Duration::from_secs(5)),
            log: p
                .str("log")
                .map(PathBuf::from)
                .unwrap_or_else(|| ctx.data_dir.join("output.log")),
            check_tcp: p.str("check_tcp").map(String::from),
            check_command: p.str("check_command").map(String::from),
        })
    }
}

/// One started copy of the program.
#[derive(Debug)]
struct Slot {
    /// Its pid, which is also its process group's id.
    pid: i32,
    /// Set by its watcher when it exits: how it ended.
    exited: watch::Receiver<Option<String>>,
    /// Set before the agent stops it on purpose, so that its exit is not reported as a failure.
    stopping: Arc<AtomicBool>,
}

impl Slot {
    /// How it ended, if it did: from its watcher, or from the kernel when it exited but the
    /// watcher has not reaped it yet (so a check right after an exit already sees it).
    fn exit(&self) -> Option<String> {
        let seen = self.exited.borrow().clone();
        seen.or_else(|| is_zombie(self.pid).then(|| "exited".to_string()))
    }
}

/// Whether `pid` has exited and waits to be reaped (state `Z` in /proc/PID/stat).
fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain any byte.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// One `process` resource.
#[derive(Debug)]
pub struct ProcessInstance {
    config: Config,
    failures: FailureSink,
    slots: Vec<Slot>,
}

impl ProcessInstance {
    fn all_running(&self) -> bool {
        self.slots.len() == self.config.instances && self.slots.iter().all(|s| s.exit().is_none())
    }

    fn command(&self, index: usize) -> Result<Command> {
        let c = &self.config;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&c.log)
            .map_err(|source| io_error(format!("cannot open log file {:?}", c.log), source))?;
        let err_log = log
            .try_clone()
            .map_err(|source| io_error(format!("cannot open log file {:?}", c.log), source))?;
        let mut cmd = Command::new(&c.command);
        cmd.args(&c.args)
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .env("NONSTOP_RESOURCE", &c.resource)
            .env("NONSTOP_INSTANCE", index.to_string())
            .stdout(log)
            .stderr(err_log);
        if let Some(dir) = &c.cwd {
            cmd.current_dir(dir);
        }
        action::isolate(&mut cmd);
        Ok(cmd)
    }

    /// Starts copy `index` and a task that reports its exit.
    fn spawn(&self, index: usize) -> Result<Slot> {
        let mut child = self.command(index)?.spawn().map_err(|source| {
            io_error(format!("cannot start {:?}", self.config.command), source)
        })?;
        // Invariant: a child that was just spawned and not yet awaited has a pid.
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let (tx, exited) = watch::channel(None);
        let stopping = Arc::new(AtomicBool::new(false));
        let (flag, failures) = (stopping.clone(), self.failures.clone());
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => format!("exited ({status})"),
                Err(e) => format!("could not be watched: {e}"),
            };
            let _ = tx.send(Some(how.clone()));
            if !flag.load(Ordering::SeqCst) {
                failures.fail(format!("instance {index} (pid {pid}) {how}"));
            }
        });
        Ok(Slot {
            pid,
            exited,
            stopping,
        })
    }

    /// Stops every copy: `signal` to each group, then SIGKILL after `grace`.
    async fn stop(&mut self, signal: Signal, grace: Duration) {
        for slot in &self.slots {
            // A copy that exited by itself before this stop is still a failure to report.
            if slot.exit().is_none() {
                slot.stopping.store(true, Ordering::SeqCst);
            }
            kill_group(slot.pid, signal);
        }
        if !wait_all_exited(&mut self.slots, grace).await {
            tracing::warn!(resource = %self.config.resource, "still running after {grace:?}: killing");
        }
        // Kill the whole group either way: the leader's children may outlive it.
        for slot in &self.slots {
            kill_group(slot.pid, Signal::SIGKILL);
        }
        wait_all_exited(&mut self.slots, REAP_LIMIT).await;
        self.slots.clear();
    }

    /// With `check_tcp`, waits until the address answers (or a copy exits).
    async fn wait_for_port(&mut self) -> Result<()> {
        let Some(addr) = self.config.check_tcp.clone() else {
            return Ok(());
        };
        loop {
            if let Some(health) = self.dead_copy() {
                return Err(failed(
                    "online",
                    format!("{health:?} before {addr} answered"),
                ));
            }
            if tcp_answers(&addr, Duration::from_millis(200)).await {
                return Ok(());
            }
            // The program is starting up: no event says when its port opens.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn dead_copy(&self) -> Option<Health> {
        if self.slots.len() < self.config.instances {
            return Some(Health::Dead("not started".into()));
        }
        self.slots.iter().enumerate().find_map(|(i, s)| {
            s.exit()
                .map(|how| Health::Dead(format!("instance {i} (pid {}) {how}", s.pid)))
        })
    }
}

#[async_trait]
impl ResourceInstance for ProcessInstance {
    async fn online(&mut self) -> Result<()> {
        if !self.all_running() {
            // Copies that died are replaced; running ones stay (no second copy).
            if self.slots.iter().any(|s| s.exit().is_some()) {
                self.stop(Signal::SIGKILL, REAP_LIMIT).await;
            }
            for index in self.slots.len()..self.config.instances {
                let slot = self.spawn(index)?;
                self.slots.push(slot);
            }
        }
        self.wait_for_port().await
    }

    async fn offline(&mut self) -> Result<()> {
        let (signal, grace) = (self.config.stop_signal, self.config.stop_grace);
        self.stop(signal, grace).await;
        Ok(())
    }

    async fn terminate(&mut self) {
        self.stop(Signal::SIGKILL, REAP_LIMIT).await;
    }

    async fn looks_alive(&mut self) -> Health {
        self.dead_copy().unwrap_or(Health::Alive)
    }

    async fn is_alive(&mut self) -> Health {
        if let Some(dead) = self.dead_copy() {
            return dead;
        }
        if let Some(addr) = &self.config.check_tcp
            && !tcp_answers(addr, CHECK_LIMIT).await
        {
            return Health::Dead(format!("{addr} does not answer"));
        }
        if let Some(text) = &self.config.check_command {
            return match action::run(action::shell(text), CHECK_LIMIT).await {
                Ok(out) if out.code == Some(0) => Health::Alive,
                Ok(out) => Health::Dead(format!("check command: {}", out.describe())),
                Err(e) => Health::Dead(format!("check command cannot run: {e}")),
            };
        }
        Health::Alive
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            process_groups: self.slots.iter().map(|s| s.pid).collect(),
            ..Footprint::default()
        }
    }

    async fn close(&mut self) {
        self.terminate().await;
    }
}

/// Waits until every slot's process exited, at most `limit`; says whether they all did.
async fn wait_all_exited(slots: &mut [Slot], limit: Duration) -> bool {
    let all = async {
        for slot in slots.iter_mut() {
            let _ = slot.exited.wait_for(|e| e.is_some()).await;
        }
    };
    tokio::time::timeout(limit, all).await.is_ok()
}

/// Whether a TCP connect to `addr` (`host:port`) succeeds within `limit`.
pub async fn tcp_answers(addr: &str, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

fn failed(entry: &'static str, reason: String) -> HandlerError {
    HandlerError::Failed { entry, reason }
}

fn io_error(context: String, source: std::io::Error) -> HandlerError {
    HandlerError::Io { context, source }
}
