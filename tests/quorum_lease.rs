//! The quorum lease, simulated: the agent's `Lease` (agent/src/lease.rs) and the members'
//! `Witness` with the leader's majority rule (controller/src/liveness/), the very code the daemons
//! run, driven by a discrete-time network with random delays, cut links, crashed members, a
//! frozen agent (SIGSTOP) and leader changes.
//!
//! Safety, in every run: when a leader declares the node Down at `T`, no majority of the
//! grants ever issued (delivered or still in flight) lasts past `T - (node_timeout - lease)`,
//! and that stays so while the decision commits (`COMMIT` after `T`): the agent had stopped,
//! with the terminate time to spare, before anyone could start its groups elsewhere. (Once the
//! NodeDown is committed, a lease the agent regains later only brings it the new desired state,
//! without those groups.)
//!
//! Availability, in runs where the agent reaches a majority of members at all times: the lease,
//! once held, never lapses and the node is never declared Down, even as leaders crash and change
//! (the bug that leases granted by the leader alone had).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use nonstop_agent::{HeartbeatAck, Lease};
use nonstop_contract::Millis;
use nonstop_controller::liveness::{Tally, Verdict, Witness};
use proptest::prelude::*;

const NODE: &str = "n";
/// The leader's tick and how long it waits for verdicts (controller/src/liveness/).
const TICK: u64 = 50;
const ASK_TIMEOUT: u64 = 500;
/// How long the leader's NodeDown may take to commit, for this model (raft on a LAN: ms).
const COMMIT: u64 = 100;

/// A tiny deterministic generator (xorshift), seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    from: u64,
    to: u64,
}

impl Window {
    fn covers(&self, t: u64) -> bool {
        self.from <= t && t < self.to
    }
}

/// What goes wrong during a run.
#[derive(Clone, Debug, Default)]
struct Faults {
    /// Per member: windows when it is crashed (it comes back with only its suspicions).
    down: Vec<Vec<Window>>,
    /// Per member: windows when its link with the agent drops everything.
    cut: Vec<Vec<Window>>,
    /// Per member: windows when its acknowledgements to the agent are lost while the agent's
    /// heartbeats still arrive (a one-way partition: the member grants leases the agent never
    /// gets).
    deaf: Vec<Vec<Window>>,
    /// Windows when the agent's process is stopped.
    frozen: Vec<Window>,
    /// (time, member): who leads from then on.
    leaders: Vec<(u64, usize)>,
}

#[derive(Clone, Copy, Debug)]
struct Profile {
    members: usize,
    node_timeout: u64,
    lease: u64,
    heartbeat: u64,
    max_delay: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Msg {
    Heartbeat { m: usize, sent: u64, alive: bool },
    Ack { m: usize, sent: u64 },
    Ask { m: usize, round: u64 },
    Verdict { m: usize, round: u64, silent: bool },
}

struct Sim {
    p: Profile,
    f: Faults,
    rng: Rng,
    base: Instant,
    queue: BinaryHeap<Reverse<(u64, u64, Msg)>>,
    seq: u64,
    witnesses: Vec<Witness>,
    was_down: Vec<bool>,
    lease: Lease,
    /// Per member: the end of the latest grant it issued (delivered or not).
    issued: Vec<Option<u64>>,
    round: Option<Round>,
    rounds: u64,
}

struct Round {
    id: u64,
    leader: usize,
    started: u64,
    tally: Tally,
}

/// What a run saw.
#[derive(Debug, Default)]
struct Outcome {
    down_at: Option<u64>,
    lease_first_held: Option<u64>,
    lease_lapsed_at: Option<u64>,
}

impl Sim {
    fn new(p: Profile, f: Faults, seed: u64) -> Sim {
        let base = Instant::now();
        Sim {
            p,
            f,
            rng: Rng(seed | 1),
            base,
            queue: BinaryHeap::new(),
            seq: 0,
            witnesses: (0..p.members).map(|_| Witness::new(base)).collect(),
            was_down: vec![false; p.members],
            lease: Lease::new(),
            issued: vec![None; p.members],
            round: None,
            rounds: 0,
        }
    }

    fn at(&self, t: u64) -> Instant {
        self.base + Duration::from_millis(t)
    }

