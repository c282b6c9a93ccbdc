//! Undoing what a dead agent left behind, from its footprints: its processes, once for all
//! footprints (one pass over /proc), then each type's own clean-up (addresses, commands).
//! Used by a restarted agent on its leftovers and by the node's watchdog when the lease ran out.

use std::time::Duration;

use crate::action;
use crate::handler::Footprint;
use crate::procs::Killed;

/// Kills every process the footprints prove theirs (`procs::kill_all`): blocking work, run on a
/// blocking thread.
pub async fn kill_processes(footprints: &[Footprint], limit: Duration) -> Killed {
    let footprints = footprints.to_vec();
    tokio::task::spawn_blocking(move || {
        let sets: Vec<_> = footprints.iter().map(Footprint::processes).collect();
        crate::procs::kill_all(&sets, limit)
    })
    .await
    .unwrap_or_default()
}

/// Runs every cleanup command of `footprint` with `sh -c`, each for at most `limit` (then it is
/// killed, with its process group). Never fails: what is already undone is fine.
pub async fn run_commands(footprint: &Footprint, limit: Duration) {
    for cmd in &footprint.cleanup_commands {
        let mut command = action::shell(cmd);
        if let Some((uid, gid)) = footprint.run_as {
            command.uid(uid).gid(gid);
        }
        match action::run(command, limit).await {
            Ok(out) if out.timed_out => {
                tracing::error!("clean-up command did not finish within {limit:?}: {cmd}")
            }
            Ok(_) => {}
            Err(e) => tracing::error!("clean-up command cannot run: {e}: {cmd}"),
        }
    }
}
