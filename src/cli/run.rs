//! `nonstop run --config node.yaml [--drain]`: one node's daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::daemon;
use crate::daemon::logging::{self, LogFormat};

/// Arguments of `nonstop run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The node's configuration (node.yaml).
    #[arg(long)]
    config: PathBuf,
    /// On SIGTERM, move this node's groups away before stopping.
    #[arg(long)]
    drain: bool,
    /// How to log: text (colour on a terminal only) or JSON lines [default: node.yaml
    /// `log_format`, else text].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> ExitCode {
    let mut config = match daemon::config::NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return super::fail(&e.to_string()),
    };
    if let Some(f) = args.log_format {
        config.log_format = f;
    }
    logging::init(config.log_format, logging::To::Stdout);
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
