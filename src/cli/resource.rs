//! `nonstop resource`: list and show resources; take one online or offline.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_proto::cluster as pb;

use super::client::{Client, ConnArgs, call, run_async};
use super::group::target;
use super::node::named;
use super::output::emit;
use super::views::{ResourceView, print_command, resource_fields, resource_table};

/// The options of `nonstop resource`.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    #[command(subcommand)]
    cmd: ResourceCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum ResourceCmd {
    /// Every resource with its group, type, state and node.
    List,
    /// One resource in full, with its properties.
    Show { name: String },
    /// Bring a resource online (operator intent).
    Online { name: String },
    /// Take a resource offline (operator intent); its dependents go offline first.
    Offline { name: String },
}

/// Runs `nonstop resource ...`.
pub fn run(args: ResourceArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        match args.cmd {
            ResourceCmd::List => {
                let list = call!(c, list_resources, pb::ListRequest {})?;
                let resources: Vec<ResourceView> =
                    list.resources.into_iter().map(ResourceView::from).collect();
                emit(c.format, &resources, |r| resource_table(r))
            }
            ResourceCmd::Show { name } => {
                let r = call!(c, get_resource, named(name))?;
                emit(c.format, &ResourceView::from(r), resource_fields)
            }
            ResourceCmd::Online { name } => {
                let reply = call!(c, set_resource_target, target(name, pb::Target::Online));
                print_command(c.format, reply)
            }
            ResourceCmd::Offline { name } => {
                let reply = call!(c, set_resource_target, target(name, pb::Target::Offline));
                print_command(c.format, reply)
            }
        }
    })
}
