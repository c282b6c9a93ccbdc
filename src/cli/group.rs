//! `nonstop group`: list and show groups; move them, take them online or offline, clear their
//! failures.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_contract::Millis;
use nonstop_proto::cluster as pb;

use super::client::{CliError, Client, ConnArgs, call, run_async};
use super::node::named;
use super::output::emit;
use super::views::{GroupView, group_fields, group_table, print_command};
use super::wait;

/// The options of `nonstop group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    cmd: GroupCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// Every group with its state and owner.
    List,
    /// One group in full.
    Show { name: String },
    /// Move a group to a node, or to its best owner.
    Move(MoveArgs),
    /// Bring a group online (operator intent).
    Online { name: String },
    /// Take a group offline (operator intent); it stays offline until `online`.
    Offline { name: String },
    /// Forget a group's failures: clears its hold, fail-over count and failed nodes.
    Clear { name: String },
}

/// The options of `nonstop group move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The group.
    name: String,
    /// The node to move it to [default: the best owner].
    #[arg(long)]
    to: Option<String>,
    /// Wait until the group is Online on its new node, and print how long it took.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (500ms, 60s, 2m); exit code 3 after that.
    #[arg(long, default_value = "60s")]
    timeout: Millis,
}

/// Runs `nonstop group ...`.
pub fn run(args: GroupArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        match args.cmd {
            GroupCmd::List => {
                let list = call!(c, list_groups, pb::ListRequest {})?;
                let groups: Vec<GroupView> = list.groups.into_iter().map(GroupView::from).collect();
                emit(c.format, &groups, |g| group_table(g))
            }
            GroupCmd::Show { name } => {
                let g = call!(c, get_group, named(name))?;
                emit(c.format, &GroupView::from(g), group_fields)
            }
            GroupCmd::Move(m) => move_group(&mut c, m).await,
            GroupCmd::Online { name } => print_command(
                c.format,
                call!(c, set_group_target, target(name, pb::Target::Online)),
            ),
            GroupCmd::Offline { name } => print_command(
                c.format,
                call!(c, set_group_target, target(name, pb::Target::Offline)),
            ),
            GroupCmd::Clear { name } => print_command(c.format, call!(c, clear_group, named(name))),
        }
    })
}

/// A request to set `name`'s target.
pub(super) fn target(name: String, target: pb::Target) -> pb::SetTargetRequest {
    pb::SetTargetRequest {
        name,
        target: target as i32,
    }
}

async fn move_group(c: &mut Client, m: MoveArgs) -> Result<(), CliError> {
    let req = pb::MoveGroupRequest {
        group: m.name.clone(),
        to: m.to.clone().unwrap_or_default(),
    };
    let started = std::time::Instant::now();
    let reply = call!(c, move_group, req);
    if !m.wait {
        return print_command(c.format, reply);
    }
    let reply = reply?;
    let goal = wait::Goal {
        group: m.name,
        to: m.to,
        timeout: m.timeout.as_duration(),
        revision: reply.revision,
    };
    let done = wait::online(c, &goal, started).await?;
    emit(c.format, &wait::Moved::new(reply, done), wait::Moved::text)
}
