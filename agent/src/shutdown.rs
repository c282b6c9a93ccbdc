//! Graceful shutdown, as mini-redis does it: one sender, a [`Shutdown`] listener per task that
//! must stop, and `recv` that returns once the signal was sent (at once if it already was).

use tokio::sync::watch;

/// Listens for the shutdown signal.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Sends the shutdown signal.
#[derive(Debug)]
pub struct ShutdownSender {
    tx: watch::Sender<bool>,
}

/// A connected sender and listener.
pub fn channel() -> (ShutdownSender, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownSender { tx }, Shutdown { rx })
}

impl ShutdownSender {
    /// Tells every listener to stop.
    pub fn send(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// Whether the signal was sent.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Returns once the signal was sent (or the sender is gone, which means the same).
    pub async fn recv(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}
