//! What the agent does, as events for whoever watches it locally (tests, `nonstop` status
//! output). Resource transitions are reports, not events: see [`crate::report`].

/// Something the agent did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentEvent {
    /// Leftovers of a previous run were cleaned up (resource names), before registering.
    LeftoversCleaned(Vec<String>),
    /// The leader accepted the registration.
    Registered,
    /// The lease was granted or regained.
    LeaseRegained,
    /// The lease ran out: every resource is being terminated.
    LeaseLost,
    /// A group terminated its resources because the lease ran out.
    Fenced {
        /// The group.
        group: String,
        /// How many resources it terminated.
        terminated: usize,
    },
    /// A group's desired state was ignored: older than the epoch already seen (or, for a group
    /// that left, not newer), or it arrived while the lease was out.
    DesiredIgnored {
        /// The group.
        group: String,
        /// The epoch that came.
        epoch: u64,
        /// The epoch already seen.
        seen: u64,
    },
    /// A group follows a new desired state.
    DesiredApplied {
        /// The group.
        group: String,
        /// Its epoch.
        epoch: u64,
    },
    /// A desired state for another node was ignored.
    WrongNode(String),
    /// A desired state that could not be right was refused (the agent keeps following the one
    /// it had): the field, and why.
    DesiredRefused {
        /// The field's path in the message (`groups[0].resources[1].timings.restart.mode`).
        field: String,
        /// Why it cannot be right.
        reason: String,
    },
}
