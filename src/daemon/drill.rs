//! Faults a drill injects on this node (proto/drill.proto): the daemon breaks itself, or what
//! its own agent started, when an operator's `nonstop drill` asks it to. The fault happens on the
//! node it is meant for, through its own daemon, so a drill on real machines needs no shell
//! access and breaks nothing else; a request that names another node is refused.
//!
//! ```text
//!  CRASH_DAEMON   answer, then SIGKILL to this process CRASH_DELAY later (at_ms): its watchdog
//!                 stays, sees the end of its input, stops what the agent started
//!  FREEZE_DAEMON  a helper process of its own (`nonstop drill-freeze`, in its own session)
//!                 sends SIGSTOP at at_ms and SIGCONT for_ms later: a hung daemon
//!  KILL_RESOURCE  SIGKILL to every process the agent recorded for the resource in its state
//!                 file (its process groups and marked processes): the application crashed
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop_agent::state_file::StateFile;
use nonstop_controller::server::auth::caller;
use nonstop_proto::drill as pb;
use nonstop_proto::drill::drill_service_server::DrillService;
use nonstop_resource_types::procs::{self, Processes};
use tonic::{Request, Response, Status};
use tracing::warn;

/// How long after its answer a crashing daemon dies: time for the answer to leave.
pub const CRASH_DELAY: Duration = Duration::from_millis(50);

/// The longest freeze a drill may ask for.
pub const FREEZE_MAX: Duration = Duration::from_secs(600);

/// The drill service of one node's daemon.
#[derive(Debug, Clone)]
pub struct DrillApi {
    /// The node this daemon runs.
    pub node: String,
    /// Its agent's state file (what the agent started).
    pub state_file: PathBuf,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tonic::async_trait]
impl DrillService for DrillApi {
    async fn inject(
        &self,
        r: Request<pb::InjectRequest>,
    ) -> Result<Response<pb::InjectReply>, Status> {
        let who = caller(&r)?.to_string();
        let req = r.into_inner();
        if req.node != self.node {
            return Err(Status::failed_precondition(format!(
                "node: this daemon runs node {:?}, not {:?}: nothing was done",
                self.node, req.node
            )));
        }
        let drill = &req.drill;
        let (at_ms, detail) = match pb::Fault::try_from(req.fault) {
            Ok(pb::Fault::CrashDaemon) => {
                let at = now_ms() + CRASH_DELAY.as_millis() as u64;
                warn!(%who, drill, "drill: this daemon is killed (SIGKILL) in {CRASH_DELAY:?}");
                tokio::spawn(async {
                    tokio::time::sleep(CRASH_DELAY).await;
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
                });
                (at, "the daemon is killed (SIGKILL)".to_string())
            }
            Ok(pb::Fault::FreezeDaemon) => {
                let length = Duration::from_millis(req.for_ms);
                if length.is_zero() || length > FREEZE_MAX {
                    return Err(Status::invalid_argument(format!(
                        "for_ms: {} is not between 1 and {} (10 minutes)",
                        req.for_ms,
                        FREEZE_MAX.as_millis()
                    )));
                }
                let at = now_ms() + CRASH_DELAY.as_millis() as u64;
                freeze(at, length).map_err(|e| {
                    Status::internal(format!("cannot start the freezing helper: {e}"))
                })?;
                warn!(%who, drill, "drill: this daemon is stopped (SIGSTOP) for {length:?}");
                (
                    at,
                    format!("the daemon is stopped (SIGSTOP) for {} ms", req.for_ms),
                )
            }
            Ok(pb::Fault::KillResource) => {
                let at = now_ms();
                let killed = self.kill_resource(&req.resource).await?;
                warn!(%who, drill, resource = req.resource, "drill: {killed}");
                (at, killed)
            }
            _ => {
                return Err(Status::invalid_argument(format!(
                    "fault: {} is not a fault this node injects (CRASH_DAEMON, FREEZE_DAEMON, \
                     KILL_RESOURCE)",
                    req.fault
                )));
            }
        };
        Ok(Response::new(pb::InjectReply { at_ms, detail }))
    }
}

impl DrillApi {
    /// Kills every process the agent recorded for `resource`; an error when it recorded none
    /// that runs.
    async fn kill_resource(&self, resource: &str) -> Result<String, Status> {
        let started = StateFile::load(&self.state_file)
            .map_err(|e| Status::internal(format!("cannot read the agent's state file: {e}")))?;
        let Some(s) = started.get(resource) else {
            return Err(Status::failed_precondition(format!(
                "resource: {resource:?} is not started on node {:?}: nothing was killed",
                self.node
            )));
        };
        let footprint = s.footprint.clone();
        let killed = tokio::task::spawn_blocking(move || {
            procs::kill_all(
                &[Processes {
                    groups: &footprint.process_groups,
                    marker: footprint.marker.as_deref(),
                    boot: footprint.boot_id.as_deref(),
                }],
                Duration::from_secs(1),
            )
        })
        .await
        .map_err(|e| Status::internal(format!("the kill failed: {e}")))?;
        if killed.signalled == 0 {
            return Err(Status::failed_precondition(format!(
                "resource: {resource:?} has no process running on node {:?} (a type without \
                 processes cannot crash this way): nothing was killed",
                self.node
            )));
        }
        Ok(format!(
            "killed {} process(es) or process group(s) of {resource} (SIGKILL)",
            killed.signalled
        ))
    }
}

/// Starts the helper that stops this process at `at_ms` and continues it `length` later. The
/// helper runs in its own session (a stop of the daemon's process group does not stop it) and
/// is waited for, so that it leaves no zombie.
fn freeze(at_ms: u64, length: Duration) -> std::io::Result<()> {
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.args([
        "drill-freeze",
        "--pid",
        &std::process::id().to_string(),
        "--at-ms",
        &at_ms.to_string(),
        "--for-ms",
        &length.as_millis().to_string(),
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .process_group(0);
    let mut child = cmd.spawn()?;
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

/// The options of the helper `nonstop drill-freeze` (hidden; started by a daemon only).
#[derive(Debug, clap::Args)]
pub struct FreezeArgs {
    /// The daemon to freeze.
    #[arg(long)]
    pid: i32,
    /// When to stop it, in ms since the Unix epoch.
    #[arg(long)]
    at_ms: u64,
    /// For how long.
    #[arg(long)]
    for_ms: u64,
}

/// Runs the freezing helper: SIGSTOP at `at_ms`, SIGCONT `for_ms` later. It runs in its own
/// process group, so a Ctrl-C on the daemon's terminal does not reach it.
pub fn freeze_helper(args: FreezeArgs) -> std::process::ExitCode {
    use nix::sys::signal::{self, Signal};
    let pid = nix::unistd::Pid::from_raw(args.pid);
    std::thread::sleep(Duration::from_millis(args.at_ms.saturating_sub(now_ms())));
    if signal::kill(pid, Signal::SIGSTOP).is_err() {
        return std::process::ExitCode::FAILURE;
    }
    std::thread::sleep(Duration::from_millis(args.for_ms));
    match signal::kill(pid, Signal::SIGCONT) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}
