//! `nonstop`: the one binary of the nonstop cluster manager (daemon, CLI, local cluster,
//! configuration and Tmax import, simulation).

mod cli;
mod daemon;
mod watchdog;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
