//! `nonstop audit`: the operator commands the cluster applied, who gave them and when.

use std::process::ExitCode;

use clap::Args;
use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::{Client, ConnArgs, call, run_async};
use super::output::{emit, rows, timestamp};

/// The options of `nonstop audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the newest N entries [default: all the cluster keeps].
    #[arg(long)]
    limit: Option<u32>,
    #[command(flatten)]
    conn: ConnArgs,
}

/// One operator command.
#[derive(Debug, Serialize)]
struct EntryView {
    /// Cluster time, milliseconds since the Unix epoch.
    at_ms: u64,
    user: String,
    command: String,
}

/// Runs `nonstop audit`.
pub fn run(args: AuditArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        let req = pb::AuditRequest {
            limit: args.limit.unwrap_or(0),
        };
        let reply = call!(c, audit, req)?;
        let entries: Vec<EntryView> = reply
            .entries
            .into_iter()
            .map(|e| EntryView {
                at_ms: e.at_ms,
                user: e.user,
                command: e.command,
            })
            .collect();
        emit(c.format, &entries, |e| table(e))
    })
}

fn table(entries: &[EntryView]) -> String {
    let r = entries
        .iter()
        .map(|e| [timestamp(e.at_ms), e.user.clone(), e.command.clone()]);
    rows(&["AT (UTC)", "USER", "COMMAND"], r)
}
