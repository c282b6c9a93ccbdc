//! A witness node's liveness. A witness runs no agent, so it never heartbeats: what shows it
//! alive is its controller member, the voter whose address is the witness's `address` in the
//! configuration. The leader samples raft's progress on every tick of its sweep: a voter it
//! heard from within the last election timeout (`Progress::recent_active`, raft/node.rs; the
//! leader itself always) is seen then. A witness whose member was seen within the window (the timing
//! profile's `node_timeout`, at least [`MIN_WINDOW`]) is brought Up; an Up witness whose member
//! was not seen for a whole window, or that no voter stands for, is declared Down. A witness
//! whose member was never seen stays Joining, as a node whose agent never spoke does.
//!
//! One sample proves nothing (a member may have answered a moment before the last election
//! timeout began; raft-rs's own mark even drops at each quorum check, which raft/node.rs
//! smooths over): a member counts as gone only after a whole window of samples, none of which
//! saw it, during this leader's term. A witness's state moves no group and fences nothing: a witness owns
//! nothing and has no fence (db/fence.rs), and no lease depends on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Roster;
use crate::db::Op;
use crate::db::model::Liveness;
use crate::store::MemberView;

/// The shortest window: ten raft heartbeats of the default raft timing, whatever the profile's
/// `node_timeout`, so that a member answering every heartbeat is never declared gone.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// What the leader has seen of the voters during its term.
#[derive(Debug)]
pub struct MemberWatch {
    /// When this leader began watching.
    since: Instant,
    /// When each voter was last seen active.
    seen: HashMap<u64, Instant>,
    /// The liveness last proposed for each witness, until the roster shows it.
    asked: HashMap<String, Liveness>,
}

impl MemberWatch {
    /// A watch that begins at `now` (at the start of a term of leadership).
    pub fn new(now: Instant) -> Self {
        MemberWatch {
            since: now,
            seen: HashMap::new(),
            asked: HashMap::new(),
        }
    }

    /// Takes one sample of the leader's progress.
    pub fn observe(&mut self, view: &MemberView, now: Instant) {
        for p in view.progress.iter().filter(|p| p.recent_active) {
            self.seen.insert(p.id, now);
        }
    }

