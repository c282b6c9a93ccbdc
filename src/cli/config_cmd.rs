//! `nonstop config check FILE`: reads a `cluster.yaml` and reports every error as
//! `FILE:LINE:COL: message`, or a one-line summary when it is valid. Writes nothing.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use nonstop_controller::config;

use super::output::{say, tell};

/// `nonstop config ...`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    cmd: ConfigCmd,
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check a cluster.yaml: exit 0 when valid, 1 with every error otherwise.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// Runs a `config` subcommand.
pub fn run(args: ConfigArgs) -> ExitCode {
    match args.cmd {
        ConfigCmd::Check { file } => check(&file),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let name = path.display().to_string();
    let result = config::read(path).and_then(|text| {
        let c = config::check(&name, &text)?;
        // Fence agents installed here are asked for their parameters.
        let agents = super::fence_agents::check(&name, &text, &c.file);
        if agents.is_empty() {
            Ok(c)
        } else {
            Err(agents)
        }
    });
    match result {
        Ok(c) => {
            say!("ok: {}", summary(&c.file));
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in &diags {
                tell!("{d}");
            }
            let n = diags.len();
            tell!("{n} error{}", if n == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}

fn summary(f: &config::ClusterFile) -> String {
    let resources: usize = f.groups.iter().map(|g| g.resources.len()).sum();
    let mut parts = vec![
        count(f.nodes.len(), "node"),
        count(f.groups.len(), "group"),
        count(resources, "resource"),
    ];
    if !f.cousins.is_empty() {
        parts.push(count(f.cousins.len(), "cousin set"));
    }
    if !f.services.is_empty() {
        parts.push(count(f.services.len(), "service"));
    }
    if !f.alerts.is_empty() {
        parts.push(count(f.alerts.len(), "alert"));
    }
    parts.join(", ")
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
