//! Undoing what a dead agent left behind: the default for [`crate::handler::ResourceHandler::clean_up`].

use crate::handler::Footprint;

/// Kills every recorded process group and runs every cleanup command. Never fails.
pub async fn default_clean_up(footprint: &Footprint) {
    for &pgid in &footprint.process_groups {
        if pgid > 1 {
            // Negative pid: the whole process group. An error means it is gone already.
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stderr(std::process::Stdio::null())
                .status()
                .await;
        }
    }
    for cmd in &footprint.cleanup_commands {
        let _ = tokio::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .await;
    }
}
