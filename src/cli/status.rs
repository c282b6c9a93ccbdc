//! `nonstop status`: the leader, every node and every group at a glance.

use std::process::ExitCode;

use clap::Args;
use nonstop_proto::cluster as pb;

use super::client::{Client, ConnArgs, run_async};
use super::member::node_of;
use super::output::{cell, emit};
use super::views::{self, StatusView, group_table, node_table};

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
        // The reply names the leader by address; its node name is the leader's own answer.
        let leader_node = match reply.leader.as_str() {
            "" => None,
            address => node_of(c.links(), address).await,
        };
        let view = StatusView {
            leader_node,
            tls: c.is_tls(),
            ..StatusView::from(reply)
        };
        emit(c.format, &view, table)
    })
}

/// How many days ahead `status` warns about a node's certificate expiring.
const CERT_WARNING_DAYS: i64 = 30;

fn table(s: &StatusView) -> String {
    let leader = match (&s.leader, &s.leader_node) {
        (Some(l), Some(node)) => format!("leader {node} at {l} (term {})", s.term),
        (Some(l), None) => format!("leader {l} (term {})", s.term),
        (None, _) => "no leader".to_string(),
    };
    let mut insecure = if s.tls {
        String::new()
    } else {
        "INSECURE: plain gRPC, nobody is authenticated (this cluster runs without TLS)\n".into()
    };
    for n in &s.nodes {
        if let Some(at) = &n.certificate_expires
            && let Some(days) = views::days_until(at).filter(|d| *d <= CERT_WARNING_DAYS)
        {
            insecure += &format!(
                "WARNING: the certificate of node {} expires in {days} day(s), on {at}\n",
                n.name
            );
        }
    }
    format!(
        "{insecure}{leader}, revision {}, answered by {}\n\n{}\n\n{}",
        s.revision,
        cell(&Some(s.answered_by.clone()).filter(|a| !a.is_empty())),
        node_table(&s.nodes),
        group_table(&s.groups)
    )
}
