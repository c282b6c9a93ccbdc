//! The command line: one file per command, as mini-redis has one file per command.

mod type_cmd;

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
    /// Resource types: list, show, and test them on this machine.
    Type(type_cmd::TypeArgs),
}

/// Parses the command line and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Type(args) => type_cmd::run(args),
    }
}
