//! The daemon's side of the watchdog: it starts `nonstop watchdog` as a process of its own,
//! tells it every change of the agent's lease deadline, and starts it again if it dies.
//!
//! The watchdog runs in its own process group (a Ctrl-C at the terminal does not reach it) and
//! is not killed with the daemon: it must outlive a `kill -9` of the daemon to fence resources
//! that do not die with it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, warn};

/// How to start the watchdog.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The program to run as `PROGRAM watchdog --state ...` (the daemon's own executable).
    pub program: PathBuf,
    /// The agent's state file.
    pub state: PathBuf,
    /// The agent's plug-in directories.
    pub plugin_dirs: Vec<PathBuf>,
    /// The node's node.yaml: how the watchdog reaches the members when the daemon dies.
    pub node_config: Option<PathBuf>,
    /// The daemon run it guards (the agent's incarnation).
    pub incarnation: u64,
    /// The hardware watchdog device it feeds, if any.
    pub hardware: Option<PathBuf>,
    /// How it logs (as its daemon does).
    pub log_format: crate::daemon::logging::LogFormat,
}

/// A running watchdog and the task that feeds it.
#[derive(Debug)]
pub struct Supervisor {
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Starts the watchdog and a task that forwards `deadline`'s changes to it. An error means
    /// the watchdog could not be started: the caller must not run its agent.
    pub fn start(
        spec: Spec,
        deadline: watch::Receiver<Option<tokio::time::Instant>>,
    ) -> std::io::Result<Supervisor> {
        let wd = spawn(&spec)?;
        let task = tokio::spawn(feed(spec, wd, deadline));
        Ok(Supervisor { task })
    }

    /// Waits (at most a few seconds) until the last deadline is written, the watchdog's input
    /// is closed and it has exited: call once the agent has stopped (its deadline is `None`).
    pub async fn finish(self) {
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            warn!("the watchdog did not exit within 5 s after the agent stopped");
        }
    }
}

/// A running watchdog. Its input is held apart from the [`Child`]: `Child::wait` closes the
/// input it holds, which the watchdog would take for the daemon's death.
struct Running {
    child: Child,
    input: ChildStdin,
}