    fn member_down(&self, m: usize, t: u64) -> bool {
        self.f.down[m].iter().any(|w| w.covers(t))
    }

    fn cut(&self, m: usize, t: u64) -> bool {
        self.f.cut[m].iter().any(|w| w.covers(t))
    }

    fn deaf(&self, m: usize, t: u64) -> bool {
        self.f
            .deaf
            .get(m)
            .is_some_and(|ws| ws.iter().any(|w| w.covers(t)))
    }

    fn frozen_until(&self, t: u64) -> Option<u64> {
        self.f.frozen.iter().find(|w| w.covers(t)).map(|w| w.to)
    }

    fn leader(&self, t: u64) -> usize {
        self.f
            .leaders
            .iter()
            .filter(|(at, _)| *at <= t)
            .max_by_key(|(at, _)| *at)
            .map_or(0, |(_, m)| *m)
    }

    fn send(&mut self, t: u64, msg: Msg) {
        let delay = self.rng.below(self.p.max_delay + 1);
        self.seq += 1;
        self.queue.push(Reverse((t + delay, self.seq, msg)));
    }

    /// The end of the majority-th latest grant ever issued.
    fn potential_lease_end(&self) -> u64 {
        let mut ends: Vec<u64> = self.issued.iter().map(|e| e.unwrap_or(0)).collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        ends[self.p.members / 2]
    }

    fn run(&mut self, until: u64) -> Outcome {
        let mut out = Outcome::default();
        for t in 0..until {
            self.restart_members(t);
            self.deliver(t, &mut out);
            if let Some(down) = out.down_at {
                let margin = self.p.node_timeout - self.p.lease;
                let end = self.potential_lease_end();
                assert!(
                    end + margin <= down,
                    "t={t}: grants of a majority last until {end}, the node was declared Down at \
                     {down} (margin {margin} ms)"
                );
                if t >= down + COMMIT {
                    return out;
                }
            }
            if self.frozen_until(t).is_none() {
                self.agent_tick(t, &mut out);
            }
            if t.is_multiple_of(TICK) && out.down_at.is_none() {
                self.leader_tick(t);
            }
        }
        out
    }

    fn restart_members(&mut self, t: u64) {
        for m in 0..self.p.members {
            let down = self.member_down(m, t);
            if self.was_down[m] && !down {
                // A crashed member comes back knowing nothing but its suspicions, which it
                // keeps in a file (controller/src/liveness/shared.rs).
                let at = self.at(t);
                let old = std::mem::replace(&mut self.witnesses[m], Witness::new(at));
                for (node, left) in old.suspicions(at) {
                    self.witnesses[m].restore(&node, left, at);
                }
            }
            self.was_down[m] = down;
        }
    }

    fn agent_tick(&mut self, t: u64, out: &mut Outcome) {
        if t.is_multiple_of(self.p.heartbeat) {
            // Each heartbeat says whether the lease held when it was sent (agent/src/feeds.rs).
            let alive = self.lease.is_valid(t);
            for m in 0..self.p.members {
                if !self.cut(m, t) {
                    self.send(t, Msg::Heartbeat { m, sent: t, alive });
                }
            }
        }
        let valid = self.lease.is_valid(t);
        if valid && out.lease_first_held.is_none() {
            out.lease_first_held = Some(t);
        }
        if !valid && out.lease_first_held.is_some() && out.lease_lapsed_at.is_none() {
            out.lease_lapsed_at = Some(t);
        }
    }

    fn leader_tick(&mut self, t: u64) {
        let l = self.leader(t);
        if self.member_down(l, t) {
            return;
        }
        if let Some(r) = &self.round
            && r.leader == l
            && t < r.started + ASK_TIMEOUT
        {
            return;
        }
        self.round = None;
        let timeout = Duration::from_millis(self.p.node_timeout);
        if !self.witnesses[l].looks_silent(NODE, self.at(t), timeout) {
            return;
        }
        self.rounds += 1;
        let mut tally = Tally {
            silent: 0,
            voters: self.p.members,
        };
        if self.verdict(l, t) {
            tally.silent += 1;
        }
        for m in (0..self.p.members).filter(|m| *m != l) {
            self.send(
                t,
                Msg::Ask {
                    m,
                    round: self.rounds,
                },
            );
        }
        self.round = Some(Round {
            id: self.rounds,
            leader: l,
            started: t,
            tally,
        });
    }

