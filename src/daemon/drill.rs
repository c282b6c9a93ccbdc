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
//!  PARTITION      nftables rules (table inet nonstop_drill_PORT) from at_ms on, for for_ms:
//!                 the node is cut off from the others, the kernel ends the cut by itself
//! ```
//!
//! A partition drops, in the input and output hooks, TCP to and from the daemon's listen port
//! (the members' and agents' calls to it, its answers) and every packet of a socket carrying
//! the daemon's mark ([`mark`]: its own connections to the members, dialled with `SO_MARK` by
//! `nonstop_pki::Dial`). So it works on one host too, where a local cluster's nodes differ
//! only by port. What the node's resources serve is not cut (other ports, unmarked sockets).
//! The port and the mark are elements of sets with a kernel-side timeout: the cut ends after
//! for_ms even if the daemon dies meanwhile; the daemon then deletes its table, and deletes a
//! leftover one when it starts ([`tidy`]). One daemon per port and network namespace: two
//! daemons on one port (different addresses) would share the table and the mark.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nonstop_agent::clock::wall_ms as now_ms;
use nonstop_agent::state_file::StateFile;
use nonstop_controller::server::auth::caller;
use nonstop_proto::drill as pb;
use nonstop_proto::drill::drill_service_server::DrillService;
use nonstop_resource_types::action;
use nonstop_resource_types::procs::{self, Processes};
use tonic::{Request, Response, Status};
use tracing::{error, info, warn};

/// How long after its answer a crashing daemon dies: time for the answer to leave.
pub const CRASH_DELAY: Duration = Duration::from_millis(50);

/// The longest freeze or partition a drill may ask for.
pub const FREEZE_MAX: Duration = Duration::from_secs(600);

/// How long one run of `nft` may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);

/// The drill service of one node's daemon.
#[derive(Debug, Clone)]
pub struct DrillApi {
    /// The node this daemon runs.
    node: String,
    /// Its agent's state file (what the agent started).
    state_file: PathBuf,
    /// The port it listens on: what a partition cuts, and the name of its table.
    port: u16,
    /// Whether a partition is on (one at a time: its end deletes the table).
    cutting: Arc<AtomicBool>,
}

/// The mark on every socket this daemon dials (src/daemon/roles.rs, `dial_of`): "ns" in the
/// high 16 bits, the listen port's low 14 bits below, so that each daemon of a local cluster
/// has its own. Bits 0x4000 and 0x8000 stay clear (kube-proxy's masquerade and drop marks).
/// A mark also selects `ip rule fwmark` routes: a host whose rules match this value routes
/// the daemon's connections by them.
pub fn mark(port: u16) -> u32 {
    0x6e73_0000 | (u32::from(port) & 0x3fff)
}

/// The nftables table of this daemon's partitions.
pub fn table(port: u16) -> String {
    format!("nonstop_drill_{port}")
}

