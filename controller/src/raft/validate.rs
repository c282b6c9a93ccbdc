//! What a member checks in a raft message from a peer before raft-rs sees it.
//!
//! raft-rs trusts its peers: fields that no correct member sends make it panic (a heartbeat
//! whose commit is past this member's log: `to_commit ... is out of range`; an empty forwarded
//! proposal or read; a snapshot whose configuration does not restore; a term-0 message, taken
//! as a local one), and a panic in the member task stops the member. So the member task drops
//! every message that is not addressed to it, does not come from a member, or has a field that
//! cannot be right given this member's own state. Each rule is one raft-rs 0.7 never breaks
//! (the comments say why), so traffic between correct members is never dropped. A forged
//! message that looks right could still mislead raft: with TLS only the certificate of the
//! member a message claims to come from can send it (server/auth.rs); a cluster run without
//! TLS (loopback only) has no such check.
//!
//! [`check`] is the decision alone (no I/O, no clock); [`Throttle`] decides when a refusal is
//! worth a log line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfState, Message, MessageType};
use raft::{Changer, ProgressTracker};

use super::codec;

/// Terms and indexes past this cannot be reached (one election or entry a nanosecond for a
/// century is below 2^62); raft-rs adds to them without checking for overflow.
pub(crate) const MAX_PLAUSIBLE: u64 = 1 << 62;

/// What the member knows when a message arrives.
#[derive(Clone, Copy)]
pub(crate) struct Local<'a> {
    /// This member's id.
    pub id: u64,
    /// Its current term.
    pub term: u64,
    /// The leader it knows in this term (0: none).
    pub leader: u64,
    /// Whether it leads.
    pub is_leader: bool,
    /// Its last log index (persisted or not).
    pub last_index: u64,
    /// Whether `id` is a member (voter or learner, or an address it knows); `None` while this
    /// member is in no configuration yet (a member waiting to be added hears from a leader it
    /// may not have been told about).
    pub is_member: Option<&'a dyn Fn(u64) -> bool>,
}

/// Why a message was dropped: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The message's field (`commit`, `entries[2].index`, `snapshot.data`).
    pub field: String,
    /// Why it cannot be right.
    pub reason: String,
}

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal {
        field: field.into(),
        reason: reason.into(),
    })
}

/// Checks message `m` from a peer; `Err` names the field that cannot be right.
pub(crate) fn check(m: &Message, local: &Local) -> Result<(), Refusal> {
    let t = m.get_msg_type();
    if is_local(t) {
        return refuse("msg_type", format!("{t:?} is a member's own, never sent"));
    }
    if m.to != local.id {
        return refuse(
            "to",
            format!("addressed to member {}, not {}", m.to, local.id),
        );
    }
    if m.from == 0 || m.from == local.id {
        return refuse("from", format!("{} cannot be a peer's id", m.from));
    }
    if let Some(is_member) = local.is_member
        && !is_member(m.from)
    {
        return refuse("from", format!("{} is not a member", m.from));
    }
    check_term(m)?;
    // raft-rs only answers a message from an older term with its own term.
    if m.term != 0 && m.term < local.term {
        return Ok(());
    }
    match t {
        MessageType::MsgHeartbeat => {
            from_the_leader(m, local)?;
            // The leader sends min(what this member acknowledged, its commit): never past this
            // member's log, which keeps what it acknowledged (fsynced before the answer).
            if m.commit > local.last_index {
                let why = format!(
                    "{} is past this member's last index {}",
                    m.commit, local.last_index
                );
                return refuse("commit", why);
            }
            Ok(())
        }
        MessageType::MsgAppend => {
            from_the_leader(m, local)?;
            check_append(m)
        }
        MessageType::MsgSnapshot => {
            from_the_leader(m, local)?;
            check_snapshot(m)
        }
        MessageType::MsgTimeoutNow => from_the_leader(m, local),
        // Only a leader acts on an acknowledgement; what it acknowledges comes from the leader's
        // own log in this term, which only grows while it leads.
        MessageType::MsgAppendResponse if local.is_leader => {
            if m.index > local.last_index {
                let why = format!(
                    "{} is past the leader's last index {}",
                    m.index, local.last_index
                );
                return refuse("index", why);
            }
            if m.reject && m.reject_hint > m.index {
                return refuse(
                    "reject_hint",
                    format!("{} is past index {}", m.reject_hint, m.index),
                );
            }
            Ok(())
        }
        // raft-rs makes a forwarded proposal or read with exactly its entries (a read: one).
        MessageType::MsgPropose if m.entries.is_empty() => {
            refuse("entries", "a proposal with none")
        }
        MessageType::MsgReadIndex if m.entries.len() != 1 => refuse(
            "entries",
            format!("a read carries one, not {}", m.entries.len()),
        ),
        // A follower forwards a transfer to its leader, and raft-rs panics on forwarding one
        // that carries a term; only transfers asked of this very member are ever forwarded.
        MessageType::MsgTransferLeader
            if !local.is_leader && m.term == local.term && local.leader != 0 =>
        {
            refuse(
                "msg_type",
                "a transfer reached a follower that knows the leader",
            )
        }
        _ => Ok(()),
    }
}

