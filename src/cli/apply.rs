//! `nonstop apply FILE`: makes the cluster's configuration match a cluster.yaml, as one
//! committed command, and prints the difference (`--dry-run`: only the difference).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::{CliError, Client, ConnArgs, call, run_async};
use super::output::emit;

/// The options of `nonstop apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The cluster.yaml to apply.
    file: PathBuf,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// What applying the file did (or would do).
#[derive(Debug, Serialize)]
struct ApplyView {
    file: String,
    dry_run: bool,
    /// One line per change: "+ group X", "- node Y", "~ resource Z: ...".
    changes: Vec<String>,
    applied: bool,
    /// The revision the change was committed at (the current one when nothing was).
    revision: u64,
}

/// Runs `nonstop apply`.
pub fn run(args: ApplyArgs) -> ExitCode {
    run_async(async move {
        let file = args.file.display().to_string();
        let yaml = std::fs::read_to_string(&args.file)
            .map_err(|e| CliError::Refused(format!("{file}: cannot read: {e}")))?;
        // Fence agents installed here are asked for their parameters (the members check the
        // rest of the file, and say what is wrong with it).
        if let Ok(checked) = nonstop_controller::config::check(&file, &yaml) {
            let found = super::fence_agents::check(&file, &yaml, &checked.file);
            if !found.is_empty() {
                let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
                return Err(CliError::Refused(lines.join("\n")));
            }
        }
        let mut c = Client::new(&args.conn)?;
        let req = pb::ApplyConfigRequest {
            yaml,
            file_name: file.clone(),
            dry_run: args.dry_run,
        };
        let reply = call!(c, apply_config, req)?;
        let view = ApplyView {
            file,
            dry_run: args.dry_run,
            changes: reply.changes,
            applied: reply.applied,
            revision: reply.revision,
        };
        emit(c.format, &view, text)
    })
}

fn text(v: &ApplyView) -> String {
    if v.changes.is_empty() {
        return format!("no change: the cluster already matches {}", v.file);
    }
    let head = if v.dry_run {
        format!("{} would change (dry run, nothing applied):", v.file)
    } else {
        format!("{} applied at revision {}:", v.file, v.revision)
    };
    format!("{head}\n  {}", v.changes.join("\n  "))
}