    fn verdict(&mut self, m: usize, t: u64) -> bool {
        let (timeout, lease) = (self.p.node_timeout, self.p.lease);
        let at = self.at(t);
        matches!(
            self.witnesses[m].verdict(
                NODE,
                at,
                Duration::from_millis(timeout),
                Duration::from_millis(lease)
            ),
            Verdict::Silent(_)
        )
    }

    fn deliver(&mut self, t: u64, out: &mut Outcome) {
        while let Some(Reverse((when, _, _))) = self.queue.peek() {
            if *when > t {
                return;
            }
            let Reverse((_, _, msg)) = self.queue.pop().expect("peeked");
            self.handle(t, msg, out);
        }
    }

    fn handle(&mut self, t: u64, msg: Msg, out: &mut Outcome) {
        match msg {
            Msg::Heartbeat { m, sent, alive } => {
                if self.member_down(m, t) || self.cut(m, t) {
                    return;
                }
                let lease = Duration::from_millis(self.p.lease);
                let at = self.at(t);
                if self.witnesses[m].heard(NODE, at, lease, alive).is_ok() {
                    let end = sent + self.p.lease;
                    self.issued[m] = Some(self.issued[m].map_or(end, |e| e.max(end)));
                    self.send(t, Msg::Ack { m, sent });
                }
            }
            Msg::Ack { m, sent } => {
                if self.cut(m, t) || self.deaf(m, t) {
                    return;
                }
                if let Some(until) = self.frozen_until(t) {
                    // A stopped process reads its socket when it resumes.
                    self.seq += 1;
                    self.queue
                        .push(Reverse((until, self.seq, Msg::Ack { m, sent })));
                    return;
                }
                let ack = HeartbeatAck {
                    sent_ms: sent,
                    lease: Millis(self.p.lease),
                    member: m as u64,
                    voters: self.p.members as u32,
                    leader: None,
                    heartbeat: None,
                    terminate: None,
                };
                self.lease.acknowledged(&ack, t);
            }
            Msg::Ask { m, round } => {
                if !self.member_down(m, t) {
                    let silent = self.verdict(m, t);
                    self.send(t, Msg::Verdict { m, round, silent });
                }
            }
            Msg::Verdict { round, silent, .. } => {
                let leader_alive = |s: &Sim, l: usize| s.leader(t) == l && !s.member_down(l, t);
                let Some(r) = self.round.as_mut() else { return };
                let (l, fresh) = (r.leader, t < r.started + ASK_TIMEOUT);
                if r.id != round || !fresh || !leader_alive(self, l) {
                    return;
                }
                let r = self.round.as_mut().expect("checked");
                if silent {
                    r.tally.silent += 1;
                }
                if r.tally.is_down() && out.down_at.is_none() {
                    out.down_at = Some(t);
                }
            }
        }
    }
}

fn windows(rng: &mut Rng, n: usize, horizon: u64, max_len: u64) -> Vec<Window> {
    (0..n)
        .map(|_| {
            let from = rng.below(horizon);
            Window {
                from,
                to: from + 1 + rng.below(max_len),
            }
        })
        .collect()
}

fn profile(fast: bool, members: usize, max_delay: u64) -> Profile {
    let (node_timeout, lease, heartbeat) = if fast {
        (600, 300, 50)
    } else {
        (2000, 1000, 200)
    };
    Profile {
        members,
        node_timeout,
        lease,
        heartbeat,
        max_delay,
    }
}

fn cases() -> u32 {
    std::env::var("NONSTOP_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

const HORIZON: u64 = 8000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Anything goes: delays up to 1.5 s, cut links, crashed members, a stopped agent, leaders
    /// changing to anyone. A Down verdict never finds a majority's grants still running.
    #[test]
    fn a_node_declared_down_holds_no_majority_of_grants(
        seed in any::<u64>(),
        fast in any::<bool>(),
        members in prop::sample::select(vec![1usize, 3, 5]),
        max_delay in prop::sample::select(vec![0u64, 5, 50, 400, 1500]),
        faults in 0usize..6,
    ) {
        let p = profile(fast, members, max_delay);
        let mut rng = Rng(seed | 1);
        let f = Faults {
            down: (0..members).map(|_| windows(&mut rng, faults / 2, HORIZON, 3000)).collect(),
            cut: (0..members).map(|_| windows(&mut rng, faults, HORIZON, 4000)).collect(),
            deaf: (0..members).map(|_| windows(&mut rng, faults / 2, HORIZON, 4000)).collect(),
            frozen: windows(&mut rng, faults / 2, HORIZON, 4000),
            leaders: (0..faults).map(|_| (rng.below(HORIZON), rng.below(members as u64) as usize)).collect(),
        };
        Sim::new(p, f, seed).run(HORIZON + 3000);
    }

    /// The agent always reaches a majority, promptly; one member at a time crashes (the leader
    /// among them) and leadership moves to a live member. The lease never lapses once held,
    /// and nobody declares the node Down.
    #[test]
    fn with_a_majority_reachable_the_lease_never_lapses(
        seed in any::<u64>(),
        fast in any::<bool>(),
        members in prop::sample::select(vec![3usize, 5]),
        crashes in 0usize..4,
    ) {
        let p = profile(fast, members, 0);
        let p = Profile { max_delay: p.heartbeat / 2, ..p };
        let mut rng = Rng(seed | 1);
        let mut f = Faults {
            down: vec![vec![]; members],
            cut: vec![vec![]; members],
            ..Faults::default()
        };
        // Crashes one after the other, never overlapping; the next leader is a live member.
        let mut t = 500;
        for _ in 0..crashes {
            let m = rng.below(members as u64) as usize;
            let w = Window { from: t, to: t + 500 + rng.below(2500) };
            f.down[m].push(w);
            let next = (m + 1) % members;
            f.leaders.push((w.from + rng.below(1500), next));
            t = w.to + 1 + rng.below(500);
        }
        let out = Sim::new(p, f, seed).run(HORIZON);
        prop_assert!(out.lease_first_held.is_some(), "never held: {out:?}");
        prop_assert_eq!(out.lease_lapsed_at, None, "{:?}", out);
        prop_assert_eq!(out.down_at, None, "{:?}", out);
    }
}

/// A one-way partition: every member hears the agent, none of its acknowledgements arrive. The
/// agent's lease runs out, its heartbeats say so, and the node is declared Down once the last
/// grants (issued all along) have run out the margin: the members stop granting first.
#[test]
fn an_agent_heard_but_never_acknowledged_is_declared_down() {
    let p = profile(true, 3, 5);
    let deaf = vec![Window {
        from: 1000,
        to: 20_000,
    }];
    let f = Faults {
        down: vec![vec![]; 3],
        cut: vec![vec![]; 3],
        deaf: vec![deaf.clone(), deaf.clone(), deaf],
        frozen: vec![],
        leaders: vec![],
    };
    let out = Sim::new(p, f, 7).run(HORIZON);
    let lapsed = out.lease_lapsed_at.expect("the lease ran out");
    assert!((1250..1400).contains(&lapsed), "lapsed at {lapsed}");
    // No sign of life after the lapse, for the timeout (600 ms): the members suspect it; then
    // the last grant runs out the margin (600 ms: lease 300 + margin 300), and the leader's
    // next round of verdicts (it asks every 500 ms at most) finds a majority silent.
    let down = out.down_at.expect("declared Down");
    assert!((2450..3000).contains(&down), "Down at {down}: {out:?}");
}

/// The test can fail: a frozen agent is declared Down, and its grants had run out by then.
#[test]
fn a_frozen_agent_is_declared_down_after_its_grants_ran_out() {
    let p = profile(true, 3, 5);
    let f = Faults {
        down: vec![vec![]; 3],
        cut: vec![vec![]; 3],
        deaf: vec![],
        frozen: vec![Window {
            from: 1000,
            to: 5000,
        }],
        leaders: vec![],
    };
    let out = Sim::new(p, f, 7).run(HORIZON);
    let down = out.down_at.expect("declared Down");
    assert!((1600..2000).contains(&down), "Down at {down}");
    assert!(
        out.lease_first_held.is_some_and(|t| t < 100),
        "held from the first acknowledgements on: {out:?}"
    );
}
