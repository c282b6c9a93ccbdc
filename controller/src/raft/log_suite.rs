//! A conformance suite for [`LogStorage`] implementations (as openraft's `Suite::test_all`):
//! what raft-rs and the member's Ready loop rely on, checked through the public traits,
//! including that what was written survives reopening the log.
//!
//! Each check panics with what went wrong; run them all with [`run_all`].

use std::path::Path;

use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, StorageError};

use super::log_storage::LogStorage;
use super::types::Members;

/// Runs every check, each in its own subdirectory of `root`; `open` opens (or reopens) a
/// log in a directory.
pub fn run_all<S: LogStorage>(root: &Path, mut open: impl FnMut(&Path) -> S) {
    bootstrap_then_reopen_restores_log_hard_state_and_snapshot(&root.join("boot"), &mut open);
    a_conflicting_append_replaces_the_suffix_durably(&root.join("conflict"), &mut open);
    a_snapshot_compacts_the_log_and_survives_reopen(&root.join("compact"), &mut open);
    a_received_snapshot_replaces_the_whole_log(&root.join("received"), &mut open);
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: format!("e{index}t{term}").into_bytes().into(),
        ..Default::default()
    }
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

fn members() -> Members {
    [(1, "a:1".to_string()), (2, "b:1".to_string())].into()
}

/// A bootstrapped log with entries and a HardState reopens with all of them.
pub fn bootstrap_then_reopen_restores_log_hard_state_and_snapshot<S: LogStorage>(
    dir: &Path,
    open: &mut dyn FnMut(&Path) -> S,
) {
    let mut s = open(dir);
    assert!(s.is_new());
    s.bootstrap(&members()).unwrap();
    let ents: Vec<Entry> = (2..=5).map(|i| entry(i, 2)).collect();
    let hs = HardState {
        term: 2,
        vote: 1,
        commit: 4,
        ..Default::default()
    };
    s.persist(None, &ents, Some(&hs)).unwrap();
    drop(s);
    let s = open(dir);
    assert!(!s.is_new());
    let state = s.initial_state().unwrap();
    assert_eq!(state.hard_state, hs);
    assert_eq!(state.conf_state, ConfState::from(([1, 2], [])));
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (2, 5));
    assert_eq!(s.entries(2, 6, None, ctx()).unwrap(), ents);
    assert_eq!(s.term(1).unwrap(), 1);
}

/// Appending at an index inside the log replaces everything from there on, durably.
pub fn a_conflicting_append_replaces_the_suffix_durably<S: LogStorage>(
    dir: &Path,
    open: &mut dyn FnMut(&Path) -> S,
) {
    let mut s = open(dir);
    s.bootstrap(&members()).unwrap();
    let old: Vec<Entry> = (2..=6).map(|i| entry(i, 2)).collect();
    s.persist(None, &old, None).unwrap();
    s.persist(None, &[entry(4, 3)], None).unwrap();
    drop(s);
    let s = open(dir);
    assert_eq!(s.last_index().unwrap(), 4);
    assert_eq!(s.term(4).unwrap(), 3);
    assert_eq!(s.term(3).unwrap(), 2);
}

/// Saving a snapshot compacts the log (keeping what was asked) and survives reopening.
pub fn a_snapshot_compacts_the_log_and_survives_reopen<S: LogStorage>(
    dir: &Path,
    open: &mut dyn FnMut(&Path) -> S,
) {
    let mut s = open(dir);
    s.bootstrap(&members()).unwrap();
    s.persist(
        None,
        &(2..=10).map(|i| entry(i, 2)).collect::<Vec<_>>(),
        None,
    )
    .unwrap();
    let mut snap = Snapshot {
        data: b"db".to_vec().into(),
        ..Default::default()
    };
    snap.mut_metadata().index = 7;
    snap.mut_metadata().term = 2;
    // Keep 2 entries behind the snapshot: the log starts at 6.
    s.save_snapshot(snap.clone(), 2).unwrap();
    drop(s);
    let s = open(dir);
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (6, 10));
    assert!(matches!(
        s.entries(4, 9, None, ctx()),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    assert_eq!(s.entries(6, 8, None, ctx()).unwrap().len(), 2);
    assert_eq!(s.term(5).unwrap(), 2);
    assert_eq!(s.snapshot(0, 2).unwrap(), snap);
    assert!(s.snapshot(9, 2).is_err(), "older than requested");
}

/// A snapshot received from the leader replaces the whole log and raises the HardState.
pub fn a_received_snapshot_replaces_the_whole_log<S: LogStorage>(
    dir: &Path,
    open: &mut dyn FnMut(&Path) -> S,
) {
    let mut s = open(dir);
    s.persist(None, &[entry(1, 1), entry(2, 1)], None).unwrap();
    let mut snap = Snapshot::default();
    snap.mut_metadata().index = 20;
    snap.mut_metadata().term = 4;
    s.persist(Some(&snap), &[], None).unwrap();
    drop(s);
    let s = open(dir);
    assert_eq!(
        (s.first_index().unwrap(), s.last_index().unwrap()),
        (21, 20)
    );
    let hs = s.initial_state().unwrap().hard_state;
    assert_eq!((hs.term, hs.commit), (4, 20));
}
