//! Undoing what an agent started, from its state file: used by the agent on start (leftovers of
//! a previous run) and by the node's watchdog when the agent's lease ran out while the agent
//! could not act (docs/design.md).
//!
//! Processes first, for every entry at once (one pass over /proc, `procs::kill_all`: only what
//! is provably theirs), then each type's own clean-up (addresses, stop commands), each within its
//! type's stop bound. What could not be undone is returned, so that the agent keeps it in its
//! state file and does not act as if it were gone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nonstop_contract::StopBound;
use nonstop_resource_types::Footprint;

use crate::handlers::HandlerSource;
use crate::runtime::Shared;
use crate::state_file::StartedMap;

/// How long the processes of every entry are given to die after SIGKILL.
const KILL_LIMIT: Duration = Duration::from_secs(1);
/// How often an agent tries again what it could not undo.
const RETRY: Duration = Duration::from_secs(5);

/// Cleans up every entry of `started` (see the module docs). Never fails; returns the entries
/// that are not undone (processes that survived SIGKILL, a clean-up that did not finish).
pub async fn clean_up(started: &StartedMap, handlers: &dyn HandlerSource) -> StartedMap {
    if started.is_empty() {
        return StartedMap::new();
    }
    let footprints: Vec<Footprint> = started.values().map(|s| s.footprint.clone()).collect();
    let killed = nonstop_resource_types::cleanup::kill_processes(&footprints, KILL_LIMIT).await;
    let survivors: BTreeSet<&String> = if killed.clean {
        BTreeSet::new()
    } else {
        started
            .iter()
            .filter(|(_, s)| still_running(&s.footprint))
            .map(|(name, _)| name)
            .collect()
    };
    let cleanups = started.iter().map(|(name, s)| async move {
        let handler = handlers.handler(&s.type_name, &s.handler);
        let limit = match &handler {
            Some(h) => h.def().stop.limit(),
            // An unknown type's bound is not known: the longest of the built-in ones.
            None => StopBound::Within(nonstop_contract::plugin::ocf::STOP_BOUND.into()).limit(),
        };
        let work = async {
            match &handler {
                Some(h) => h.clean_up(&s.footprint).await,
                None => {
                    tracing::warn!(resource = %name, "no handler for type {:?}: default clean-up",
                        s.type_name);
                    nonstop_resource_types::cleanup::run_commands(&s.footprint, limit).await
                }
            }
        };
        let done = tokio::time::timeout(limit, work).await.is_ok();
        if !done {
            tracing::error!(resource = %name, "clean-up did not finish within {limit:?}");
        }
        (name, done)
    });
    let done = futures::future::join_all(cleanups).await;
    done.into_iter()
        .filter(|(name, ok)| !ok || survivors.contains(name))
        .map(|(name, _)| (name.clone(), started[name].clone()))
        .collect()
}

/// Whether anything of `footprint`'s processes still runs.
fn still_running(footprint: &Footprint) -> bool {
    let markers: BTreeSet<&str> = footprint.marker.as_deref().into_iter().collect();
    footprint.process_groups.iter().any(|g| g.is_ours())
        || !nonstop_resource_types::procs::marked(&markers).is_empty()
}

/// Tries again, every few seconds, to undo the leftovers a start could not; each one undone is
/// forgotten in the state file and no longer blocks its group.
pub async fn retry(shared: Arc<Shared>, mut left: StartedMap) {
    shared.set_unclean(left.keys().cloned().collect());
    while !left.is_empty() {
        tokio::time::sleep(RETRY).await;
        let still = clean_up(&left, shared.handlers.as_ref()).await;
        for name in left.keys().filter(|n| !still.contains_key(*n)) {
            tracing::info!(resource = %name, "leftover undone at last");
            shared.forget(name).await;
        }
        left = still;
        shared.set_unclean(left.keys().cloned().collect());
    }
}
