//! `nonstop`: the one binary of the nonstop cluster manager (daemon, CLI, local cluster,
//! configuration and Tmax import, simulation).

#[deny(clippy::print_stdout, clippy::print_stderr)] // every write goes through cli::output
mod cli;

mod alerts;
mod daemon;
mod fencing;
mod programs;
mod watchdog;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