    /// The liveness commands due for the witnesses of `roster`, given the members in `view`;
    /// each proposed once until the roster shows it.
    pub fn verdicts(&mut self, roster: &Roster, view: &MemberView, now: Instant) -> Vec<Op> {
        let window = Duration::from_millis(roster.node_timeout_ms).max(MIN_WINDOW);
        let mut ops = Vec::new();
        for (name, address) in &roster.witnesses {
            let Some(node) = roster.node(name).filter(|n| !n.evicted) else {
                continue;
            };
            let member = address
                .as_deref()
                .and_then(|a| (view.members.iter()).find(|m| m.voter && m.address == a));
            let last = member.and_then(|m| self.seen.get(&m.id)).copied();
            let recent = last.is_some_and(|t| now.duration_since(t) <= window);
            let watched = now.duration_since(last.unwrap_or(self.since).max(self.since));
            let (target, op) = if recent {
                (Liveness::Up, Op::NodeUp { node: name.clone() })
            } else if node.liveness == Liveness::Up && watched > window {
                let reason = match (address, member) {
                    (None, _) => "it has no address, so no controller member stands for it".into(),
                    (Some(a), None) => format!("no voting member listens at its address {a}"),
                    (Some(a), Some(m)) => format!(
                        "its controller member {} ({a}) has not answered the leader for {} ms",
                        m.id,
                        watched.as_millis()
                    ),
                };
                let node = name.clone();
                (Liveness::Down, Op::NodeDown { node, reason })
            } else {
                continue;
            };
            if node.liveness == target {
                self.asked.remove(name);
            } else if self.asked.get(name) != Some(&target) {
                self.asked.insert(name.clone(), target);
                ops.push(op);
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::model::{NodeSpec, TimingProfile};
    use crate::db::{ClusterDb, Command};
    use crate::raft::{Progress, ProgressState, Role};
    use crate::store::MemberInfo;
    use crate::time::Time;

    /// Members 1 and 2 (the data nodes) and 3 (the witness, at 127.0.0.1:7703), led by 1.
    fn view(active: &[u64]) -> MemberView {
        let members = (1..=3).map(|id| MemberInfo {
            id,
            address: format!("127.0.0.1:770{id}"),
            voter: true,
        });
        let progress = (1..=3).map(|id| Progress {
            id,
            matched: 10,
            next_index: 11,
            state: ProgressState::Replicate,
            recent_active: active.contains(&id),
        });
        MemberView {
            id: 1,
            role: Role::Leader,
            leader: 1,
            term: 2,
            commit: 10,
            applied: 10,
            members: members.collect(),
            progress: progress.collect(),
        }
    }

    fn db(witness: Liveness, address: Option<&str>) -> ClusterDb {
        let mut db = ClusterDb::new();
        for (name, w) in [("a", false), ("b", false), ("w", true)] {
            let spec = NodeSpec {
                name: name.into(),
                witness: w,
                autobackup: true,
                address: address.filter(|_| w).map(str::to_string),
                ..Default::default()
            };
            db.apply(Command::operator(Time(1), "admin", Op::PutNode(spec)))
                .unwrap();
        }
        let op = match witness {
            Liveness::Joining => return db,
            Liveness::Up => Op::NodeUp { node: "w".into() },
            Liveness::Down => Op::NodeDown {
                node: "w".into(),
                reason: "test".into(),
            },
        };
        db.apply(Command::liveness(Time(2), op)).unwrap();
        db
    }

    fn roster(db: &ClusterDb) -> Roster {
        Roster::of(db, Vec::new())
    }

    const AT: Option<&str> = Some("127.0.0.1:7703");
    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_witness_whose_member_answers_is_brought_up_once() {
        let t0 = Instant::now();
        let mut w = MemberWatch::new(t0);
        let r = roster(&db(Liveness::Joining, AT));
        w.observe(&view(&[1, 3]), t0);
        let up = vec![Op::NodeUp { node: "w".into() }];
        assert_eq!(w.verdicts(&r, &view(&[1, 3]), t0), up);
        assert_eq!(
            w.verdicts(&r, &view(&[1, 3]), t0 + MS(50)),
            vec![],
            "proposed once until the roster shows it"
        );
        let up_now = roster(&db(Liveness::Up, AT));
        assert_eq!(w.verdicts(&up_now, &view(&[1, 3]), t0 + MS(100)), vec![]);
    }

    #[test]
    fn a_witness_never_seen_stays_joining() {
        let t0 = Instant::now();
        let mut w = MemberWatch::new(t0);
        let r = roster(&db(Liveness::Joining, AT));
        for i in 0..100 {
            let now = t0 + MS(50 * i);
            w.observe(&view(&[1, 2]), now);
            assert_eq!(w.verdicts(&r, &view(&[1, 2]), now), vec![]);
        }
    }

    #[test]
    fn the_quorum_checks_gaps_do_not_make_a_live_witness_down() {
        // raft-rs clears recent_active at each quorum check; the member's next answer sets it.
        let t0 = Instant::now();
        let mut w = MemberWatch::new(t0);
        let r = roster(&db(Liveness::Up, AT));
        let window = Duration::from_millis(TimingProfile::default().node_timeout.0);
        for i in 0..200u64 {
            let now = t0 + MS(50 * i);
            let v = if i % 20 < 3 {
                view(&[1])
            } else {
                view(&[1, 3])
            };
            w.observe(&v, now);
            assert_eq!(w.verdicts(&r, &v, now), vec![], "at {:?}", MS(50 * i));
        }
        assert!(MS(150) < window);
    }

    #[test]
    fn a_witness_silent_for_a_whole_window_is_down_and_back_up_when_it_answers() {
        let t0 = Instant::now();
        let mut w = MemberWatch::new(t0);
        let r = roster(&db(Liveness::Up, AT));
        w.observe(&view(&[1, 3]), t0);
        let window = MS(TimingProfile::default().node_timeout.0);
        let now = t0 + window;
        w.observe(&view(&[1]), now);
        assert_eq!(w.verdicts(&r, &view(&[1]), now), vec![], "not yet");
        let now = t0 + window + MS(50);
        w.observe(&view(&[1]), now);
        let ops = w.verdicts(&r, &view(&[1]), now);
        assert!(
            matches!(&ops[..], [Op::NodeDown { node, reason }]
                if node == "w" && reason.contains("member 3 (127.0.0.1:7703) has not answered")),
            "{ops:?}"
        );
        let down = roster(&db(Liveness::Down, AT));
        let now = now + MS(50);
        w.observe(&view(&[1, 3]), now);
        assert_eq!(
            w.verdicts(&down, &view(&[1, 3]), now),
            vec![Op::NodeUp { node: "w".into() }]
        );
    }

    #[test]
    fn a_new_leader_waits_a_whole_window_before_it_calls_a_witness_down() {
        let t0 = Instant::now();
        let mut w = MemberWatch::new(t0);
        let r = roster(&db(Liveness::Up, AT));
        let window = MS(TimingProfile::default().node_timeout.0);
        for i in 0..=(window.as_millis() as u64 / 50) {
            let now = t0 + MS(50 * i);
            w.observe(&view(&[1]), now);
            assert_eq!(w.verdicts(&r, &view(&[1]), now), vec![]);
        }
        let now = t0 + window + MS(100);
        assert_eq!(w.verdicts(&r, &view(&[1]), now).len(), 1);
    }

    #[test]
    fn a_witness_no_voter_stands_for_is_down_once_the_window_passed() {
        for (address, why) in [
            (None, "it has no address"),
            (Some("127.0.0.1:9999"), "no voting member listens at"),
        ] {
            let t0 = Instant::now();
            let mut w = MemberWatch::new(t0);
            let r = roster(&db(Liveness::Up, address));
            let now = t0 + MS(2100);
            w.observe(&view(&[1, 2, 3]), now);
            let ops = w.verdicts(&r, &view(&[1, 2, 3]), now);
            assert!(
                matches!(&ops[..], [Op::NodeDown { reason, .. }] if reason.contains(why)),
                "{ops:?}"
            );
            let joining = roster(&db(Liveness::Joining, address));
            let mut w = MemberWatch::new(t0);
            assert_eq!(w.verdicts(&joining, &view(&[1, 2, 3]), now), vec![]);
        }
    }

    #[test]
    fn an_up_witness_is_left_out_of_the_heartbeat_sweep() {
        let mut db = db(Liveness::Up, AT);
        db.apply(Command::liveness(Time(3), Op::NodeUp { node: "a".into() }))
            .unwrap();
        let r = roster(&db);
        assert_eq!(r.nodes_up().collect::<Vec<_>>(), vec!["a"]);
    }
}