/// The nft script of a partition: (re)creates the table, whose sets hold the listen `port` and
/// the daemon's `mark` for `for_ms` (then the kernel drops them and the rules match nothing),
/// and the rules that drop what matches them. One transaction: all of it or nothing.
pub fn partition_rules(port: u16, mark: u32, for_ms: u64) -> String {
    let table = table(port);
    format!(
        "table inet {table}
delete table inet {table}
table inet {table} {{
	set ports {{
		type inet_service
		flags timeout
		elements = {{ {port} timeout {for_ms}ms }}
	}}
	set marks {{
		type mark
		flags timeout
		elements = {{ {mark:#x} timeout {for_ms}ms }}
	}}
	chain input {{
		type filter hook input priority -10; policy accept;
		tcp dport @ports drop
		tcp sport @ports drop
	}}
	chain output {{
		type filter hook output priority -10; policy accept;
		tcp dport @ports drop
		tcp sport @ports drop
		meta mark @marks drop
	}}
}}
"
    )
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
                let length = length(req.for_ms)?;
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
            Ok(pb::Fault::Partition) => {
                let length = length(req.for_ms)?;
                self.partition(length).await?;
                // The rules are checked now, and installed CRASH_DELAY from now.
                let at = now_ms() + CRASH_DELAY.as_millis() as u64;
                warn!(%who, drill, "drill: this node is cut off for {length:?} (nftables)");
                (
                    at,
                    format!(
                        "the node is cut off (nftables, table inet {}) for {} ms",
                        table(self.port),
                        req.for_ms
                    ),
                )
            }
            _ => {
                return Err(Status::invalid_argument(format!(
                    "fault: {} is not a fault this node injects (CRASH_DAEMON, FREEZE_DAEMON, \
                     KILL_RESOURCE, PARTITION)",
                    req.fault
                )));
            }
        };
        Ok(Response::new(pb::InjectReply { at_ms, detail }))
    }
}

/// A freeze's or a partition's length, checked.
fn length(for_ms: u64) -> Result<Duration, Status> {
    let length = Duration::from_millis(for_ms);
    if length.is_zero() || length > FREEZE_MAX {
        return Err(Status::invalid_argument(format!(
            "for_ms: {for_ms} is not between 1 and {} (10 minutes)",
            FREEZE_MAX.as_millis()
        )));
    }
    Ok(length)
}

impl DrillApi {
    /// The drill service of `node`'s daemon, listening on `port`, its agent's state file at
    /// `state_file`.
    pub fn new(node: &str, state_file: PathBuf, port: u16) -> DrillApi {
        DrillApi {
            node: node.to_string(),
            state_file,
            port,
            cutting: Arc::default(),
        }
    }

    /// Cuts this node off for `length`, CRASH_DELAY from now (time for the answer to leave):
    /// the rules are checked by `nft` first (nothing changes when they cannot be installed),
    /// then installed by a task that deletes the table again once they expired.
    async fn partition(&self, length: Duration) -> Result<(), Status> {
        if self.cutting.swap(true, Ordering::SeqCst) {
            return Err(Status::failed_precondition(format!(
                "node {:?} is cut off already (a partition is on): nothing was done",
                self.node
            )));
        }
        let on = Cutting(self.cutting.clone());
        let rules = partition_rules(self.port, mark(self.port), length.as_millis() as u64);
        nft(&["--check", "-f", "-"], &rules)
            .await
            .map_err(|e| e.status(&self.node))?;
        let table = table(self.port);
        tokio::spawn(async move {
            let _on = on;
            tokio::time::sleep(CRASH_DELAY).await;
            if let Err(e) = nft(&["-f", "-"], &rules).await {
                error!("drill: the partition could not be installed: {}", e.why());
                return;
            }
            tokio::time::sleep(length).await;
            match nft(&["delete", "table", "inet", &table], "").await {
                Ok(()) => info!("drill: the partition is over (table inet {table} deleted)"),
                // The kernel ended the cut all the same; the table is deleted at the next start.
                Err(e) => warn!("drill: the partition is over; {}", e.why()),
            }
        });
        Ok(())
    }

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

/// Clears the flag of a partition when its task ends (or its start failed).
#[derive(Debug)]
struct Cutting(Arc<AtomicBool>);

impl Drop for Cutting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why `nft` did not do it.
#[derive(Debug)]
enum NftError {
    /// There is no `nft` to run.
    Missing,
    /// It ran and refused; its words.
    Refused(String),
    /// It could not be run, or did not finish in time.
    Failed(String),
}

impl NftError {
    fn why(&self) -> String {
        match self {
            NftError::Missing => "nft (nftables) is not installed".into(),
            NftError::Refused(e) | NftError::Failed(e) => format!("nft: {e}"),
        }
    }

    /// The answer to a drill whose partition could not be installed on `node`.
    fn status(&self, node: &str) -> Status {
        let why = self.why();
        match self {
            NftError::Missing => Status::failed_precondition(format!(
                "node {node:?}: {why}: a partition needs nftables: nothing was done"
            )),
            NftError::Refused(e) if e.contains("Operation not permitted") => {
                Status::failed_precondition(format!(
                    "node {node:?}: {why}: a partition needs CAP_NET_ADMIN (a daemon run as \
                     root): nothing was done"
                ))
            }
            _ => Status::internal(format!("node {node:?}: {why}: nothing was done")),
        }
    }
}

/// Runs `nft ARGS` with `input` on its standard input, for at most NFT_TIMEOUT, as every
/// external program is run (its own process group, killed whole past its time).
async fn nft(args: &[&str], input: &str) -> Result<(), NftError> {
    let mut cmd = tokio::process::Command::new("nft");
    cmd.args(args);
    let out = action::run_with_input(cmd, Some(input.as_bytes().to_vec()), NFT_TIMEOUT)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => NftError::Missing,
            _ => NftError::Failed(format!("cannot run it: {e}")),
        })?;
    if out.timed_out {
        return Err(NftError::Failed(format!("not done within {NFT_TIMEOUT:?}")));
    }
    if out.code == Some(0) {
        return Ok(());
    }
    let said = out.stderr.lines().next().unwrap_or("").trim();
    Err(NftError::Refused(if said.is_empty() {
        out.describe()
    } else {
        said.to_string()
    }))
}

