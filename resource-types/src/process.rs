//! `process`: runs a program (Tmax SERVER, MSCS Generic Application) and watches it.
//!
//! ```text
//!  online ──spawn × instances──▶ child (own process group, marked, dies with the agent)
//!                                  │ exit
//!  watcher task (one per child) ◀──┘──▶ FailureSink.fail("instance 0 (pid 41) exited ...")
//! ```
//!
//! Failure is detected by the child's exit at once (a task awaits it), not by polling, so the
//! agent can restart it within milliseconds. When one copy of several exits while the others
//! run, the failure is partial: `online` replaces that copy alone. `offline` sends the stop
//! signal to each process group and kills what is left after the grace period; `terminate`
//! kills at once. Both then kill every process that carries the resource's marker, so children
//! that left the process group die too.

use async_trait::async_trait;
use nix::sys::signal::Signal;
use nonstop_contract::builtin;
use nonstop_contract::schema::{Properties, split_key_value};
use nonstop_contract::typedef::TypeDef;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

use crate::action::{self, kill_group};
use crate::extend::{self, Validated};
use crate::handler::{
    FailureSink, Footprint, HandlerError, Health, OpenContext, Reconfigured, ResourceHandler,
    ResourceInstance, Result,
};
use crate::procs::ProcessGroup;
use crate::runas::RunAs;

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
        let config = Config::read(&self.def, &ctx.properties, &ctx)?;
        Ok(Box::new(ProcessInstance {
            def: self.def.clone(),
            config,
            failures: ctx.failures,
            marker: ctx.marker,
            data_dir: ctx.data_dir,
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
    run_as: Option<RunAs>,
    /// The properties a type adds to `process`, as `NONSTOP_PROP_<name>` variables: in the
    /// program's environment at start, and in its properties file ([`PROPERTIES_FILE`]).
    added: Vec<(String, String)>,
    /// Sent to the copies when the added properties change (then applied without a restart).
    reload_signal: Option<Signal>,
    /// Where the added properties are written (`NONSTOP_PROPERTIES`).
    properties_file: PathBuf,
}

/// The file, in the resource's directory, that holds the properties a type adds to `process`
/// as `NONSTOP_PROP_<name>=<value>` lines; its path is in the program's `NONSTOP_PROPERTIES`.
pub const PROPERTIES_FILE: &str = "properties.env";

impl Config {
    fn read(def: &TypeDef, props: &Properties, ctx: &OpenContext) -> Result<Config> {
        let p = extend::validate(def, &builtin::process().schema, props)?;
        Self::from_props(&p, ctx)
    }

    fn from_props(p: &Validated, ctx: &OpenContext) -> Result<Config> {
        let invalid = |name: &str, reason: String| {
            HandlerError::InvalidProperties(vec![nonstop_contract::schema::PropertyError {
                property: name.into(),
                reason,
            }])
        };
        let mut env = Vec::new();
        for pair in p.list("env") {
            // The schema's rule (`key-value`), which validation already applied.
            let (k, v) = split_key_value(&pair).map_err(|why| invalid("env", why))?;
            env.push((k.to_string(), v.to_string()));
        }
        let signal = p.str("stop_signal").unwrap_or("TERM");
        let stop_signal = format!("SIG{signal}")
            .parse::<Signal>()
            .map_err(|_| invalid("stop_signal", format!("{signal:?} is not a signal")))?;
        let run_as = RunAs::from_props(p.str("user"), p.str("group"))
            .map_err(|e| HandlerError::InvalidProperties(vec![e]))?;
        let reload_signal = match p.str("reload_signal") {
            None => None,
            Some(name) => Some(
                format!("SIG{name}")
                    .parse::<Signal>()
                    .map_err(|_| invalid("reload_signal", format!("{name:?} is not a signal")))?,
            ),
        };
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
            run_as,
            added: p.extra_env.clone(),
            reload_signal,
            properties_file: ctx.data_dir.join(PROPERTIES_FILE),
        })
    }
}

/// One started copy of the program.
#[derive(Debug)]
struct Slot {
    /// Its process group: its pid, which is also the group's id, and its start time.
    group: ProcessGroup,
    /// Set by its watcher when it exits: how it ended.
    exited: watch::Receiver<Option<String>>,
    /// Set before the agent stops it on purpose, so that its exit is not reported as a failure.
    stopping: Arc<AtomicBool>,
}

impl Slot {
    fn pid(&self) -> i32 {
        self.group.pgid
    }

    /// Sends `signal` to its process group, while the group's number is still its own: until
    /// its watcher has reaped the leader (a reaped leader's number may come back for another
    /// process; what is left of the group then carries the marker and is killed by it).
    fn signal(&self, signal: Signal) {
        if self.exited.borrow().is_none() {
            kill_group(self.pid(), signal);
        }
    }

