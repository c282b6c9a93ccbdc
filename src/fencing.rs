//! Fence methods run as processes on this machine: the leader's [`FenceRunner`] (through
//! `nonstop_controller::leader::run_with`), and where `config check` and `apply` find a fence
//! agent to ask for its parameters.
//!
//! A method runs the way every external program of nonstop runs (`nonstop_resource_types::action`):
//! in a process group of its own, killed whole when it runs past the method's `timeout` (a fence
//! agent's `ipmitool` or `ssh` child goes with it), dying with the daemon, its output collected
//! without waiting for a child it left behind. A fence agent gets `action=` and its parameters
//! as `key=value` lines on standard input (the agents' standard interface); a `command` gets its
//! arguments, and the node and action in its environment. Exit 0 means fenced.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use nonstop_controller::db::model::FenceMethod;
use nonstop_controller::leader::{Attempt, FenceRunner};
use nonstop_resource_types::action;

/// The environment variables a `command` method gets: the node to fence.
pub const ENV_NODE: &str = "NONSTOP_FENCE_NODE";
/// The action asked for (`off` or `reboot`).
pub const ENV_ACTION: &str = "NONSTOP_FENCE_ACTION";

/// Runs fence methods as processes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessRunner;

/// Where a fence agent named `name` is installed, if it is: on `PATH`, or in /usr/sbin or /sbin
/// (where fence-agents puts them, often off a service's `PATH`).
pub fn find_agent(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let defaults = [PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")];
    let dirs = std::env::split_paths(&path).chain(defaults);
    dirs.map(|d| d.join(name)).find(|p| is_executable(p))
}

/// The program to run for `method` against `node`, and what goes to its standard input.
fn command(
    node: &str,
    m: &FenceMethod,
) -> Result<(tokio::process::Command, Option<Vec<u8>>), String> {
    if let Some(agent) = &m.agent {
        let path = find_agent(agent)
            .ok_or_else(|| format!("fence agent {agent} is not installed on this member"))?;
        Ok((tokio::process::Command::new(path), Some(agent_input(m))))
    } else if let Some(program) = &m.command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&m.args)
            .env(ENV_NODE, node)
            .env(ENV_ACTION, m.action.as_str());
        Ok((cmd, None))
    } else {
        Err("no fence method".into())
    }
}

/// A fence agent's standard input: the action, then each parameter, one `key=value` a line.
fn agent_input(m: &FenceMethod) -> Vec<u8> {
    let mut lines = format!("action={}\n", m.action.as_str());
    for (k, v) in &m.params {
        lines += &format!("{k}={v}\n");
    }
    lines.into_bytes()
}

#[async_trait]
impl FenceRunner for ProcessRunner {
    async fn run(&self, node: &str, method: &FenceMethod) -> Attempt {
        let (cmd, input) = match command(node, method) {
            Ok(c) => c,
            Err(detail) => return Attempt { ok: false, detail },
        };
        let limit = method.timeout().as_duration();
        match action::run_with_input(cmd, input, limit).await {
            Ok(out) => crate::programs::attempt(method.timeout(), &out),
            Err(e) => Attempt {
                ok: false,
                detail: format!("cannot run {}: {e}", method.describe()),
            },
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn script(dir: &Path, body: &str) -> FenceMethod {
        let path = dir.join("fence.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        FenceMethod {
            command: Some(path.display().to_string()),
            args: vec!["--plug".into(), "7".into()],
            timeout: Some(nonstop_contract::Millis(1000)),
            ..FenceMethod::default()
        }
    }

    #[tokio::test]
    async fn a_command_gets_its_arguments_and_the_node_and_its_exit_code_decides() {
        let dir = tempfile::tempdir().unwrap();
        let m = script(
            dir.path(),
            "echo \"$NONSTOP_FENCE_ACTION $NONSTOP_FENCE_NODE $*\"",
        );
        let a = ProcessRunner.run("osdb-serv", &m).await;
        assert_eq!(
            a,
            Attempt {
                ok: true,
                detail: "off osdb-serv --plug 7".into()
            }
        );
        let m = script(dir.path(), "echo 'Failed: no route to host' >&2; exit 3");
        let a = ProcessRunner.run("osdb-serv", &m).await;
        assert!(!a.ok);
        assert_eq!(a.detail, "exit code 3: Failed: no route to host");
    }

    /// A method past its timeout is killed with everything it started (its process group),
    /// and the attempt says so at once: not when a child that held the output pipe ends.
    #[tokio::test]
    async fn a_method_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let m = script(
            dir.path(),
            &format!("sleep 60 & echo $! > {}; wait", pidfile.display()),
        );
        let started = std::time::Instant::now();
        let a = ProcessRunner.run("osdb-serv", &m).await;
        assert!(!a.ok);
        assert!(a.detail.starts_with("timed out after 1s"), "{}", a.detail);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let child = std::fs::read_to_string(&pidfile).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let alive = Path::new(&format!("/proc/{}", child.trim())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", child.trim()))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "the method's child {} survived", child.trim());
    }

    #[tokio::test]
    async fn an_agent_gets_the_action_and_its_parameters_on_standard_input() {
        let m = FenceMethod {
            agent: Some("fence_standin".into()),
            params: BTreeMap::from([
                ("plug".to_string(), "7".to_string()),
                ("ip".to_string(), "198.18.0.9".to_string()),
            ]),
            ..FenceMethod::default()
        };
        let lines = agent_input(&m);
        assert_eq!(lines, b"action=off\nip=198.18.0.9\nplug=7\n");
        // What a stand-in agent reads is exactly that.
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        let agent = dir.path().join("fence_standin");
        std::fs::write(&agent, format!("#!/bin/sh\ncat > {}\n", seen.display())).unwrap();
        std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let out = action::run_with_input(
            tokio::process::Command::new(&agent),
            Some(lines.clone()),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.code, Some(0));
        assert_eq!(std::fs::read(&seen).unwrap(), lines);
    }
}