/// Deletes the partition table a previous run of the daemon on `port` may have left (it died
/// while its node was cut off): at start, best effort, quietly when there is none or no nft.
pub async fn tidy(port: u16) {
    let table = table(port);
    if nft(&["delete", "table", "inet", &table], "").await.is_ok() {
        info!("drill: deleted table inet {table}, left by a partition of an earlier run");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_port_has_its_own_mark_and_table() {
        assert_eq!(mark(7701), 0x6e73_1e15);
        assert_eq!(mark(7901), 0x6e73_1edd);
        // Never kube-proxy's 0x4000 or 0x8000, whatever the port.
        assert_eq!(mark(65535) & 0xc000, 0);
        assert_eq!(table(7901), "nonstop_drill_7901");
    }

    #[test]
    fn a_partition_drops_the_port_and_the_mark_until_they_expire() {
        let r = partition_rules(7901, 0x6e73_1edd, 4000);
        // Replaces a leftover table in the same transaction.
        assert!(r.starts_with(
            "table inet nonstop_drill_7901\ndelete table inet nonstop_drill_7901\n\
             table inet nonstop_drill_7901 {\n"
        ));
        assert!(r.contains("elements = { 7901 timeout 4000ms }"), "{r}");
        assert!(
            r.contains("elements = { 0x6e731edd timeout 4000ms }"),
            "{r}"
        );
        let chain = |name: &str| {
            let start = r.find(&format!("chain {name} {{")).unwrap();
            r[start..start + r[start..].find("\t}").unwrap()].to_string()
        };
        let input = chain("input");
        let output = chain("output");
        assert!(input.contains("hook input priority -10; policy accept;"));
        assert!(output.contains("hook output priority -10; policy accept;"));
        for c in [&input, &output] {
            assert!(c.contains("tcp dport @ports drop") && c.contains("tcp sport @ports drop"));
        }
        assert!(output.contains("meta mark @marks drop"));
        assert!(!input.contains("meta mark"));
        // nft itself accepts it (checked only: nothing is installed), where it can.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        match rt.block_on(nft(&["--check", "-f", "-"], &r)) {
            Ok(()) => {}
            Err(e @ (NftError::Missing | NftError::Refused(_))) if !is_root_with_nft() => {
                eprintln!("nft cannot check the rules here: {}", e.why());
            }
            Err(e) => panic!("{}\n{r}", e.why()),
        }
    }

    fn is_root_with_nft() -> bool {
        nix::unistd::geteuid().is_root()
            && std::process::Command::new("nft")
                .arg("--version")
                .output()
                .is_ok()
    }

    #[test]
    fn a_length_is_between_1_ms_and_10_minutes() {
        assert!(length(0).is_err());
        assert_eq!(length(1).unwrap(), Duration::from_millis(1));
        assert!(length(600_000).is_ok());
        let e = length(600_001).unwrap_err();
        assert_eq!(
            e.message(),
            "for_ms: 600001 is not between 1 and 600000 (10 minutes)"
        );
    }

    #[test]
    fn nft_failures_say_what_is_missing() {
        let s = NftError::Missing.status("a");
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert!(
            s.message().contains("nft (nftables) is not installed"),
            "{s:?}"
        );
        let s = NftError::Refused(
            "netlink: Error: cache initialization failed: Operation not permitted".into(),
        )
        .status("a");
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert!(s.message().contains("needs CAP_NET_ADMIN"), "{s:?}");
        let s = NftError::Refused("syntax error".into()).status("a");
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(
            s.message().ends_with("nft: syntax error: nothing was done"),
            "{s:?}"
        );
    }
}
