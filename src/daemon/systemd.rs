//! systemd's service protocol, for a unit with `Type=notify` (deploy/nonstop.service): READY=1
//! once the node serves and its roles run, WATCHDOG=1 every half `WatchdogSec` while the node
//! is healthy (its raft member, if it has one, still runs), STOPPING=1 when it stops. Without
//! `NOTIFY_SOCKET` (not started by systemd) nothing is sent. Messages go through the
//! `sd-notify` crate.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::warn;

/// Tells systemd the daemon is ready.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        warn!(%e, "cannot notify systemd");
    }
}

/// How often systemd wants to hear that the daemon is alive (its `WatchdogSec`), if it does.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    (std::env::var_os("NOTIFY_SOCKET").is_some() && sd_notify::watchdog_enabled(false, &mut usec))
        .then(|| Duration::from_micros(usec))
        .filter(|d| !d.is_zero())
}

/// Sends WATCHDOG=1 every half `interval` while `healthy` says so; when it does not, stops
/// sending, so that systemd restarts the daemon when `WatchdogSec` runs out.
pub async fn feed_watchdog(interval: Duration, healthy: impl Fn() -> bool) {
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        if !healthy() {
            warn!("unhealthy: no longer telling systemd's watchdog that this daemon is alive");
            return;
        }
        send(&[NotifyState::Watchdog]);
    }
}
