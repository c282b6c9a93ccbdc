//! The operators' API's enums (proto/proto/cluster.proto) as the words the CLI prints, in one
//! place: the tables and the JSON and YAML shapes show "Up", "Online", "online", "leader",
//! "probe", "LocalFirst", "window 08-17" (docs/cli.md), whatever number carries them. A number
//! this CLI does not know (a newer member's) is shown as `unknown (N)`, never refused: one
//! unknown state must not hide the rest of the answer.

use nonstop_proto::cluster as pb;

/// What a number no word is known for is shown as.
fn unknown(n: i32) -> String {
    format!("unknown ({n})")
}

/// The word for enum number `n` of `E`, as `word` says; `None` (UNSPECIFIED) and numbers `E`
/// does not have are [`unknown`].
fn word<E: TryFrom<i32>>(n: i32, word: impl FnOnce(E) -> Option<&'static str>) -> String {
    match E::try_from(n).ok().and_then(word) {
        Some(w) => w.to_string(),
        None => unknown(n),
    }
}

/// A node's state: Joining, Up, Paused, Down.
pub fn node_state(n: i32) -> String {
    word(n, |s| match s {
        pb::NodeState::Joining => Some("Joining"),
        pb::NodeState::Up => Some("Up"),
        pb::NodeState::Paused => Some("Paused"),
        pb::NodeState::Down => Some("Down"),
        pb::NodeState::Unspecified => None,
    })
}

/// A group's state: Online, Offline, OnlinePending, OfflinePending, Failed, PartialOnline.
pub fn group_state(n: i32) -> String {
    word(n, |s| match s {
        pb::GroupState::Online => Some("Online"),
        pb::GroupState::Offline => Some("Offline"),
        pb::GroupState::OnlinePending => Some("OnlinePending"),
        pb::GroupState::OfflinePending => Some("OfflinePending"),
        pb::GroupState::Failed => Some("Failed"),
        pb::GroupState::PartialOnline => Some("PartialOnline"),
        pb::GroupState::Unspecified => None,
    })
}

/// A resource's state: Offline, OnlinePending, Online, OfflinePending, Failed, Failing.
pub fn resource_state(n: i32) -> String {
    word(n, |s| match s {
        pb::ResourceState::Offline => Some("Offline"),
        pb::ResourceState::OnlinePending => Some("OnlinePending"),
        pb::ResourceState::Online => Some("Online"),
        pb::ResourceState::OfflinePending => Some("OfflinePending"),
        pb::ResourceState::Failed => Some("Failed"),
        pb::ResourceState::Failing => Some("Failing"),
        pb::ResourceState::Unspecified => None,
    })
}

/// The operator's intent: online or offline.
pub fn target(n: i32) -> String {
    word(n, |t| match t {
        pb::Target::Online => Some("online"),
        pb::Target::Offline => Some("offline"),
        pb::Target::Unspecified => None,
    })
}

/// A group's fail-back rule: immediate, never, or `window 08-17` (its hours).
pub fn failback(f: Option<&pb::Failback>) -> String {
    let Some(f) = f else {
        return unknown(0);
    };
    match pb::FailbackMode::try_from(f.mode) {
        Ok(pb::FailbackMode::Immediate) => "immediate".into(),
        Ok(pb::FailbackMode::Never) => "never".into(),
        Ok(pb::FailbackMode::Window) => {
            format!("window {:02}-{:02}", f.window_start, f.window_end)
        }
        Ok(pb::FailbackMode::Unspecified) | Err(_) => unknown(f.mode),
    }
}

/// A controller member's part: leader, voter or learner.
pub fn member_role(n: i32) -> String {
    word(n, |r| match r {
        pb::MemberRole::Leader => Some("leader"),
        pb::MemberRole::Voter => Some("voter"),
        pb::MemberRole::Learner => Some("learner"),
        pb::MemberRole::Unspecified => None,
    })
}

/// How the leader sends to a member: probe, replicate or snapshot.
pub fn progress_state(n: i32) -> String {
    word(n, |p| match p {
        pb::ProgressState::Probe => Some("probe"),
        pb::ProgressState::Replicate => Some("replicate"),
        pb::ProgressState::Snapshot => Some("snapshot"),
        pb::ProgressState::Unspecified => None,
    })
}

/// The LOAD rule that chose a resolution's routes: Single, LocalOnly, LocalFirst, Standby,
/// LeastLoaded, Weighted.
pub fn resolution_mode(n: i32) -> String {
    word(n, |m| match m {
        pb::ResolutionMode::Single => Some("Single"),
        pb::ResolutionMode::LocalOnly => Some("LocalOnly"),
        pb::ResolutionMode::LocalFirst => Some("LocalFirst"),
        pb::ResolutionMode::Standby => Some("Standby"),
        pb::ResolutionMode::LeastLoaded => Some("LeastLoaded"),
        pb::ResolutionMode::Weighted => Some("Weighted"),
        pb::ResolutionMode::Unspecified => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_has_the_word_printed_before_enums_carried_it() {
        let all = |f: fn(i32) -> String, n: i32| (1..=n).map(f).collect::<Vec<_>>().join(" ");
        assert_eq!(all(node_state, 4), "Joining Up Paused Down");
        assert_eq!(
            all(group_state, 6),
            "Online Offline OnlinePending OfflinePending Failed PartialOnline"
        );
        assert_eq!(
            all(resource_state, 6),
            "Offline OnlinePending Online OfflinePending Failed Failing"
        );
        assert_eq!(all(target, 2), "online offline");
        assert_eq!(all(member_role, 3), "leader voter learner");
        assert_eq!(all(progress_state, 3), "probe replicate snapshot");
        assert_eq!(
            all(resolution_mode, 6),
            "Single LocalOnly LocalFirst Standby LeastLoaded Weighted"
        );
        let fb = |mode: pb::FailbackMode, window_start, window_end| {
            failback(Some(&pb::Failback {
                mode: mode as i32,
                window_start,
                window_end,
            }))
        };
        assert_eq!(fb(pb::FailbackMode::Immediate, 0, 0), "immediate");
        assert_eq!(fb(pb::FailbackMode::Never, 0, 0), "never");
        assert_eq!(fb(pb::FailbackMode::Window, 8, 17), "window 08-17");
    }

    #[test]
    fn a_number_without_a_word_is_shown_not_refused() {
        assert_eq!(node_state(0), "unknown (0)");
        assert_eq!(group_state(99), "unknown (99)");
        assert_eq!(failback(None), "unknown (0)");
    }
}
