//! `nonstop down [--dir DIR]`: stops the local cluster that `nonstop up` started: SIGTERM to
//! every node's daemon, SIGKILL to any still running after 10 s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::local::{alive, running_pid};
use super::output::say;

/// Arguments of `nonstop down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// The folder `nonstop up` used.
    #[arg(long, default_value = ".nonstop")]
    dir: PathBuf,
}

/// Runs `nonstop down`.
pub fn run(args: DownArgs) -> ExitCode {
    let Ok(entries) = std::fs::read_dir(&args.dir) else {
        say!("no local cluster in {}", args.dir.display());
        return ExitCode::SUCCESS;
    };
    let mut pids = Vec::new();
    for e in entries.flatten() {
        if let Some(pid) = running_pid(&e.path()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            pids.push((e.file_name().to_string_lossy().to_string(), pid));
        }
        let _ = std::fs::remove_file(e.path().join("daemon.pid"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|(_, p)| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (name, pid) in &pids {
        if alive(*pid) {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            say!("stopped {name} (pid {pid}, killed after 10 s)");
        } else {
            say!("stopped {name} (pid {pid})");
        }
    }
    if pids.is_empty() {
        say!("nothing was running in {}", args.dir.display());
    }
    ExitCode::SUCCESS
}