    /// How it ended, if it did: from its watcher, or from the kernel when it exited but the
    /// watcher has not reaped it yet (so a check right after an exit already sees it).
    fn exit(&self) -> Option<String> {
        let seen = self.exited.borrow().clone();
        seen.or_else(|| is_zombie(self.pid()).then(|| "exited".to_string()))
    }
}

/// Whether `pid` has exited and waits to be reaped (state `Z` in /proc/PID/stat).
fn is_zombie(pid: i32) -> bool {
    crate::procs::stat(pid).is_some_and(|s| s.zombie)
}

/// One `process` resource.
#[derive(Debug)]
pub struct ProcessInstance {
    def: TypeDef,
    config: Config,
    failures: FailureSink,
    marker: String,
    data_dir: PathBuf,
    /// One per copy, by instance index (`None`: not running).
    slots: Vec<Option<Slot>>,
}

impl ProcessInstance {
    /// Writes the added properties to the properties file (atomically: a program reading it on
    /// its reload signal never sees half of it).
    fn write_properties(&self) -> Result<()> {
        let c = &self.config;
        let text: String = c.added.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let tmp = c.properties_file.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &c.properties_file))
            .map_err(|source| io_error(format!("cannot write {:?}", c.properties_file), source))
    }

    fn running(&self) -> impl Iterator<Item = (usize, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
    }

    fn all_running(&self) -> bool {
        self.slots.len() == self.config.instances
            && self
                .slots
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| s.exit().is_none()))
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
            .envs(c.added.iter().map(|(k, v)| (k, v)))
            .env("NONSTOP_PROPERTIES", &c.properties_file)
            .env("NONSTOP_RESOURCE", &c.resource)
            .env("NONSTOP_INSTANCE", index.to_string())
            .stdout(log)
            .stderr(err_log);
        if let Some(dir) = &c.cwd {
            cmd.current_dir(dir);
        }
        if let Some(user) = &c.run_as {
            user.apply(&mut cmd);
        }
        action::mark(&mut cmd, &self.marker);
        action::isolate(&mut cmd);
        Ok(cmd)
    }

    /// Starts copy `index` and a task that reports its exit.
    async fn spawn(&self, index: usize) -> Result<Slot> {
        let cmd = self.command(index)?;
        let mut child = crate::spawner::spawn(cmd).await.map_err(|source| {
            io_error(format!("cannot start {:?}", self.config.command), source)
        })?;
        // Invariant: a child that was just spawned and not yet awaited has a pid.
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let group = ProcessGroup::led_by(pid);
        let (tx, exited) = watch::channel(None);
        let stopping = Arc::new(AtomicBool::new(false));
        let (flag, failures) = (stopping.clone(), self.failures.clone());
        let several = self.config.instances > 1;
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => format!("exited ({status})"),
                Err(e) => format!("could not be watched: {e}"),
            };
            let _ = tx.send(Some(how.clone()));
            if !flag.load(Ordering::SeqCst) {
                let reason = format!("instance {index} (pid {pid}) {how}");
                // One copy of several: the others may still run (looks_alive tells the agent
                // otherwise), and online replaces only this one.
                if several {
                    failures.fail_partial(reason);
                } else {
                    failures.fail(reason);
                }
            }
        });
        Ok(Slot {
            group,
            exited,
            stopping,
        })
    }

    /// Stops every copy: `signal` to each group, then SIGKILL after `grace`; then every process
    /// that carries the marker (children that left the group).
    async fn stop(&mut self, signal: Signal, grace: Duration) {
        stop_copies(&mut self.slots, signal, grace, &self.config.resource).await;
        let marked = Footprint::marked(&self.marker);
        crate::cleanup::kill_processes(&[marked], REAP_LIMIT).await;
        self.slots.clear();
    }

    /// With `check_tcp`, waits until the address answers (or a copy exits).
    async fn wait_for_port(&mut self) -> Result<()> {
        let Some(addr) = self.config.check_tcp.clone() else {
            return Ok(());
        };
        // The program is starting up: no event says when its port opens. Asked after 1 ms,
        // then after pauses doubling to 20 ms: a fail-over waits for this answer.
        let mut pause = Duration::from_millis(1);
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
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The first copy that is not running, if any.
    fn dead_copy(&self) -> Option<Health> {
        (0..self.config.instances).find_map(|i| match self.slots.get(i) {
            Some(Some(s)) => s
                .exit()
                .map(|how| Health::Dead(format!("instance {i} (pid {}) {how}", s.pid()))),
            _ => Some(Health::Dead(format!("instance {i} not started"))),
        })
    }

    /// Whether at least one copy runs.
    fn some_running(&self) -> bool {
        self.running().any(|(_, s)| s.exit().is_none())
    }

    /// The health of a multi-instance resource: Dead when no copy runs; when some do, the dead
    /// ones are reported as a partial failure (online replaces them) and it counts as alive.
    fn copies_health(&self) -> Option<Health> {
        let dead = self.dead_copy()?;
        if self.config.instances > 1 && self.some_running() {
            let Health::Dead(why) = dead else {
                return None;
            };
            self.failures.fail_partial(why);
            return None;
        }
        Some(dead)
    }
}