fn is_local(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::MsgHup
            | MessageType::MsgBeat
            | MessageType::MsgUnreachable
            | MessageType::MsgSnapStatus
            | MessageType::MsgCheckQuorum
    )
}

/// raft-rs sets the sender's term on every message but forwarded proposals and reads, which it
/// forwards with none (a term there makes the follower that forwards it panic); a message with
/// no term is taken as a local one.
fn check_term(m: &Message) -> Result<(), Refusal> {
    let t = m.get_msg_type();
    let forwarded = matches!(t, MessageType::MsgPropose | MessageType::MsgReadIndex);
    if forwarded && m.term != 0 {
        return refuse("term", format!("{t:?} carries no term, not {}", m.term));
    }
    if !forwarded && m.term == 0 {
        return refuse("term", format!("{t:?} needs one"));
    }
    if m.term > MAX_PLAUSIBLE {
        return refuse("term", format!("{} cannot be reached", m.term));
    }
    Ok(())
}

/// One leader per term: in this member's term, only the leader it knows leads.
fn from_the_leader(m: &Message, local: &Local) -> Result<(), Refusal> {
    if m.term == local.term && local.leader != 0 && m.from != local.leader {
        let why = format!(
            "member {} leads term {}, not {}",
            local.leader, local.term, m.from
        );
        return refuse("from", why);
    }
    Ok(())
}

/// An append anchors at (index, log_term) and carries the entries right after it, from the
/// leader's log: terms never decrease along a log and never pass the leader's term.
fn check_append(m: &Message) -> Result<(), Refusal> {
    if m.index > MAX_PLAUSIBLE {
        return refuse("index", format!("{} cannot be reached", m.index));
    }
    // Every entry from index 1 on has a term; raft-rs takes term 0 past the log as a match.
    if (m.index == 0) != (m.log_term == 0) {
        let why = format!("index {} with log term {}", m.index, m.log_term);
        return refuse("log_term", why);
    }
    if m.log_term > m.term {
        return refuse(
            "log_term",
            format!("{} is past the term {}", m.log_term, m.term),
        );
    }
    let mut prev_term = m.log_term.max(1);
    for (i, e) in m.entries.iter().enumerate() {
        let want = m.index + 1 + i as u64;
        if e.index != want {
            return refuse(
                format!("entries[{i}].index"),
                format!("{}, not {want}", e.index),
            );
        }
        if e.term < prev_term || e.term > m.term {
            let why = format!("{} is not within {prev_term}..={}", e.term, m.term);
            return refuse(format!("entries[{i}].term"), why);
        }
        prev_term = e.term;
    }
    Ok(())
}

/// A snapshot names an entry of the leader's log, a configuration raft-rs can restore, and
/// data this member can decode (a member that cannot decode it would stop).
fn check_snapshot(m: &Message) -> Result<(), Refusal> {
    let snap = m.get_snapshot();
    let meta = snap.get_metadata();
    if meta.index == 0 || meta.index > MAX_PLAUSIBLE {
        return refuse(
            "snapshot.metadata.index",
            format!("{} cannot be right", meta.index),
        );
    }
    if meta.term == 0 || meta.term > m.term {
        let why = format!("{} is not within 1..={}", meta.term, m.term);
        return refuse("snapshot.metadata.term", why);
    }
    if let Err(why) = restores(meta.get_conf_state()) {
        return refuse("snapshot.metadata.conf_state", why);
    }
    if let Err(e) = codec::decode_snapshot(meta.index, &snap.data) {
        return refuse("snapshot.data", e.to_string());
    }
    Ok(())
}

