//! `nonstop watchdog`: a small process beside the daemon that fences the node when the agent's
//! lease runs out and the agent cannot do it itself (its daemon is stopped, hung or killed), as
//! Pacemaker's SBD does (docs/design.md).
//!
//! ```text
//!  daemon: AgentHandle::lease_deadline ─▶ supervisor task ──stdin, one line per change──▶
//!      watchdog: "<CLOCK_MONOTONIC ms>" | "none"
//!        Watch (pure) ─▶ wait until the deadline ─▶ past it: fence once (state file ─▶
//!        every entry's handler clean_up), keep reading; EOF: fence at the deadline, exit
//! ```
//!
//! It never writes the state file: the agent owns it, and cleans the same entries again when it
//! resumes or restarts (clean-up is idempotent).

mod decision;
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nix::time::{ClockId, clock_gettime};
use nonstop_agent::state_file::{StartedMap, StateFile};
use nonstop_resource_types::{Registry, RegistryConfig};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tracing::{error, info, warn};

pub use decision::{Action, Event, Watch};

/// The options of `nonstop watchdog` (started by the daemon, not by people).
#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// The agent's state file (agent-state.json): what to clean up when the lease runs out.
    #[arg(long)]
    pub state: PathBuf,
    /// Directories of `exec` plug-ins named in the state file (as the agent's `plugin_dirs`).
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
}

/// Runs the watchdog until its input ends and nothing is left to guard.
pub fn run(args: WatchdogArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
}

impl Watchdog {
    fn new(args: WatchdogArgs) -> Self {
        let handlers = Registry::new(RegistryConfig {
            plugin_dirs: args.plugin_dirs,
            ..RegistryConfig::default()
        });
        Watchdog {
            state: args.state,
            handlers,
            snapshot: None,
        }
    }

    async fn run(mut self) {
        info!(state = %self.state.display(), "watchdog started");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut watch = Watch::new();
        let mut action = watch.next();
        loop {
            action = match action {
                Action::Wait(until) => {
                    let event = self.read(&mut lines, until).await;
                    watch.on(event, now_ms())
                }
                Action::Fence { deadline, late_ms } => {
                    self.fence(deadline, late_ms).await;
                    watch.next()
                }
                Action::Ignore(why) => {
                    warn!("{why}");
                    watch.next()
                }
                Action::Exit => break,
            }
        }
        info!("watchdog: the daemon is gone and nothing is left to guard; exiting");
    }

    /// The next event: a line, the end of input, or `until` passing.
    async fn read(&mut self, lines: &mut Lines<BufReader<Stdin>>, until: Option<u64>) -> Event {
        let next = async {
            match lines.next_line().await {
                Ok(Some(line)) => Event::Line(line),
                Ok(None) => Event::Eof,
                Err(e) => {
                    error!("watchdog: cannot read its input: {e}; taking the daemon as gone");
                    Event::Eof
                }
            }
        };
        let event = match until {
            Some(at) => {
                let left = Duration::from_millis(at.saturating_sub(now_ms()));
                tokio::time::timeout(left, next)
                    .await
                    .unwrap_or(Event::Timeout)
            }
            None => next.await,
        };
        if event == Event::Eof && self.snapshot.is_none() {
            self.snapshot = Some(load(&self.state));
        }
        event
    }

    /// Cleans up everything the state file names; logs what and how late.
    async fn fence(&mut self, deadline: u64, late_ms: u64) {
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
            "watchdog: the agent's lease ran out and the agent did not renew it: fencing {} \
             resource(s): {}",
            names.len(),
            names.join(", ")
        );
        nonstop_agent::leftovers::clean_up(&started, &self.handlers).await;
        info!(
            late_ms = now_ms().saturating_sub(deadline),
            "watchdog: fenced"
        );
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
