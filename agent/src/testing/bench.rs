//! What the agent's benchmarks (agent/examples) start: an agent on node `n1`, in a fresh data
//! directory, driven by an in-process leader, running real `sleep` processes.

use std::sync::Arc;

use nonstop_contract::{DesiredGroup, DesiredNode, Millis};

use crate::local::LocalLeader;
use crate::testing::SleepHandler;
use crate::{Agent, AgentConfig, AgentHandle, HandlerMap};

/// The node the benchmarks' agent runs as.
const NODE: &str = "n1";

/// An agent whose only type is `sleep`, with its leader (heartbeat 200 ms, lease 1 s).
#[derive(Debug)]
pub struct SleepAgent {
    /// The agent.
    pub agent: AgentHandle,
    /// Its in-process leader.
    pub leader: LocalLeader,
    /// The `sleep` type's handler: the processes it started.
    pub sleep: SleepHandler,
    /// The agent's data directory, removed when this is dropped.
    pub dir: tempfile::TempDir,
}

impl SleepAgent {
    /// Starts one with the default agent configuration.
    pub fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let leader = LocalLeader::new(Millis(200), Millis(1000));
        let sleep = SleepHandler::new();
        let handlers = HandlerMap::new().with(Arc::new(sleep.clone()));
        let agent = Agent::start(
            AgentConfig::new(NODE, dir.path()),
            leader.link(),
            Arc::new(handlers),
        )
        .map_err(|e| e.to_string())?;
        Ok(SleepAgent {
            agent,
            leader,
            sleep,
            dir,
        })
    }

    /// Sends `groups` as the node's desired state, epoch 1.
    pub fn desire(&self, groups: Vec<DesiredGroup>) {
        self.leader.send_desired(DesiredNode {
            node: NODE.into(),
            epoch: 1,
            groups,
            types: Vec::new(),
        });
    }
}

/// A benchmark's size: its first command-line argument, or `default`.
pub fn size_arg(default: usize) -> Result<usize, String> {
    std::env::args()
        .nth(1)
        .map_or(Ok(default), |a| a.parse())
        .map_err(|e| format!("N: {e}"))
}
