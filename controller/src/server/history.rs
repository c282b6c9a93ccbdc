//! The recent events of this member, so that a watcher can start from a given revision and
//! then follow live without a gap.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::db::Event;
use crate::store::{AppliedEvents, Store};

/// An event with the revision it was applied at.
pub type Revisioned = (u64, Event);

/// How many events are kept for replay.
pub const HISTORY: usize = 10_000;

/// Events by revision, recent first out.
#[derive(Clone, Debug)]
pub struct History {
    ring: Arc<Mutex<VecDeque<(u64, Event)>>>,
    live: broadcast::Sender<(u64, Event)>,
}

impl History {
    /// Follows what `store` applies, from now on, until the store closes.
    pub fn follow<S: Store>(store: &S) -> Self {
        let (live, _) = broadcast::channel(4096);
        let h = History {
            ring: Arc::default(),
            live,
        };
        let mut applied = store.subscribe_applied();
        let me = h.clone();
        tokio::spawn(async move {
            loop {
                match applied.recv().await {
                    Ok(a) => me.push(a),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        h
    }

    fn push(&self, a: AppliedEvents) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        for e in a.events {
            if ring.len() == HISTORY {
                ring.pop_front();
            }
            ring.push_back((a.revision, e.clone()));
            let _ = self.live.send((a.revision, e));
        }
    }

    /// The kept events after `revision`, and a receiver for what comes next. The receiver is
    /// subscribed before the snapshot, so nothing falls between; a caller skips live events at
    /// or below the last replayed revision.
    pub fn since(&self, revision: u64) -> (Vec<Revisioned>, broadcast::Receiver<Revisioned>) {
        let rx = self.live.subscribe();
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let past = ring
            .iter()
            .filter(|(r, _)| *r > revision)
            .cloned()
            .collect();
        (past, rx)
    }
}
