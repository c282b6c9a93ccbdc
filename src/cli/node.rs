//! `nonstop node`: list and show nodes; pause (drain), resume and evict them.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_proto::cluster as pb;

use super::client::{Client, ConnArgs, call, run_async};
use super::output::emit;
use super::views::{NodeView, node_fields, node_table, print_command};

/// The options of `nonstop node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    cmd: NodeCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum NodeCmd {
    /// Every node with its state and the groups it owns.
    List,
    /// One node in full.
    Show { name: String },
    /// Drain a node: its groups move away and nothing new lands on it.
    Pause { name: String },
    /// Let a paused node take groups again.
    Resume { name: String },
    /// Remove a node from the cluster: its groups move away for good.
    Evict { name: String },
}

/// Runs `nonstop node ...`.
pub fn run(args: NodeArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        match args.cmd {
            NodeCmd::List => {
                let list = call!(c, list_nodes, pb::ListRequest {})?;
                let nodes: Vec<NodeView> = list.nodes.into_iter().map(NodeView::from).collect();
                emit(c.format, &nodes, |n| node_table(n))
            }
            NodeCmd::Show { name } => {
                let n = call!(c, get_node, pb::NameRequest { name })?;
                emit(c.format, &NodeView::from(n), node_fields)
            }
            NodeCmd::Pause { name } => print_command(c.format, call!(c, pause_node, named(name))),
            NodeCmd::Resume { name } => print_command(c.format, call!(c, resume_node, named(name))),
            NodeCmd::Evict { name } => print_command(c.format, call!(c, evict_node, named(name))),
        }
    })
}

/// A request naming `name`.
pub(super) fn named(name: String) -> pb::NameRequest {
    pb::NameRequest { name }
}
