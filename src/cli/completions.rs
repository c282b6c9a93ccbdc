//! `nonstop completions SHELL`: the shell completion script, printed for the shell to source.

use std::process::ExitCode;

use clap::{Args, Command};
use clap_complete::Shell;

/// The options of `nonstop completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Prints the completion script of `cmd` for the shell.
pub fn run(args: CompletionsArgs, mut cmd: Command) -> ExitCode {
    clap_complete::generate(args.shell, &mut cmd, "nonstop", &mut std::io::stdout());
    ExitCode::SUCCESS
}
