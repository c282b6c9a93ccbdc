//! `nonstop tmax check FILE` (nonstop's `cfl`) and `nonstop tmax import FILE [-o OUT]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop::tmax::{self, Finding};

use super::output::{end, tell, write_out};

/// Tmax environment files.
#[derive(Debug, Args)]
pub struct TmaxArgs {
    #[command(subcommand)]
    cmd: TmaxCmd,
}

#[derive(Debug, Subcommand)]
enum TmaxCmd {
    /// Check a Tmax environment file like `cfl`: every error with file, line, column and code;
    /// exit 1 when there is any error.
    Check {
        /// The environment file.
        file: PathBuf,
    },
    /// Import a Tmax environment file as a cluster.yaml (stdout unless -o is given). Nothing is
    /// written when the file has errors.
    Import {
        /// The environment file.
        file: PathBuf,
        /// Where to write the cluster.yaml.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Runs `nonstop tmax ...`.
pub fn run(args: TmaxArgs) -> ExitCode {
    match args.cmd {
        TmaxCmd::Check { file } => check(&file),
        TmaxCmd::Import { file, output } => import(&file, output.as_deref()),
    }
}

fn print(findings: &[Finding]) {
    for f in findings {
        tell!("{f}");
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    let checked = tmax::check_path(file);
    print(&checked.findings);
    if checked.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn import(file: &std::path::Path, output: Option<&std::path::Path>) -> ExitCode {
    let (cluster, findings) = match tmax::import_path(file) {
        Ok(ok) => ok,
        Err(findings) => {
            print(&findings);
            return ExitCode::FAILURE;
        }
    };
    print(&findings);
    let yaml = match yaml_serde::to_string(&cluster) {
        Ok(y) => y,
        Err(e) => {
            tell!("{}: cannot write the cluster file: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let written = match output {
        Some(path) => std::fs::write(path, yaml).map_err(|e| (path.display().to_string(), e)),
        None => {
            if let Err(e) = write_out(&yaml) {
                end(&e)
            }
            Ok(())
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err((to, e)) => {
            tell!("cannot write {to}: {e}");
            ExitCode::FAILURE
        }
    }
}
