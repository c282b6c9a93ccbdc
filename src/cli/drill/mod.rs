//! `nonstop drill`: fail-over drills an operator runs on a live cluster, measured from the
//! cluster's own events, watched from outside, restored afterwards (docs/drills.md).
//!
//! ```text
//!  scenario.rs  the scenarios (data: scenarios/*.yaml, or --file)
//!  run.rs       checks, confirmation, rounds (fault, watch, restore), Ctrl-C
//!  measure.rs   events -> phases -> rounds -> summary, verdict (pure)
//!  outside.rs   the outside check (processes, addresses) and the service probe
//!  render.rs    the HTML page and the JUnit XML (pure)
//!  model.rs     the report's data
//! ```

mod measure;
mod model;
mod outside;
mod render;
mod run;
pub(crate) mod scenario;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{Format, emit, rows};

pub use run::RunArgs;

/// The options of `nonstop drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    cmd: DrillCmd,
}

#[derive(Debug, Subcommand)]
enum DrillCmd {
    /// The scenarios, one line each (built in; --file for your own).
    List(ListArgs),
    /// Run a scenario against the cluster: checks first, then rounds of fault, fail-over and
    /// restore, measured from the cluster's events.
    Run(Box<RunArgs>),
}

/// The options of `nonstop drill list`.
#[derive(Debug, Args)]
struct ListArgs {
    /// How to print the list.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// Runs `nonstop drill`.
pub fn run(args: DrillArgs) -> ExitCode {
    match args.cmd {
        DrillCmd::List(a) => list(&a),
        DrillCmd::Run(a) => run::run(*a),
    }
}

fn list(args: &ListArgs) -> ExitCode {
    #[derive(Serialize)]
    struct Line {
        name: String,
        fault: String,
        description: String,
    }
    let lines: Vec<Line> = scenario::built_in()
        .into_iter()
        .map(|s| Line {
            fault: format!("{:?}", s.fault),
            name: s.name,
            description: s.description,
        })
        .collect();
    let shown = emit(args.output, &lines, |l| {
        rows(
            &["SCENARIO", "WHAT IT DOES"],
            l.iter().map(|l| [l.name.clone(), l.description.clone()]),
        )
    });
    match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit_code(),
    }
}
