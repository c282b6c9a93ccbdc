//! The events of this member, so that a watcher can start from a given revision and then
//! follow live without a gap: the recent ones in memory, and, with a file
//! ([`History::on_disk`]), every one within the bounds of `event_log.rs`, across restarts.
//!
//! Order of things, which is what makes `since` exact: an applied command's events go to the
//! memory ring and the live channel together (under the ring's lock), then to the file. The
//! ring holds whole commands, so it begins at a command's first event; whatever is older than
//! the ring's first revision was written to the file long before (or lost with a failed
//! write, which is logged). `since` reads the ring under the lock, after subscribing, and the
//! file only below the ring's first revision.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::{error, warn};

use super::event_log::EventLog;
use crate::db::Event;
use crate::store::{AppliedEvents, Store};
use crate::time::Time;

/// An event with the revision it was applied at.
pub type Revisioned = (u64, Event);

/// How many events are kept in memory (more, on disk).
pub const HISTORY: usize = 10_000;

/// Events by revision, recent first out.
#[derive(Clone, Debug)]
pub struct History {
    inner: Arc<Mutex<Ring>>,
    live: broadcast::Sender<(u64, Event)>,
    log: Option<Arc<EventLog>>,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Revisioned>,
    /// The last revision pushed (to the ring, or found in the file at open).
    last: u64,
}

impl History {
    /// Follows what `store` applies, from now on, until the store closes; in memory only.
    pub fn follow<S: Store>(store: &S) -> Self {
        Self::start(store, None)
    }

    /// Follows what `store` applies, keeping it in the file `path` too, and serves what the
    /// file kept from earlier runs. A file that cannot be used is logged, set aside, and the
    /// history starts afresh (it never stops the member).
    pub fn on_disk<S: Store>(store: &S, path: &Path) -> Self {
        let (log, why) = EventLog::open(path);
        if let Some(why) = why {
            error!("event history: {why}");
        }
        Self::start(store, log)
    }

    fn start<S: Store>(store: &S, log: Option<EventLog>) -> Self {
        // Subscribed first, so that nothing applied while the file is read is missed.
        let mut applied = store.subscribe_applied();
        let (live, _) = broadcast::channel(4096);
        let mut ring = Ring::default();
        if let Some(log) = &log {
            match (log.recent(HISTORY), log.last_revision()) {
                (Ok(recent), Ok(last)) => {
                    ring.events = recent.into();
                    ring.last = last;
                }
                (Err(e), _) | (_, Err(e)) => {
                    error!("event history: cannot read {}: {e}", log.path().display());
                }
            }
        }
        let h = History {
            inner: Arc::new(Mutex::new(ring)),
            live,
            log: log.map(Arc::new),
        };
        let me = h.clone();
        tokio::spawn(async move {
            loop {
                let first = match applied.recv().await {
                    Ok(a) => a,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!("event history: {n} applied commands were missed (fell behind)");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                // Whatever else is waiting goes to the file in the same transaction.
                let mut batch = vec![first];
                while batch.len() < 1024 {
                    match applied.try_recv() {
                        Ok(a) => batch.push(a),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            warn!("event history: {n} applied commands were missed");
                        }
                        Err(_) => break,
                    }
                }
                let fresh = me.push(batch);
                me.write(fresh).await;
            }
        });
        h
    }

    /// Puts commands into the ring and the live channel; returns those that were new (a
    /// restarted member re-applies what its file already holds).
    fn push(&self, batch: Vec<AppliedEvents>) -> Vec<(u64, Vec<Event>)> {
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut fresh = Vec::new();
        for a in batch {
            if a.revision <= ring.last || a.events.is_empty() {
                continue;
            }
            ring.last = a.revision;
            for e in &a.events {
                ring.events.push_back((a.revision, e.clone()));
                let _ = self.live.send((a.revision, e.clone()));
            }
            fresh.push((a.revision, a.events));
        }
        // Whole commands out, oldest first.
        while ring.events.len() > HISTORY {
            let Some((oldest, _)) = ring.events.pop_front() else {
                break;
            };
            while ring.events.front().is_some_and(|(r, _)| *r == oldest) {
                ring.events.pop_front();
            }
        }
        fresh
    }

    async fn write(&self, fresh: Vec<(u64, Vec<Event>)>) {
        let Some(log) = self.log.clone() else { return };
        if fresh.is_empty() {
            return;
        }
        let written = tokio::task::spawn_blocking(move || {
            let r = log.append(&fresh, Time::now());
            r.map_err(|e| format!("{}: {e}", log.path().display()))
        });
        match written.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("event history: cannot write: {e}"),
            Err(e) => warn!("event history: the write failed: {e}"),
        }
    }

    /// The kept events after `revision`, and a receiver for what comes next. The receiver is
    /// subscribed before the ring is read, so nothing falls between; a caller skips live
    /// events at or below the last replayed revision.
    pub async fn since(&self, revision: u64) -> (Vec<Revisioned>, broadcast::Receiver<Revisioned>) {
        let rx = self.live.subscribe();
        let (recent, below) = {
            let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let recent: Vec<Revisioned> = (ring.events.iter())
                .filter(|(r, _)| *r > revision)
                .cloned()
                .collect();
            // The ring's first revision, or (empty) what comes after the last one pushed.
            let below = ring.events.front().map_or(ring.last + 1, |(r, _)| *r);
            (recent, below)
        };
        let mut past = Vec::new();
        if let Some(log) = self.log.clone()
            && revision + 1 < below
        {
            let read = tokio::task::spawn_blocking(move || log.between(revision, below));
            match read.await {
                Ok(Ok(older)) => past = older,
                Ok(Err(e)) => warn!("event history: cannot read: {e}"),
                Err(e) => warn!("event history: the read failed: {e}"),
            }
        }
        past.extend(recent);
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{ClusterDb, Command, NodeSpec, Op};
    use crate::store::LocalStore;

    async fn add_node(store: &LocalStore, name: &str) {
        let op = Op::PutNode(NodeSpec {
            name: name.into(),
            ..Default::default()
        });
        let cmd = Command::operator(Time::now(), "test", op);
        store.propose(cmd).await.unwrap().result.unwrap();
    }

    /// Waits until the history holds `n` events after revision 0.
    async fn holding(h: &History, n: usize) -> Vec<Revisioned> {
        for _ in 0..200 {
            let (past, _) = h.since(0).await;
            if past.len() >= n {
                return past;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the history never held {n} events");
    }

    #[tokio::test]
    async fn a_history_on_disk_serves_an_earlier_runs_events_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let store = LocalStore::new(ClusterDb::new(), "m1");
        let h = History::on_disk(&store, &path);
        add_node(&store, "a").await;
        add_node(&store, "b").await;
        let before = holding(&h, 2).await;
        // Written behind the live path: wait for the file.
        let log = h.log.clone().unwrap();
        while log.len().unwrap() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // The run ends: its store, then its history (which ends with the store).
        drop((h, store));
        while Arc::strong_count(&log) > 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(log);
        // A new run whose store knows nothing of the old commands (its raft log compacted
        // them away): the file still has them.
        let store = LocalStore::new(ClusterDb::new(), "m1");
        let h = History::on_disk(&store, &path);
        assert!(h.log.is_some(), "the file opens again");
        let (past, _) = h.since(0).await;
        assert_eq!(past, before, "the earlier run's events, in order");
        // A watcher from the middle gets only what follows.
        let (after, _) = h.since(before[0].0).await;
        assert_eq!(after, before[1..]);
    }
}
