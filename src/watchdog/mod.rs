//! `nonstop watchdog`: a small process beside the daemon that fences the node when the agent's
//! lease runs out and the agent cannot do it itself (its daemon is stopped, hung or killed), as
//! Pacemaker's SBD does (docs/design.md).
//!
//! ```text
//!  daemon: AgentHandle::lease_deadline ─▶ supervisor task ──stdin, one line per change──▶
//!      watchdog: "<CLOCK_MONOTONIC ms>" | "none"
//!        Watch (pure) ─▶ wait until the deadline ─▶ past it: fence once (state file ─▶
//!        every entry's handler clean_up), keep reading
//!        EOF with a lease (the daemon died): fence at once, then tell the members
//!          ──AgentService.Stopped(node, incarnation, resources)──▶ leader: the node is Down
//!          now, its groups move without waiting out node_timeout (docs/design.md); exit
//! ```
//!
//! The daemon's end of the pipe closes only when the daemon's process is gone (the pipe is not
//! inherited by anything it starts: close-on-exec), or when its agent stopped, after `none`.
//!
//! It never writes the state file: the agent owns it, and cleans the same entries again when it
//! resumes or restarts (clean-up is idempotent).

mod decision;
pub mod hardware;
pub mod supervisor;

use crate::daemon::logging::{self, LogFormat};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nix::time::{ClockId, clock_gettime};
use nonstop_agent::grpc::StopAnswer;
use nonstop_agent::state_file::{StartedMap, StateFile};
use nonstop_resource_types::{Registry, RegistryConfig};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tracing::{error, info, warn};

pub use decision::{Action, Event, Watch};
use hardware::{Device, Feed, Feeding, Hardware};

/// The options of `nonstop watchdog` (started by the daemon, not by people).
#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// The agent's state file (agent-state.json): what to clean up when the lease runs out.
    #[arg(long)]
    pub state: PathBuf,
    /// Directories of `exec` plug-ins named in the state file (as the agent's `plugin_dirs`).
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
    /// The node's node.yaml: the members to tell, and the node's TLS identity to tell them
    /// with, when the daemon dies and everything is stopped. Without it nobody is told (the
    /// node is declared Down once its lease has run out, as without a watchdog).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The daemon run it guards (the agent's incarnation, which the leader registered).
    #[arg(long, default_value_t = 0, requires = "config")]
    pub incarnation: u64,
    /// A hardware watchdog device to feed (node.yaml `agent.hardware_watchdog`).
    #[arg(long)]
    pub hardware: Option<PathBuf>,
    /// How it logs (its daemon's format).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How long it waits for the hardware watchdog device to be free (the watchdog of a daemon
/// that just died may hold it while it stops what that daemon ran).
const HARDWARE_OPEN_WAIT: Duration = Duration::from_secs(10);

/// How long a watchdog keeps trying to tell the members: past it, the node's lease has long run
/// out and the members have declared it Down on their own.
const TELL_FOR: Duration = Duration::from_secs(30);
/// Pause between two tries.
const TELL_RETRY: Duration = Duration::from_millis(50);

