//! The command line: one file per command, as mini-redis has one file per command.

mod config_cmd;
mod down;
mod example;
mod load;
mod local;
mod run;
mod simulate;
mod tmax_cmd;
mod type_cmd;
mod up;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use nonstop_controller::config::Diagnostic;

/// nonstop: keeps applications, virtual IP addresses and TP-monitor nodes running across
/// machine failures.
#[derive(Debug, Parser)]
#[command(name = "nonstop", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check a cluster.yaml.
    Config(config_cmd::ConfigArgs),
    /// Stop the local cluster that `nonstop up` started.
    Down(down::DownArgs),
    /// The paper's chat server and client (used by the local cluster).
    Example(example::ExampleArgs),
    /// Run this node's daemon (controller member, agent, or both) from its node.yaml.
    Run(run::RunArgs),
    /// Show what the cluster would do when nodes and resources fail: the leader's own plan, run
    /// on a copy.
    Simulate(simulate::SimulateArgs),
    /// Check or import a Tmax environment file.
    Tmax(tmax_cmd::TmaxArgs),
    /// Resource types: list, show, and test them on this machine.
    Type(type_cmd::TypeArgs),
    /// Start a local cluster on loopback (default: three nodes running the chat example).
    Up(up::UpArgs),
}

/// Parses the command line and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Config(args) => config_cmd::run(args),
        Cmd::Down(args) => down::run(args),
        Cmd::Example(args) => example::run(args),
        Cmd::Run(args) => run::run(args),
        Cmd::Simulate(args) => simulate::run(args),
        Cmd::Tmax(args) => tmax_cmd::run(args),
        Cmd::Type(args) => type_cmd::run(args),
        Cmd::Up(args) => up::run(args),
    }
}

/// Prints an error and returns exit code 1.
pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Prints every diagnostic, one per line, and returns exit code 1.
pub(crate) fn fail_all(errors: &[Diagnostic]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    ExitCode::FAILURE
}
