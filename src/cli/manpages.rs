//! `nonstop manpages DIR`: a man page per command, generated from the command line's own
//! definitions (clap_mangen), so they say what the program does: `nonstop.1`,
//! `nonstop-group.1`, `nonstop-group-move.1`, ... (docs/deploy.md installs them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Command};

/// The options of `nonstop manpages`.
#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// The folder to write them to (made if missing), e.g. /usr/local/share/man/man1.
    dir: PathBuf,
}

/// Writes every page; prints how many.
pub fn run(args: ManpagesArgs, cmd: Command) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        return super::fail(&format!("{}: {e}", args.dir.display()));
    }
    match write_all(&cmd, "nonstop", &args.dir) {
        Ok(n) => {
            super::output::say!("{n} man pages in {}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(&e),
    }
}

/// Writes the page of `cmd` (named `name`) and of each visible subcommand; how many.
fn write_all(cmd: &Command, name: &str, dir: &Path) -> Result<usize, String> {
    let cmd = cmd.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(&path, page).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        n += write_all(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_gets_a_page_and_hidden_ones_none() {
        let dir = tempfile::tempdir().unwrap();
        let n = write_all(&crate::cli::command(), "nonstop", dir.path()).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), n);
        for page in [
            "nonstop.1",
            "nonstop-group-move.1",
            "nonstop-drill-run.1",
            "nonstop-up.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(
                text.starts_with(".ie") || text.contains(".TH"),
                "{page}: {text}"
            );
        }
        let run = std::fs::read_to_string(dir.path().join("nonstop-drill-run.1")).unwrap();
        assert!(run.contains("expect\\-under"), "{run}");
        assert!(
            !names
                .iter()
                .any(|n| n.contains("watchdog") || n.contains("drill-freeze"))
        );
    }
}