/// Starts `nonstop watchdog` (this same executable) with its stdin a pipe.
fn spawn(spec: &Spec) -> std::io::Result<Running> {
    let mut cmd = Command::new(&spec.program);
    cmd.arg("watchdog").arg("--state").arg(&spec.state);
    if spec.log_format == crate::daemon::logging::LogFormat::Json {
        cmd.args(["--log-format", "json"]);
    }
    for d in &spec.plugin_dirs {
        cmd.arg("--plugin-dir").arg(d);
    }
    if let Some(h) = &spec.hardware {
        cmd.arg("--hardware").arg(h);
    }
    if let Some(c) = &spec.node_config {
        cmd.arg("--config").arg(c);
        cmd.arg("--incarnation").arg(spec.incarnation.to_string());
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd.spawn()?;
    let input = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no input pipe"))?;
    Ok(Running { child, input })
}

/// Writes every deadline change to the watchdog; respawns it when it dies. Ends when the agent
/// is gone, after writing its last deadline, closing the pipe and reaping the watchdog.
async fn feed(
    spec: Spec,
    mut wd: Running,
    mut deadline: watch::Receiver<Option<tokio::time::Instant>>,
) {
    loop {
        let line = render(*deadline.borrow_and_update(), now_ms());
        if let Err(e) = write_line(&mut wd.input, &line).await {
            error!("the watchdog is gone ({e}); starting it again");
            wd = respawn(&spec, wd).await;
            continue;
        }
        tokio::select! {
            changed = deadline.changed() => if changed.is_err() { break },
            status = wd.child.wait() => {
                error!("the watchdog exited ({status:?}); starting it again");
                wd = respawn(&spec, wd).await;
            }
        }
    }
    drop(wd.input);
    let _ = wd.child.wait().await;
}

/// Starts the watchdog again, retrying every second until it works.
async fn respawn(spec: &Spec, mut old: Running) -> Running {
    let _ = old.child.start_kill();
    let _ = old.child.wait().await;
    loop {
        match spawn(spec) {
            Ok(wd) => return wd,
            Err(e) => error!("cannot start the watchdog again: {e}; retrying in 1 s"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn write_line(input: &mut ChildStdin, line: &str) -> std::io::Result<()> {
    input.write_all(line.as_bytes()).await?;
    input.flush().await
}

/// The protocol line for a deadline: its CLOCK_MONOTONIC milliseconds (rounded down, so the
/// watchdog never fences later than the agent would), or `none`.
fn render(deadline: Option<tokio::time::Instant>, now_mono_ms: u64) -> String {
    match deadline {
        Some(at) => {
            let left = at.saturating_duration_since(tokio::time::Instant::now());
            format!("{}\n", now_mono_ms + left.as_millis() as u64)
        }
        None => "none\n".to_string(),
    }
}

fn now_ms() -> u64 {
    super::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_is_rendered_on_the_monotonic_clock() {
        let at = tokio::time::Instant::now() + Duration::from_millis(1500);
        let line = render(Some(at), 10_000);
        let ms: u64 = line.trim().parse().unwrap();
        assert!((11_450..=11_500).contains(&ms), "{line}");
        assert_eq!(render(None, 10_000), "none\n");
        let past = tokio::time::Instant::now() - Duration::from_millis(50);
        assert_eq!(render(Some(past), 10_000), "10000\n");
    }

    /// A stand-in watchdog: records its pid, then copies its input to `input`.
    fn stand_in(dir: &std::path::Path) -> Spec {
        let program = dir.join("watchdog.sh");
        let script = format!(
            "#!/bin/sh\necho $$ >> {d}/pids\nexec cat >> {d}/input\n",
            d = dir.display()
        );
        std::fs::write(&program, script).unwrap();
        std::process::Command::new("chmod")
            .args(["+x", program.to_str().unwrap()])
            .status()
            .unwrap();
        Spec {
            program,
            state: dir.join("agent-state.json"),
            plugin_dirs: vec![],
            node_config: None,
            incarnation: 0,
            hardware: None,
            log_format: Default::default(),
        }
    }

    /// Waits (up to 5 s) until `check` holds for the content of `path`.
    async fn wait_for(path: &std::path::Path, check: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if check(&text) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{path:?}: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn it_feeds_every_change_respawns_a_dead_watchdog_and_ends_with_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(None);
        let sup = Supervisor::start(stand_in(dir.path()), rx).unwrap();
        let input = dir.path().join("input");
        wait_for(&input, |t| t == "none\n").await;
        tx.send_replace(Some(tokio::time::Instant::now() + Duration::from_secs(60)));
        wait_for(&input, |t| t.lines().count() == 2).await;

        // The watchdog dies: a new one starts and is told the current deadline at once.
        let pids = dir.path().join("pids");
        let first = wait_for(&pids, |t| t.lines().count() == 1).await;
        std::process::Command::new("kill")
            .args(["-9", first.trim()])
            .status()
            .unwrap();
        wait_for(&pids, |t| t.lines().count() == 2).await;
        let text = wait_for(&input, |t| t.lines().count() == 3).await;
        let ms: Vec<u64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        // The same deadline, told again (to the millisecond: it is converted afresh).
        assert!(ms[0].abs_diff(ms[1]) <= 1, "{text}");

        // The agent stops: "none", then the pipe closes and the watchdog is reaped.
        tx.send_replace(None);
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), sup.finish())
            .await
            .unwrap();
        let text = std::fs::read_to_string(&input).unwrap();
        assert_eq!(text.lines().last(), Some("none"));
    }

    #[tokio::test]
    async fn a_watchdog_that_cannot_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = stand_in(dir.path());
        spec.program = dir.path().join("missing");
        let (_tx, rx) = watch::channel(None);
        assert!(Supervisor::start(spec, rx).is_err());
    }
}
