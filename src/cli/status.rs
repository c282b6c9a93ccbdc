//! `nonstop status`: the leader, every node and every group at a glance.

use std::process::ExitCode;

use clap::Args;
use nonstop_proto::cluster as pb;

use super::client::{Client, ConnArgs, run_async};
use super::output::{cell, emit};
use super::views::{StatusView, group_table, node_table};

/// The options of `nonstop status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: ConnArgs,
}

/// Runs `nonstop status`.
pub fn run(args: StatusArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        let reply = c
            .call(|mut api| async move { api.status(pb::StatusRequest {}).await })
            .await?;
        emit(c.format, &StatusView::from(reply), table)
    })
}

fn table(s: &StatusView) -> String {
    let leader = match &s.leader {
        Some(l) => format!("leader {l} (term {})", s.term),
        None => "no leader".to_string(),
    };
    format!(
        "{leader}, revision {}, answered by {}\n\n{}\n\n{}",
        s.revision,
        cell(&Some(s.answered_by.clone()).filter(|a| !a.is_empty())),
        node_table(&s.nodes),
        group_table(&s.groups)
    )
}
