//! Alert agents run as processes on the leader's machine: the [`AlertRunner`] behind the
//! leader's `Alerter` (`nonstop_controller::leader::alerter`), which decides what runs, when,
//! and how many at once.
//!
//! An agent runs the way every external program of nonstop runs
//! (`nonstop_resource_types::action`): in a process group of its own, killed whole when it runs
//! past its alert's `timeout`, dying with the daemon, its output collected without waiting for a
//! child it left behind. It is run without arguments, with the daemon's environment plus the
//! call's (`CRM_alert_*`, `CRM_notify_*`, `NONSTOP_alert_*`), as Pacemaker runs alert agents.
//! Exit 0 means delivered.

use async_trait::async_trait;
use nonstop_controller::leader::{AlertCall, AlertRunner, Attempt};
use nonstop_resource_types::action;

/// Runs alert agents as processes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessAlerts;

#[async_trait]
impl AlertRunner for ProcessAlerts {
    async fn run(&self, call: &AlertCall) -> Attempt {
        let mut cmd = tokio::process::Command::new(&call.path);
        cmd.envs(call.env.iter().map(|(k, v)| (k, v)));
        match action::run(cmd, call.timeout.as_duration()).await {
            Ok(out) => crate::programs::attempt(call.timeout, &out),
            Err(e) => Attempt {
                ok: false,
                detail: format!("cannot run {}: {e}", call.path),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_contract::Millis;
    use nonstop_controller::db::model::AlertKind;
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// A call of a shell script with `body`, within `timeout` ms.
    fn agent(dir: &Path, body: &str, timeout: u64) -> AlertCall {
        let path = dir.join("agent.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        AlertCall {
            alert: "test".into(),
            path: path.display().to_string(),
            recipient: "ops".into(),
            timeout: Millis(timeout),
            kind: AlertKind::Node,
            sequence: 7,
            env: vec![
                ("CRM_alert_recipient".into(), "ops".into()),
                ("CRM_alert_desc".into(), "lost".into()),
            ],
        }
    }

    #[tokio::test]
    async fn an_agent_gets_the_calls_environment_and_its_exit_code_decides() {
        let dir = tempfile::tempdir().unwrap();
        let call = agent(
            dir.path(),
            "echo \"$CRM_alert_desc for $CRM_alert_recipient\"",
            5000,
        );
        let a = ProcessAlerts.run(&call).await;
        assert_eq!((a.ok, a.detail.as_str()), (true, "lost for ops"));
        let call = agent(
            dir.path(),
            "echo 'cannot reach the pager' >&2; exit 1",
            5000,
        );
        let a = ProcessAlerts.run(&call).await;
        assert_eq!(
            (a.ok, a.detail.as_str()),
            (false, "exit code 1: cannot reach the pager")
        );
        let mut call = agent(dir.path(), "", 5000);
        call.path = dir.path().join("missing").display().to_string();
        let a = ProcessAlerts.run(&call).await;
        assert!(!a.ok && a.detail.starts_with("cannot run "), "{}", a.detail);
    }

    /// An agent past its timeout is killed with what it started, at once.
    #[tokio::test]
    async fn an_agent_past_its_timeout_is_killed_with_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let body = format!("sleep 60 & echo $! > {}; wait", pids.display());
        let started = Instant::now();
        let a = ProcessAlerts.run(&agent(dir.path(), &body, 1000)).await;
        assert_eq!(
            (a.ok, a.detail.as_str()),
            (false, "timed out after 1s (killed)")
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let sleep = std::fs::read_to_string(&pids).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleep.trim()));
        assert!(
            stat.is_err() || stat.unwrap().contains(") Z "),
            "the agent's sleep {} outlived it",
            sleep.trim()
        );
    }
}