/// Runs the watchdog until its input ends and nothing is left to guard.
pub fn run(args: WatchdogArgs) -> ExitCode {
    logging::init(args.log_format, logging::To::Stderr);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return crate::cli::fail(&format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(Watchdog::new(args).run());
    ExitCode::SUCCESS
}

/// The watchdog's I/O side: it reads, sleeps and fences as [`Watch`] decides.
struct Watchdog {
    state: PathBuf,
    handlers: Registry,
    /// The state file as it was when the daemon went away: after that, a new daemon may have
    /// started on this node, and what it starts is not this watchdog's to kill.
    snapshot: Option<StartedMap>,
    /// How to tell the members that the daemon died and everything is stopped.
    tell: Option<(PathBuf, u64)>,
    /// The hardware watchdog it feeds, if any, and when it last did.
    hardware: Option<Box<dyn Hardware>>,
    feeding: Feeding,
    fed_at: std::time::Instant,
}

impl Watchdog {
    fn new(args: WatchdogArgs) -> Self {
        let hardware =
            args.hardware
                .as_ref()
                .and_then(|path| match Device::open(path, HARDWARE_OPEN_WAIT) {
                    Ok(d) => {
                        info!(device = %path.display(), "feeding the hardware watchdog");
                        Some(Box::new(d) as Box<dyn Hardware>)
                    }
                    Err(e) => {
                        error!(
                            device = %path.display(),
                            "cannot open the hardware watchdog: {e}; running without it"
                        );
                        None
                    }
                });
        let handlers = Registry::new(RegistryConfig {
            plugin_dirs: args.plugin_dirs,
            ..RegistryConfig::default()
        });
        Watchdog {
            state: args.state,
            handlers,
            snapshot: None,
            tell: args
                .config
                .filter(|_| args.incarnation != 0)
                .map(|c| (c, args.incarnation)),
            hardware,
            feeding: Feeding::default(),
            fed_at: std::time::Instant::now(),
        }
    }

    async fn run(mut self) {
        info!(state = %self.state.display(), "watchdog started");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        self.feed(false);
        let mut watch = Watch::new();
        let mut action = watch.next();
        loop {
            action = match action {
                Action::Wait(until) => {
                    let event = self.read(&mut lines, until).await;
                    watch.on(event, now_ms())
                }
                Action::Fence {
                    deadline,
                    late_ms,
                    daemon_gone,
                } => {
                    let (stopped, left) = self.fence(deadline, late_ms, daemon_gone).await;
                    self.feeding.fenced(!left.is_empty());
                    self.feed(false);
                    if daemon_gone {
                        self.tell(stopped, left).await;
                    }
                    watch.next()
                }
                Action::Ignore(why) => {
                    warn!("{why}");
                    watch.next()
                }
                Action::Exit => break,
            }
        }
        self.feed(true);
        info!("watchdog: the daemon is gone and nothing is left to guard; exiting");
    }

    /// The next event: a line, the end of input, or `until` passing. Feeds the hardware
    /// watchdog meanwhile, every [`hardware::PET_EVERY`].
    async fn read(&mut self, lines: &mut Lines<BufReader<Stdin>>, until: Option<u64>) -> Event {
        let event = loop {
            let to_deadline = until.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
            let to_feed = self
                .hardware
                .as_ref()
                .map(|_| hardware::PET_EVERY.saturating_sub(self.fed_at.elapsed()));
            let wait = match (to_deadline, to_feed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Cancel-safe: a line half read when the wait ends is kept for the next call.
            let next = lines.next_line();
            let read = match wait {
                Some(w) => tokio::time::timeout(w, next).await.ok(),
                None => Some(next.await),
            };
            match read {
                Some(Ok(Some(line))) => break Event::Line(line),
                Some(Ok(None)) => break Event::Eof,
                Some(Err(e)) => {
                    error!("watchdog: cannot read its input: {e}; taking the daemon as gone");
                    break Event::Eof;
                }
                None => {
                    if self.fed_at.elapsed() >= hardware::PET_EVERY {
                        self.feed(false);
                    }
                    if until.is_some_and(|at| now_ms() >= at) {
                        break Event::Timeout;
                    }
                }
            }
        };
        if event == Event::Eof && self.snapshot.is_none() {
            self.snapshot = Some(load(&self.state));
        }
        event
    }

    /// Gives the hardware watchdog, if any, what [`Feeding`] says; `exiting` before an exit.
    fn feed(&mut self, exiting: bool) {
        let Some(hw) = self.hardware.as_mut() else {
            return;
        };
        let result = match self.feeding.next(exiting) {
            Feed::Pet => hw.pet(),
            Feed::Release => hw.release(),
            Feed::Withhold => {
                if exiting {
                    error!(
                        "watchdog: exiting with something it had to stop still running: the \
                         hardware watchdog stays armed and resets the machine"
                    );
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            error!("watchdog: the hardware watchdog: {e}");
        }
        self.fed_at = std::time::Instant::now();
    }

    /// Cleans up everything the state file names; logs what and how late. Returns what it named
    /// and what is not undone.
    async fn fence(
        &mut self,
        deadline: u64,
        late_ms: u64,
        daemon_gone: bool,
    ) -> (Vec<String>, StartedMap) {
        let started = match &self.snapshot {
            Some(s) => s.clone(),
            None => load(&self.state),
        };
        let names: Vec<String> = started
            .iter()
            .map(|(name, s)| format!("{name} {:?}", s.footprint))
            .collect();
        error!(
            deadline_ms = deadline,
            late_ms,
            "watchdog: {}: fencing {} resource(s): {}",
            if daemon_gone {
                "the daemon died holding the agent's lease"
            } else {
                "the agent's lease ran out and the agent did not renew it"
            },
            names.len(),
            names.join(", ")
        );
        let left = nonstop_agent::leftovers::clean_up(&started, &self.handlers).await;
        if left.is_empty() {
            info!(
                late_ms = now_ms().saturating_sub(deadline),
                "watchdog: fenced"
            );
        } else {
            error!(
                "watchdog: not undone: {}",
                left.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        (started.into_keys().collect(), left)
    }

    /// Tells the members that the daemon died and that everything its agent had started is
    /// stopped, so that the node is declared Down now rather than after `node_timeout`. Not
    /// when anything is left running (then only the lease's end frees its groups), and not for
    /// long: a refusal (a newer daemon registered) or [`TELL_FOR`] ends it.
    async fn tell(&self, stopped: Vec<String>, left: StartedMap) {
        let Some((config, incarnation)) = &self.tell else {
            return;
        };
        if !left.is_empty() {
            warn!("watchdog: not telling the members: something it stopped may still run");
            return;
        }
        let (link, members, member) = match crate::daemon::config::NodeConfig::load(config)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                let links = c.links().map_err(|(f, why)| format!("{f}: {why}"))?;
                let dial = crate::daemon::roles::dial_of(&c, links);
                let members = c.controller_addresses().len();
                let member = c.controller.as_ref().map(|r| r.id);
                Ok((
                    crate::daemon::roles::watchdog_link(&c, &dial),
                    members,
                    member,
                ))
            }) {
            Ok(found) => found,
            Err(e) => {
                error!("watchdog: cannot reach the members to tell them: {e}");
                return;
            }
        };
        // The raft member this daemon ran died with it; if it led, the others would wait an
        // election timeout to notice. One of them campaigns now instead.
        if let Some(id) = member {
            match link.member_gone(id).await {
                Some((at, true)) => info!(member = id, %at, "watchdog: a member campaigns now"),
                Some(_) => {}
                None => warn!("watchdog: no member could be told that member {id} is gone"),
            }
        }
        let until = std::time::Instant::now() + TELL_FOR;
        let mut tries = 0u32;
        loop {
            match link.stopped(*incarnation, stopped.clone()).await {
                Ok(StopAnswer::Down(now)) => {
                    info!(
                        declared_now = now,
                        tries = tries + 1,
                        "watchdog: the members know the node runs nothing; its groups move"
                    );
                    return;
                }
                Ok(StopAnswer::Refused(why)) => {
                    warn!("watchdog: the members refused its word: {why}");
                    return;
                }
                Err(e) if std::time::Instant::now() >= until => {
                    warn!("watchdog: could not tell the members ({e}); the lease's end will");
                    return;
                }
                Err(e) => {
                    if tries == 0 {
                        warn!("watchdog: telling the members failed, retrying: {e}");
                    }
                    tries = tries.saturating_add(1);
                    // One round over the members, and the leader one of them names, at once;
                    // then pauses from 5 ms, doubling up to TELL_RETRY (an election is under
                    // way, or the new leader is not ready yet).
                    if let Some(n) = (tries as usize).checked_sub(members + 1) {
                        let pause = Duration::from_millis(5) * 2u32.pow(n.min(4) as u32);
                        tokio::time::sleep(pause.min(TELL_RETRY)).await;
                    }
                }
            }
        }
    }
}

/// The state file's entries; an unreadable file is logged and counts as empty (there is
/// nothing else to go by).
fn load(path: &Path) -> StartedMap {
    StateFile::load(path).unwrap_or_else(|e| {
        error!("watchdog: {e}; nothing to fence");
        StartedMap::new()
    })
}

/// CLOCK_MONOTONIC in milliseconds: the clock the daemon converts the lease's end to.
pub fn now_ms() -> u64 {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64) * 1000 + (t.tv_nsec() as u64) / 1_000_000,
        // CLOCK_MONOTONIC exists on every Linux; should it fail, "never" keeps the fence away
        // from a reading that means nothing (the agent's own lease still fences).
        Err(e) => {
            error!("watchdog: cannot read CLOCK_MONOTONIC: {e}");
            0
        }
    }
}
