//! The decision for one group (see the diagram in `policy`).

use nonstop_contract::{Millis, RestartMode};

use crate::db::model::{Group, Liveness, PlaceReason, Target};
use crate::db::{ClusterDb, Op};
use crate::time::Time;

/// The one thing to do about `g` now, if anything.
pub(super) fn decide(db: &ClusterDb, g: &Group, now: Time) -> Option<Op> {
    if g.held.is_some() {
        return None;
    }
    if g.moving.is_some() {
        return finish_move(db, g, now);
    }
    let Some(owner) = g.owner.as_deref() else {
        return first_place(db, g, now);
    };
    let node = db.nodes.get(owner);
    if node.is_none_or(|n| n.liveness == Liveness::Down) {
        return fail_over_from_down(db, g, now);
    }
    if db.group_gave_up(g) {
        return fail_over_from_failure(db, g, owner, now);
    }
    if !node.is_some_and(|n| n.can_host()) || g.rank(owner).is_none() {
        return move_away(db, g, owner, now);
    }
    fail_back(db, g, owner, now)
}

fn name(g: &Group) -> String {
    g.spec.name.clone()
}

fn place(g: &Group, node: Option<&str>, reason: PlaceReason) -> Op {
    let reason = if node.is_none() {
        PlaceReason::NoOwner
    } else {
        reason
    };
    Op::Place {
        group: name(g),
        node: node.map(str::to_string),
        reason,
    }
}

/// A move waits until nothing of the group runs on the old owner, then places it: on the node
/// asked for if it can still host it, else on the best owner.
fn finish_move(db: &ClusterDb, g: &Group, now: Time) -> Option<Op> {
    if !db.group_stopped(g, now) {
        return None;
    }
    let m = g.moving.as_ref().expect("checked by the caller");
    let asked =
        m.to.as_deref()
            .filter(|n| db.nodes.get(*n).is_some_and(|x| x.can_host()));
    let dest = asked.or_else(|| db.best_owner(g, now));
    if dest.is_none() && g.owner.is_none() {
        return None;
    }
    Some(place(g, dest, m.reason))
}

/// First placement, or placement after no owner could take the group. At first start a group
/// waits for owners of higher priority that have not been heard from yet, for the startup grace
/// period: otherwise the node that boots first would take every group, only to give it back.
fn first_place(db: &ClusterDb, g: &Group, now: Time) -> Option<Op> {
    if g.target == Target::Offline {
        return None;
    }
    let grace_over = db
        .formed_at
        .is_some_and(|t| now >= t.plus(db.settings.startup_grace));
    for owner in &g.spec.owners {
        if db.may_take(g, owner, now) {
            return Some(place(g, Some(owner), PlaceReason::Start));
        }
        let joining = db
            .nodes
            .get(owner)
            .is_some_and(|n| n.liveness == Liveness::Joining);
        if !g.started && joining && !grace_over {
            return None;
        }
    }
    None
}

fn limit_reached(g: &Group, now: Time) -> Option<Op> {
    let l = g.spec.failover_limit;
    if l.allows_one_more(&g.failovers, now) {
        return None;
    }
    let reason = format!("fail-over limit reached ({} in {})", l.count, l.window);
    Some(Op::HoldGroup {
        group: name(g),
        reason,
    })
}

/// The owner is Down: it fenced itself when its lease ran out, so the group may start elsewhere
/// at once (docs/design.md: node_timeout > lease + terminate + margin), or once the longer stop
/// bound of its slowest resource type has passed too.
fn fail_over_from_down(db: &ClusterDb, g: &Group, now: Time) -> Option<Op> {
    if !db.group_stopped(g, now) {
        return None;
    }
    if g.target == Target::Online
        && let Some(hold) = limit_reached(g, now)
    {
        return Some(hold);
    }
    Some(place(g, db.best_owner(g, now), PlaceReason::NodeDown))
}

/// A resource exhausted its restarts on the owner. Move the group to the next owner if the
/// resource's policy asks for it, the fail-over limit allows, and some other owner can take it;
/// hold it Failed if it cannot move; leave it Failed in place if the policy says `restart`.
fn fail_over_from_failure(db: &ClusterDb, g: &Group, owner: &str, now: Time) -> Option<Op> {
    let wants_failover = db
        .group_resources(&g.spec.name)
        .any(|r| r.gave_up && r.timings.restart.mode != RestartMode::Restart);
    if !wants_failover {
        return None;
    }
    if let Some(hold) = limit_reached(g, now) {
        return Some(hold);
    }
    let next = g
        .spec
        .owners
        .iter()
        .find(|n| n.as_str() != owner && db.may_take(g, n, now));
    match next {
        Some(n) => Some(Op::BeginMove {
            group: name(g),
            to: Some(n.clone()),
            reason: PlaceReason::ResourceFailed,
        }),
        None => Some(Op::HoldGroup {
            group: name(g),
            reason: format!("no other owner can take it after it failed on {owner}"),
        }),
    }
}

/// The owner is up but may no longer host the group (paused, a witness now, or not an owner any
/// more): move it to the best owner. With nowhere to go it keeps running where it is: a drain
/// must not take a service down.
fn move_away(db: &ClusterDb, g: &Group, owner: &str, now: Time) -> Option<Op> {
    let dest = db.best_owner(g, now)?;
    let paused = db.nodes.get(owner).is_some_and(|n| n.paused);
    let reason = if paused {
        PlaceReason::Drain
    } else {
        PlaceReason::Reconfigured
    };
    Some(Op::BeginMove {
        group: name(g),
        to: Some(dest.to_string()),
        reason,
    })
}

/// A higher-priority owner that may take the group is up: go back to it when the fail-back
/// policy allows, unless an operator put the group where it is.
fn fail_back(db: &ClusterDb, g: &Group, owner: &str, now: Time) -> Option<Op> {
    if g.target != Target::Online || g.pinned.as_deref() == Some(owner) {
        return None;
    }
    let best = db.best_owner(g, now)?;
    let better = g.rank(best) < g.rank(owner);
    let hour = now.hour_of_day(db.settings.utc_offset_minutes);
    (better && g.spec.failback.allows(hour)).then(|| Op::BeginMove {
        group: name(g),
        to: Some(best.to_string()),
        reason: PlaceReason::Failback,
    })
}

/// When time alone could change the decision for `g`.
pub(super) fn wakeup(db: &ClusterDb, g: &Group, now: Time) -> Option<Time> {
    let window = g.spec.failover_limit.window;
    let forgets = g.failed_on.values().map(|t| t.plus(window));
    let limit = g.failovers.iter().map(|t| t.plus(window));
    let grace = db.formed_at.map(|t| t.plus(db.settings.startup_grace));
    let next_hour = Time((now.0 / 3_600_000 + 1) * 3_600_000);
    let hourly =
        matches!(g.spec.failback, crate::db::model::Failback::Window { .. }).then_some(next_hour);
    // A group on a Down node waits out its slowest stop bound.
    let stopped = g
        .owner
        .as_deref()
        .and_then(|o| db.nodes.get(o))
        .filter(|n| n.liveness == Liveness::Down)
        .map(|n| n.since.plus(db.stop_wait(g)));
    forgets
        .chain(limit)
        .chain(grace)
        .chain(hourly)
        .chain(stopped)
        .filter(|t| *t > now)
        .min()
        .map(|t| t.max(now.plus(Millis(1))))
}
