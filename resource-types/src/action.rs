//! Running an external program for one entry point (an `exec` plug-in, an OCF agent, tmboot,
//! a check command), the same way for every handler: in its own process group, killed with the
//! agent, bounded in time, and killed whole when the caller gives up on it (its future is
//! dropped, as the agent does when `online` runs past the pending timeout).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::handler::{Footprint, HandlerError};

/// How an external program ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Its exit code; `None` when a signal killed it or it ran out of time.
    pub code: Option<i32>,
    /// Whether it ran past its time limit (and was killed, with its process group).
    pub timed_out: bool,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Outcome {
    /// One line saying how it ended, with the last line it printed on stderr.
    pub fn describe(&self) -> String {
        let how = match (self.timed_out, self.code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit code {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        match self.stderr.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(line) => format!("{how}: {}", line.trim()),
            None => how,
        }
    }
}

/// Kills a process group when dropped, unless disarmed: the program is still running when
/// the caller stops waiting for it.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            kill_group(pgid, Signal::SIGKILL);
        }
    }
}

/// Sends `signal` to process group `pgid`; a group that is gone already is fine.
pub fn kill_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Prepares `cmd` the way every child of the agent runs: stdin closed, a process group of its
/// own (so it is killed whole), and death with the agent. Start it with
/// [`crate::spawner::spawn`], never `Command::spawn`: the death signal is tied to the thread that
/// forks.
pub fn isolate(cmd: &mut Command) {
    cmd.stdin(Stdio::null()).process_group(0);
    crate::sys::die_with_parent(cmd);
}

/// Marks `cmd` as started for the resource whose marker this is: it and everything it starts
/// carry [`crate::procs::MARKER_VAR`], by which they can be found and killed (`procs`).
pub fn mark(cmd: &mut Command, marker: &str) {
    cmd.env(crate::procs::MARKER_VAR, marker);
}

/// Runs `cmd` to completion, at most `limit`, capturing its output. An error only when it
/// cannot be started; everything else is in the [`Outcome`].
pub async fn run(cmd: Command, limit: Duration) -> std::io::Result<Outcome> {
    run_with_input(cmd, None, limit).await
}

/// [`run`], with `input` written to the program's standard input, which is then closed (a
/// fence agent reads its parameters there). A program that does not read it all is not waited
/// for: what it did not take is dropped with the pipe.
pub async fn run_with_input(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    limit: Duration,
) -> std::io::Result<Outcome> {
    isolate(&mut cmd);
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = crate::spawner::spawn(cmd).await?;
    let mut guard = GroupGuard(child.id().map(|p| p as i32));
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&bytes).await;
        });
    }
    let out = tokio::spawn(read_all(child.stdout.take()));
    let err = tokio::spawn(read_all(child.stderr.take()));
    let status = tokio::time::timeout(limit, child.wait()).await;
    let (code, timed_out) = match status {
        Ok(status) => {
            guard.0 = None;
            (status?.code(), false)
        }
        Err(_) => (None, true),
    };
    drop(guard);
    Ok(Outcome {
        code,
        timed_out,
        stdout: collect(out).await,
        stderr: collect(err).await,
    })
}

async fn read_all<R: AsyncRead + Unpin>(stream: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut s) = stream {
        let _ = s.read_to_end(&mut buf).await;
    }
    buf
}

/// What a reader collected. A daemon the program left behind may hold the pipe open for ever:
/// wait a moment for the end of the output, then take what there is.
async fn collect(reader: tokio::task::JoinHandle<Vec<u8>>) -> String {
    let abort = reader.abort_handle();
    match tokio::time::timeout(Duration::from_millis(200), reader).await {
        Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
        _ => {
            abort.abort();
            String::new()
        }
    }
}

/// `run`, with a failure to start turned into the entry point's error.
pub async fn run_for(
    entry: &'static str,
    cmd: Command,
    limit: Duration,
) -> crate::handler::Result<Outcome> {
    let program = format!("{:?}", cmd.as_std().get_program());
    run(cmd, limit).await.map_err(|source| HandlerError::Io {
        context: format!("{entry}: cannot run {program}"),
        source,
    })
}

