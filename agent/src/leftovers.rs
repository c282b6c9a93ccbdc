//! Undoing what an agent started, from its state file: used by the agent on start (leftovers of
//! a previous run) and by the node's watchdog when the agent's lease ran out while the agent
//! could not act (DESIGN.md "Safety").

use crate::handlers::HandlerSource;
use crate::state_file::StartedMap;

/// Cleans up every entry of `started` with its type's handler, all at once. A type this node
/// has no handler for gets the default clean-up (kill the process groups, run the cleanup
/// commands). Never fails: what is already gone is fine.
pub async fn clean_up(started: &StartedMap, handlers: &dyn HandlerSource) {
    let cleanups = started.iter().map(|(name, s)| async move {
        match handlers.handler(&s.type_name, &s.handler) {
            Some(h) => h.clean_up(&s.footprint).await,
            None => {
                tracing::warn!(resource = %name, "no handler for type {:?}: default clean-up",
                    s.type_name);
                nonstop_resource_types::cleanup::default_clean_up(&s.footprint).await
            }
        }
    });
    futures::future::join_all(cleanups).await;
}