/// Whether raft-rs restores `cs` as itself (it panics when not): the changes its own restore
/// makes, on an empty tracker, must succeed and give back the same configuration.
fn restores(cs: &ConfState) -> Result<(), String> {
    let single = |id: u64, ty: ConfChangeType| {
        let mut c = ConfChangeSingle {
            node_id: id,
            ..Default::default()
        };
        c.set_change_type(ty);
        c
    };
    let ids = |v: &[u64]| v.iter().any(|id| *id == 0 || *id > MAX_PLAUSIBLE);
    if ids(&cs.voters) || ids(&cs.learners) || ids(&cs.voters_outgoing) || ids(&cs.learners_next) {
        return Err("a member id is 0 or cannot be reached".into());
    }
    let outgoing: Vec<_> = (cs.voters_outgoing.iter())
        .map(|id| single(*id, ConfChangeType::AddNode))
        .collect();
    let mut incoming: Vec<_> = (cs.voters_outgoing.iter())
        .map(|id| single(*id, ConfChangeType::RemoveNode))
        .collect();
    incoming.extend(
        cs.voters
            .iter()
            .map(|id| single(*id, ConfChangeType::AddNode)),
    );
    incoming.extend(
        cs.learners
            .iter()
            .map(|id| single(*id, ConfChangeType::AddLearnerNode)),
    );
    incoming.extend(
        cs.learners_next
            .iter()
            .map(|id| single(*id, ConfChangeType::AddLearnerNode)),
    );
    let mut tracker = ProgressTracker::new(1);
    let apply = |tracker: &mut ProgressTracker, joint: Option<&[ConfChangeSingle]>, cc| {
        let changed = match joint {
            Some(all) => Changer::new(tracker).enter_joint(cs.auto_leave, all),
            None => Changer::new(tracker).simple(&[cc]),
        };
        let (conf, changes) = changed.map_err(|e| e.to_string())?;
        tracker.apply_conf(conf, changes, 1);
        Ok::<_, String>(())
    };
    if outgoing.is_empty() {
        for cc in incoming {
            apply(&mut tracker, None, cc)?;
        }
    } else {
        for cc in outgoing {
            apply(&mut tracker, None, cc)?;
        }
        apply(&mut tracker, Some(&incoming), ConfChangeSingle::default())?;
    }
    let got = tracker.conf().to_conf_state();
    let same = |a: &[u64], b: &[u64]| {
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_unstable();
        b.sort_unstable();
        a == b
    };
    let equal = same(&got.voters, &cs.voters)
        && same(&got.learners, &cs.learners)
        && same(&got.voters_outgoing, &cs.voters_outgoing)
        && same(&got.learners_next, &cs.learners_next)
        && got.auto_leave == cs.auto_leave;
    if !equal {
        return Err(format!("restores as {got:?}, not as itself"));
    }
    Ok(())
}

/// How often refusals from one peer are logged: the first at once, then at most one line per
/// `every`, saying how many were dropped since.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    /// Per peer: when it was last logged, and the refusals since.
    peers: HashMap<u64, (Instant, u64)>,
}