/// The program that serves every entry point of one resource (an `exec` plug-in, an OCF agent):
/// called with the action's name as its only argument, the resource's environment (which
/// carries its marker) and whatever the protocol adds for the call. Each protocol keeps its own
/// exit codes; this is what they share: how the program is run, what killing its leftovers
/// means, and what the resource leaves on the machine.
#[derive(Debug)]
pub struct Program {
    path: PathBuf,
    env: Vec<(String, String)>,
    /// Bound of online and offline (the agent's own pending timeout usually cuts first).
    pub limit: Duration,
    /// The resource's marker (also in `env`).
    marker: String,
    /// The actions that undo the resource, tried in turn until one succeeds (a footprint's
    /// cleanup command, run by a later agent after this one died).
    undo: &'static [&'static str],
    /// Whether online succeeded and no offline or terminate followed (for the footprint).
    pub online: bool,
}

impl Program {
    /// `path`, run with `env` for the resource whose marker is `marker`; `undo` are the actions
    /// that stop it, tried in turn.
    pub fn new(
        path: PathBuf,
        env: Vec<(String, String)>,
        limit: Duration,
        marker: String,
        undo: &'static [&'static str],
    ) -> Self {
        Program {
            path,
            env,
            limit,
            marker,
            undo,
            online: false,
        }
    }

    /// The program's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `PROGRAM ACTION` with the resource's environment and `extra`, at most `limit`.
    pub async fn call(
        &self,
        action: &'static str,
        extra: &[(&str, &str)],
        limit: Duration,
    ) -> crate::handler::Result<Outcome> {
        let mut cmd = Command::new(&self.path);
        cmd.arg(action)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().copied());
        run_for(action, cmd, limit).await
    }

    /// Kills whatever the program started and left running: it carries the marker.
    pub async fn kill_marked(&self) {
        let marked = Footprint::marked(&self.marker);
        crate::cleanup::kill_processes(&[marked], Duration::from_secs(1)).await;
    }

    /// What online may leave: processes with the marker, undone by the `undo` actions.
    pub fn intent(&self) -> Footprint {
        let program = self.path.display().to_string();
        let line = self
            .undo
            .iter()
            .map(|action| shell_line(&self.env, &program, &[action]))
            .collect::<Vec<_>>()
            .join(" || ");
        Footprint {
            cleanup_commands: vec![line],
            ..Footprint::marked(&self.marker)
        }
    }

    /// What it leaves now: the intent while online, nothing after offline or terminate.
    pub fn footprint(&self) -> Footprint {
        if self.online {
            self.intent()
        } else {
            Footprint::default()
        }
    }
}

/// A shell command, `sh -c TEXT`.
pub fn shell(text: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(text);
    cmd
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A shell command line that runs `program arg` with `env` set, for a footprint's cleanup
/// commands (run by a later agent, after this one died).
pub fn shell_line(env: &[(String, String)], program: &str, args: &[&str]) -> String {
    let mut line = String::from("env");
    for (k, v) in env {
        line.push(' ');
        line.push_str(&shell_quote(&format!("{k}={v}")));
    }
    for word in std::iter::once(program).chain(args.iter().copied()) {
        line.push(' ');
        line.push_str(&shell_quote(word));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_and_exit_code_are_captured() {
        let out = run(
            shell("echo hi; echo oops >&2; exit 3"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.describe(), "exit code 3: oops");
    }

    #[tokio::test]
    async fn a_program_past_its_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let text = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let out = run(shell(&text), Duration::from_millis(200)).await.unwrap();
        assert!(out.timed_out);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "the background child survived the kill");
    }

    #[test]
    fn a_program_is_undone_by_its_undo_actions_in_turn_and_only_while_online() {
        let env = vec![("A".to_string(), "1".to_string())];
        let mut p = Program::new(
            "/bin/x".into(),
            env,
            Duration::from_secs(1),
            "m".into(),
            &["terminate", "offline"],
        );
        let intent = p.intent();
        assert_eq!(
            intent.cleanup_commands,
            ["env 'A=1' '/bin/x' 'terminate' || env 'A=1' '/bin/x' 'offline'"]
        );
        assert_eq!(intent.marker.as_deref(), Some("m"));
        assert!(p.footprint().is_empty());
        p.online = true;
        assert_eq!(p.footprint(), intent);
    }

    #[test]
    fn quoting_survives_quotes() {
        let line = shell_line(&[("A".into(), "it's".into())], "/bin/x", &["stop"]);
        assert_eq!(line, r"env 'A=it'\''s' '/bin/x' 'stop'");
    }
}
