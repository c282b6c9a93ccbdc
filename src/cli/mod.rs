//! The command line: one file per command, as mini-redis has one file per command.

mod tmax_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Check or import a Tmax environment file.
    Tmax(tmax_cmd::TmaxArgs),
}

/// Parses the command line and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Tmax(args) => tmax_cmd::run(args),
    }
}