#[async_trait]
impl ResourceInstance for ProcessInstance {
    async fn online(&mut self) -> Result<()> {
        if !self.all_running() {
            self.write_properties()?;
            self.slots.resize_with(self.config.instances, || None);
            // Copies that died are replaced; running ones stay (no second copy).
            for index in 0..self.config.instances {
                let dead = match &self.slots[index] {
                    Some(s) => s.exit().is_some(),
                    None => true,
                };
                if dead {
                    self.slots[index] = None;
                    let slot = self.spawn(index).await?;
                    self.slots[index] = Some(slot);
                }
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
        self.copies_health().unwrap_or(Health::Alive)
    }

    async fn is_alive(&mut self) -> Health {
        if let Some(dead) = self.copies_health() {
            return dead;
        }
        if let Some(addr) = &self.config.check_tcp
            && !tcp_answers(addr, CHECK_LIMIT).await
        {
            return Health::Dead(format!("{addr} does not answer"));
        }
        if let Some(text) = &self.config.check_command {
            let mut cmd = action::shell(text);
            action::mark(&mut cmd, &self.marker);
            return match action::run(cmd, CHECK_LIMIT).await {
                Ok(out) if out.code == Some(0) => Health::Alive,
                Ok(out) => Health::Dead(format!("check command: {}", out.describe())),
                Err(e) => Health::Dead(format!("check command cannot run: {e}")),
            };
        }
        Health::Alive
    }

    fn footprint(&self) -> Footprint {
        if self.slots.iter().all(Option::is_none) {
            return Footprint::default();
        }
        Footprint {
            process_groups: self.running().map(|(_, s)| s.group.clone()).collect(),
            ..Footprint::marked(&self.marker)
        }
    }

    fn intent(&self) -> Footprint {
        Footprint::marked(&self.marker).union(&self.footprint())
    }

    async fn reconfigure(&mut self, properties: &Properties) -> Result<Reconfigured> {
        let ctx = OpenContext {
            resource: self.config.resource.clone(),
            properties: properties.clone(),
            data_dir: self.data_dir.clone(),
            failures: self.failures.clone(),
            marker: self.marker.clone(),
        };
        let new = Config::read(&self.def, properties, &ctx)?;
        // What the handler itself uses takes effect at once. The added properties reach the
        // program through its properties file and its reload signal, or not at all: then it
        // must be restarted (the schema's `restart` flags cover everything else).
        let reload = new.added != self.config.added;
        if reload && new.reload_signal.is_none() {
            return Ok(Reconfigured::NeedsRestart);
        }
        let (before, after) = (self.config.instances, new.instances);
        let running = self.some_running();
        self.config = new;
        if reload {
            self.write_properties()?;
            if let Some(sig) = self.config.reload_signal {
                for (_, slot) in self.running() {
                    if slot.exited.borrow().is_none() {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(slot.pid()), sig);
                    }
                }
            }
        }
        if after < before && self.slots.len() > after {
            let mut extra = self.slots.split_off(after);
            let (signal, grace) = (self.config.stop_signal, self.config.stop_grace);
            stop_copies(&mut extra, signal, grace, &self.config.resource).await;
        }
        if after > before && running {
            self.online().await?;
        }
        Ok(Reconfigured::Applied)
    }

    async fn close(&mut self) {
        self.terminate().await;
    }
}

/// Stops `slots`: `signal` to each group, SIGKILL to each after `grace`, and waits for the exits.
async fn stop_copies(slots: &mut [Option<Slot>], signal: Signal, grace: Duration, resource: &str) {
    for slot in slots.iter().flatten() {
        // A copy that exited by itself before this stop is still a failure to report.
        if slot.exit().is_none() {
            slot.stopping.store(true, Ordering::SeqCst);
        }
        slot.signal(signal);
    }
    if !wait_all_exited(slots, grace).await {
        tracing::warn!(%resource, "still running after {grace:?}: killing");
    }
    // Kill the whole group either way: the leader's children may outlive it.
    for slot in slots.iter().flatten() {
        slot.signal(Signal::SIGKILL);
    }
    wait_all_exited(slots, REAP_LIMIT).await;
}

/// Waits until every slot's process exited, at most `limit`; says whether they all did.
async fn wait_all_exited(slots: &mut [Option<Slot>], limit: Duration) -> bool {
    let all = async {
        for slot in slots.iter_mut().flatten() {
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
