//! What an agent needs to start: its node name and data directory, and the heartbeat pace it
//! uses until the leader says otherwise.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{AgentError, Result};

/// The agent's configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// This node's name, as the cluster database knows it.
    pub node: String,
    /// Where the state file and the resources' own directories live (created if missing).
    pub data_dir: PathBuf,
    /// How often to heartbeat before registration says otherwise (the `default` timing profile: 200 ms).
    pub heartbeat: Duration,
    /// Pause between attempts when the link to the leader fails.
    pub retry: Duration,
    /// The terminate budget before registration says otherwise (the `default` profile's).
    pub terminate: Duration,
}

impl AgentConfig {
    /// A configuration with the `default` timing profile's heartbeat.
    pub fn new(node: &str, data_dir: impl Into<PathBuf>) -> Self {
        AgentConfig {
            node: node.to_string(),
            data_dir: data_dir.into(),
            heartbeat: Duration::from_millis(200),
            retry: Duration::from_millis(100),
            terminate: Duration::from_millis(500),
        }
    }

    /// Checks the fields: a node name, and intervals above zero.
    pub fn check(&self) -> Result<()> {
        if self.node.trim().is_empty() {
            return Err(AgentError::Config {
                field: "node",
                reason: "must not be empty".into(),
            });
        }
        if self.heartbeat.is_zero() {
            return Err(AgentError::Config {
                field: "heartbeat",
                reason: "must be above zero".into(),
            });
        }
        if self.retry.is_zero() {
            return Err(AgentError::Config {
                field: "retry",
                reason: "must be above zero".into(),
            });
        }
        Ok(())
    }

    /// The state file's path.
    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("agent-state.json")
    }

    /// The directory a resource's instance may use.
    /// Characters other than letters, digits, `-` and `_` become `_`, so a resource name
    /// can never point outside the data directory.
    pub fn resource_dir(&self, resource: &str) -> PathBuf {
        let safe: String = resource
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        self.data_dir.join("resources").join(safe)
    }
}
