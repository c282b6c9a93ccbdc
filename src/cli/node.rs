//! `nonstop node`: list and show nodes; pause (drain), resume and evict them.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_proto::cluster as pb;

use super::client::{CliError, Client, ConnArgs, call, run_async};
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
    /// Assert that a Down node runs nothing any more (you powered it off, or cut it off for
    /// good): with `fencing: required`, its groups stop waiting for its fence method and move.
    /// Admin only, audited. If the node still runs its groups, they will run twice.
    ConfirmFenced {
        name: String,
        /// Do not ask (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
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
            NodeCmd::ConfirmFenced { name, yes } => {
                confirm_fencing(&name, yes)?;
                print_command(c.format, call!(c, confirm_fenced, named(name)))
            }
        }
    })
}

/// What `confirm-fenced` asserts, said before it is sent; on a terminal the operator types the
/// node's name to go on, elsewhere `--yes` is needed.
fn confirm_fencing(name: &str, yes: bool) -> Result<(), CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    let warning = format!(
        "confirm-fenced asserts that node {name} runs nothing any more: it is powered off, or cut \
         off from its storage and clients for good. Its groups will start elsewhere at once. If \
         it still runs them, they run twice."
    );
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Refused(format!(
            "{warning}\nnot on a terminal: add --yes to confirm"
        )));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{warning}\nType the node's name to confirm: ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() != name {
        return Err(CliError::Refused("not confirmed: nothing was sent".into()));
    }
    Ok(())
}

/// A request naming `name`.
pub(super) fn named(name: String) -> pb::NameRequest {
    pb::NameRequest { name }
}
