//! `nonstop service resolve`: where a service is served now, by its cousin set's LOAD rules.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::{Client, ConnArgs, call, run_async};
use super::output::{emit, rows};

/// The options of `nonstop service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    cmd: ServiceCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum ServiceCmd {
    /// Where a service is served now: the groups and nodes a client should call, in order.
    Resolve {
        /// The service (Tmax SERVICE name).
        name: String,
        /// The client's node, for the local-first rules [default: a client outside the cluster].
        #[arg(long)]
        from: Option<String>,
    },
}

/// Where a service is served.
#[derive(Debug, Serialize)]
struct ResolutionView {
    service: String,
    /// The LOAD rule that chose the routes.
    mode: String,
    routes: Vec<RouteView>,
}

#[derive(Debug, Serialize)]
struct RouteView {
    group: String,
    node: String,
    weight: u32,
}

impl From<pb::Resolution> for ResolutionView {
    fn from(r: pb::Resolution) -> Self {
        ResolutionView {
            service: r.service,
            mode: super::wire::resolution_mode(r.mode),
            routes: r
                .routes
                .into_iter()
                .map(|r| RouteView {
                    group: r.group,
                    node: r.node,
                    weight: r.weight,
                })
                .collect(),
        }
    }
}

/// Runs `nonstop service ...`.
pub fn run(args: ServiceArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        let ServiceCmd::Resolve { name, from } = args.cmd;
        let req = pb::ResolveRequest {
            service: name,
            from_node: from.unwrap_or_default(),
        };
        let r = ResolutionView::from(call!(c, resolve_service, req)?);
        emit(c.format, &r, table)
    })
}

fn table(r: &ResolutionView) -> String {
    if r.routes.is_empty() {
        return format!("{} ({}): served nowhere now", r.service, r.mode);
    }
    let routes = r
        .routes
        .iter()
        .map(|x| [x.group.clone(), x.node.clone(), x.weight.to_string()]);
    format!(
        "{} ({})\n{}",
        r.service,
        r.mode,
        rows(&["GROUP", "NODE", "WEIGHT"], routes)
    )
}
