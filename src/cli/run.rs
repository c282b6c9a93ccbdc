//! `nonstop run --config node.yaml [--drain]`: one node's daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::daemon;

/// Arguments of `nonstop run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The node's configuration (node.yaml).
    #[arg(long)]
    config: PathBuf,
    /// On SIGTERM, move this node's groups away before stopping.
    #[arg(long)]
    drain: bool,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> ExitCode {
    let config = match daemon::config::NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return super::fail(&e.to_string()),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    // Tests make a daemon fail at a chosen point: FAILPOINTS=raft::before_log_write=panic.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return super::fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(daemon::run(config, args.drain)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}
