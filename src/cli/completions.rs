//! `nonstop completions SHELL`: the shell completion script, printed for the shell to source.

use std::process::ExitCode;

use clap::{Args, Command};
use clap_complete::Shell;

use super::client::CliError;
use super::output::print_line;

/// The options of `nonstop completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Prints the completion script of `cmd` for the shell.
pub fn run(args: CompletionsArgs, mut cmd: Command) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "nonstop", &mut script);
    match print_line(String::from_utf8_lossy(&script).trim_end()) {
        Ok(()) | Err(CliError::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e.to_string()),
    }
}
