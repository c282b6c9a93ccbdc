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
    /// This run of the node's daemon: random, never 0, told to the leader at registration and
    /// used to number reports. The node's watchdog is given the same number, so that its word
    /// that this run's resources are stopped counts only while no newer run has registered.
    pub incarnation: u64,
    /// Where the node's daemon listens (`host:port`), told to the leader at registration for
    /// the operators' tools that talk to the node itself (`nonstop drill`); `None`: not said.
    pub address: Option<String>,
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
            incarnation: new_incarnation(),
            address: None,
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

/// A fresh incarnation number: random, never 0 (0 means "not said" on the wire).
pub fn new_incarnation() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No randomness: the clock still tells two runs of one node apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        return nanos.max(1);
    }
    u64::from_le_bytes(bytes).max(1)
}