impl Throttle {
    /// At most one line per peer per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        Throttle {
            every,
            peers: HashMap::new(),
        }
    }

    /// Records a refusal from `peer` at `now`; `Some(n)` when it is to be logged, `n` being
    /// the refusals from that peer not logged before it (this one included).
    pub(crate) fn refused(&mut self, peer: u64, now: Instant) -> Option<u64> {
        match self.peers.get_mut(&peer) {
            Some((last, n)) if now.duration_since(*last) < self.every => {
                *n += 1;
                None
            }
            Some((last, n)) => {
                let total = *n + 1;
                (*last, *n) = (now, 0);
                Some(total)
            }
            None => {
                // Bounded by the peers that can pass the checks before this one: members, or
                // anyone at all while this member is in no configuration.
                if self.peers.len() >= 1024 {
                    self.peers.clear();
                }
                self.peers.insert(peer, (now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ClusterDb;
    use raft::prelude::{Entry, Snapshot};

    fn members(id: u64) -> bool {
        (1..=3).contains(&id)
    }

    /// Member 2, a follower of member 1 in term 5, with a log up to index 10.
    fn follower() -> Local<'static> {
        Local {
            id: 2,
            term: 5,
            leader: 1,
            is_leader: false,
            last_index: 10,
            is_member: Some(&members),
        }
    }

    fn leader() -> Local<'static> {
        Local {
            id: 1,
            leader: 1,
            is_leader: true,
            ..follower()
        }
    }

    fn msg(t: MessageType, from: u64, to: u64, term: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        (m.from, m.to, m.term) = (from, to, term);
        m
    }

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Default::default()
        }
    }

    fn field(r: Result<(), Refusal>) -> String {
        r.expect_err("refused").field
    }

    fn good_snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
        let members = voters.iter().map(|v| (*v, format!("m{v}:1"))).collect();
        let mut s = Snapshot {
            data: codec::encode_snapshot(&members, &ClusterDb::new()).into(),
            ..Default::default()
        };
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s.mut_metadata()
            .set_conf_state(ConfState::from((voters.to_vec(), vec![])));
        s
    }

    #[test]
    fn i10_5_a_heartbeat_whose_commit_is_past_the_log_is_refused() {
        let mut hb = msg(MessageType::MsgHeartbeat, 1, 2, 5);
        hb.commit = 10;
        assert_eq!(check(&hb, &follower()), Ok(()));
        hb.commit = 1_000_000_000_000;
        let r = check(&hb, &follower()).unwrap_err();
        assert_eq!(r.field, "commit");
        assert!(r.reason.contains("last index 10"), "{r:?}");
        // From a higher term (a new leader): raft would still commit first.
        hb.term = 6;
        assert_eq!(field(check(&hb, &follower())), "commit");
        // From an older term raft only answers with its own term.
        hb.term = 4;
        assert_eq!(check(&hb, &follower()), Ok(()));
    }

    #[test]
    fn i10_5_the_sender_must_be_a_member_and_the_receiver_this_member() {
        let mut hb = msg(MessageType::MsgHeartbeat, 7, 2, 5);
        assert_eq!(field(check(&hb, &follower())), "from");
        hb.from = 0;
        assert_eq!(field(check(&hb, &follower())), "from");
        hb.from = 2;
        assert_eq!(field(check(&hb, &follower())), "from");
        let to_3 = msg(MessageType::MsgHeartbeat, 1, 3, 5);
        assert_eq!(field(check(&to_3, &follower())), "to");
        // A member in no configuration yet hears from a leader it was not told about.
        let joining = Local {
            is_member: None,
            leader: 0,
            term: 0,
            last_index: 0,
            ..follower()
        };
        let mut from_7 = msg(MessageType::MsgAppend, 7, 2, 5);
        (from_7.index, from_7.log_term) = (0, 0);
        assert_eq!(check(&from_7, &joining), Ok(()));
        let local = msg(MessageType::MsgHup, 1, 2, 5);
        assert_eq!(field(check(&local, &follower())), "msg_type");
    }

    #[test]
    fn i10_5_terms_are_where_raft_rs_puts_them() {
        assert_eq!(
            field(check(
                &msg(MessageType::MsgRequestVote, 3, 2, 0),
                &follower()
            )),
            "term"
        );
        assert_eq!(
            field(check(&msg(MessageType::MsgAppend, 1, 2, 0), &follower())),
            "term"
        );
        let mut prop = msg(MessageType::MsgPropose, 3, 2, 5);
        prop.set_entries(vec![entry(0, 0)].into());
        assert_eq!(field(check(&prop, &follower())), "term");
        prop.term = 0;
        assert_eq!(check(&prop, &follower()), Ok(()));
        (prop.to, prop.entries) = (1, vec![].into());
        assert_eq!(field(check(&prop, &leader())), "entries");
        let huge = msg(MessageType::MsgRequestVote, 3, 2, u64::MAX);
        assert_eq!(field(check(&huge, &follower())), "term");
        let mut read = msg(MessageType::MsgReadIndex, 3, 1, 0);
        assert_eq!(field(check(&read, &leader())), "entries");
        read.set_entries(vec![entry(0, 0)].into());
        assert_eq!(check(&read, &leader()), Ok(()));
    }

    #[test]
    fn i10_5_an_append_must_follow_its_anchor() {
        let mut a = msg(MessageType::MsgAppend, 1, 2, 5);
        (a.index, a.log_term, a.commit) = (10, 4, 12);
        a.set_entries(vec![entry(11, 4), entry(12, 5)].into());
        assert_eq!(check(&a, &follower()), Ok(()));
        // Anchored past the log: raft rejects it (the log term differs); a fine message.
        a.index = 50;
        a.set_entries(vec![entry(51, 5)].into());
        assert_eq!(check(&a, &follower()), Ok(()));
        // Term 0 past the log would match in raft-rs and commit past the log.
        (a.index, a.log_term) = (1_000_000_000_000, 0);
        a.set_entries(vec![].into());
        assert_eq!(field(check(&a, &follower())), "log_term");
        (a.index, a.log_term) = (10, 4);
        a.set_entries(vec![entry(11, 4), entry(13, 5)].into());
        assert_eq!(field(check(&a, &follower())), "entries[1].index");
        a.set_entries(vec![entry(5, 4)].into());
        assert_eq!(field(check(&a, &follower())), "entries[0].index");
        a.set_entries(vec![entry(11, 6)].into());
        assert_eq!(field(check(&a, &follower())), "entries[0].term");
        a.set_entries(vec![entry(11, 3)].into());
        assert_eq!(field(check(&a, &follower())), "entries[0].term");
        // Another member leading this member's term.
        let mut other = a.clone();
        other.from = 3;
        other.set_entries(vec![].into());
        assert_eq!(field(check(&other, &follower())), "from");
    }

    #[test]
    fn i10_5_a_snapshot_must_restore_and_decode() {
        let mut s = msg(MessageType::MsgSnapshot, 1, 2, 5);
        s.set_snapshot(good_snapshot(40, 5, &[1, 2, 3]));
        assert_eq!(check(&s, &follower()), Ok(()));
        let mut bad = s.clone();
        bad.mut_snapshot().data = b"garbage".to_vec().into();
        assert_eq!(field(check(&bad, &follower())), "snapshot.data");
        let mut bad = s.clone();
        bad.mut_snapshot().mut_metadata().term = 0;
        assert_eq!(field(check(&bad, &follower())), "snapshot.metadata.term");
        let mut bad = s.clone();
        bad.mut_snapshot().mut_metadata().index = u64::MAX;
        assert_eq!(field(check(&bad, &follower())), "snapshot.metadata.index");
        for cs in [
            ConfState::from((vec![1, 2], vec![2])),
            ConfState::from((vec![1, 1, 2], vec![])),
            ConfState::from((vec![0, 2], vec![])),
        ] {
            let mut bad = s.clone();
            bad.mut_snapshot().mut_metadata().set_conf_state(cs.clone());
            assert_eq!(
                field(check(&bad, &follower())),
                "snapshot.metadata.conf_state",
                "{cs:?}"
            );
        }
        // A joint configuration raft-rs itself would make restores.
        let mut joint = ConfState::from((vec![1, 2, 3], vec![]));
        joint.voters_outgoing = vec![1, 2, 4];
        joint.learners_next = vec![4];
        let mut ok = s.clone();
        ok.mut_snapshot().mut_metadata().set_conf_state(joint);
        assert_eq!(check(&ok, &follower()), Ok(()));
    }

    #[test]
    fn i10_5_a_leader_refuses_acknowledgements_past_its_log() {
        let mut r = msg(MessageType::MsgAppendResponse, 2, 1, 5);
        r.index = 10;
        assert_eq!(check(&r, &leader()), Ok(()));
        r.index = 11;
        assert_eq!(field(check(&r, &leader())), "index");
        (r.index, r.reject, r.reject_hint) = (8, true, u64::MAX);
        assert_eq!(field(check(&r, &leader())), "reject_hint");
        // A follower ignores acknowledgements (a stale one after a restart is fine).
        let mut stale = msg(MessageType::MsgAppendResponse, 3, 2, 5);
        stale.index = 12;
        assert_eq!(check(&stale, &follower()), Ok(()));
    }

    #[test]
    fn i10_5_a_follower_refuses_a_transfer_it_would_forward_with_a_term() {
        let t = msg(MessageType::MsgTransferLeader, 3, 2, 5);
        assert_eq!(field(check(&t, &follower())), "msg_type");
        let mut to_leader = t.clone();
        to_leader.to = 1;
        assert_eq!(check(&to_leader, &leader()), Ok(()));
    }

    #[test]
    fn refusals_from_one_peer_are_logged_once_per_period() {
        let mut th = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(th.refused(3, t0), Some(1));
        assert_eq!(th.refused(3, t0 + Duration::from_secs(1)), None);
        assert_eq!(th.refused(3, t0 + Duration::from_secs(2)), None);
        assert_eq!(th.refused(4, t0 + Duration::from_secs(2)), Some(1));
        assert_eq!(th.refused(3, t0 + Duration::from_secs(11)), Some(3));
    }
}
