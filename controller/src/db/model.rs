//! The records of the cluster database. Each record splits into its `spec` (configuration, what
//! `nonstop apply` changes) and its live part (placement and state, what the cluster changes).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use super::alert::{
    ALERT_TIMEOUT, AlertFault, AlertKind, AlertSpec, DEFAULT_ALERT_TIMEOUT, check_alerts,
};
pub use super::fence::{FenceAction, FenceMethod, FenceOutcome, FenceState, Fencing};
pub use nonstop_contract::ResourceState;
use nonstop_contract::{Millis, MillisRange, Properties, ReportMark, Timings};

use crate::time::Time;

/// Whether an operator wants a group or resource running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Keep it online.
    #[default]
    Online,
    /// Keep it offline.
    Offline,
}

/// A node's liveness as the leader sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Liveness {
    /// Configured, never heard from.
    #[default]
    Joining,
    /// Heartbeating.
    Up,
    /// Silent past `node_timeout`, or evicted.
    Down,
}

/// A node's state as operators see it (Up, Down, Paused, Joining).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeState {
    /// Configured, never heard from.
    Joining,
    /// Up and taking groups.
    Up,
    /// Up, but drained: its groups move away and nothing new lands.
    Paused,
    /// Down.
    Down,
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A node's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Its name (Tmax NODE name, MSCS node name).
    pub name: String,
    /// Where its daemon listens (`host:port`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Tmax AUTOBACKUP: when false, the node takes a group from a failed owner only when an
    /// operator moves it there (it is still the home of its own groups).
    #[serde(default = "yes")]
    pub autobackup: bool,
    /// A witness votes in the controller but runs no resources.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub witness: bool,
    /// How the node is fenced when it is lost (db/fence.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<FenceMethod>,
}

fn yes() -> bool {
    true
}

/// A node: its configuration and liveness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Configuration.
    pub spec: NodeSpec,
    /// Liveness.
    pub liveness: Liveness,
    /// Paused by an operator (kept across Down and Up, as WSFC does).
    pub paused: bool,
    /// Evicted by an operator: Down, and refused when it reports, until resumed.
    pub evicted: bool,
    /// When the liveness last changed.
    pub since: Time,
    /// The last report applied from its agent: a batch sent again is not applied twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<ReportMark>,
    /// Where its fencing stands since it was last declared Down.
    #[serde(default, skip_serializing_if = "FenceState::is_none")]
    pub fence: FenceState,
    /// Its daemon's current run, as its agent registered it (0: none said).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incarnation: u64,
    /// Where its daemon listens, as its agent last registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_address: Option<String>,
    /// Down because its watchdog confirmed that everything its agent had started is stopped
    /// (`Op::NodeStopped`); cleared when its liveness changes again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_confirmed: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Node {
    /// A node as configured, not yet heard from.
    pub fn new(spec: NodeSpec) -> Self {
        Node {
            spec,
            liveness: Liveness::Joining,
            paused: false,
            evicted: false,
            since: Time(0),
            last_report: None,
            fence: FenceState::None,
            incarnation: 0,
            daemon_address: None,
            stop_confirmed: false,
        }
    }

    /// The state operators see.
    pub fn state(&self) -> NodeState {
        match (self.liveness, self.paused) {
            (Liveness::Down, _) => NodeState::Down,
            (_, true) => NodeState::Paused,
            (Liveness::Up, false) => NodeState::Up,
            (Liveness::Joining, false) => NodeState::Joining,
        }
    }

    /// Whether groups may be placed here at all.
    pub fn can_host(&self) -> bool {
        self.state() == NodeState::Up && !self.spec.witness
    }
}

/// When a group returns to a higher-priority owner that comes back. In `cluster.yaml`:
/// `immediate`, `never`, or `{window: {start: 22, end: 6}}` (see `config::file`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failback {
    /// At once (Tmax; nonstop's default).
    #[default]
    Immediate,
    /// Only between these hours of the day (WSFC FailbackWindowStart/End): `start..end`, wrapping
    /// past midnight when `start > end`.
    Window {
        /// First hour (0..24) in which fail-back may happen.
        start: u8,
        /// First hour (0..24) in which it may no longer happen.
        end: u8,
    },
    /// Never: the group stays where it is until an operator moves it.
    Never,
}

impl Failback {
    /// Whether fail-back is allowed at this hour of day.
    pub fn allows(self, hour: u8) -> bool {
        match self {
            Failback::Immediate => true,
            Failback::Never => false,
            Failback::Window { start, end } if start <= end => (start..end).contains(&hour),
            Failback::Window { start, end } => hour >= start || hour < end,
        }
    }
}

/// At most `count` events within a sliding `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// How many.
    pub count: u32,
    /// Within how long.
    pub window: Millis,
}

/// `failover_limit.window`: 1 s (a zero window counts nothing) to 30 days.
pub const FAILOVER_WINDOW: MillisRange = MillisRange::new(Millis(1000), Millis(30 * 86_400_000));

/// `startup_grace`: none (start on a backup at once) to an hour.
pub const STARTUP_GRACE: MillisRange = MillisRange::new(Millis(0), Millis(3_600_000));

/// Every field of a timing profile: 1 ms to 10 minutes. A node declared Down only after hours
/// is no high availability, and the safety rule's sums stay far from overflowing.
pub const PROFILE_FIELD: MillisRange = MillisRange::new(Millis(1), Millis(600_000));

impl Limit {
    /// The number of `times` inside the window ending at `now`.
    pub fn recent(&self, times: &[Time], now: Time) -> u32 {
        let since = now.0.saturating_sub(self.window.0);
        times.iter().filter(|t| t.0 > since && t.0 <= now.0).count() as u32
    }

    /// Whether one more event at `now` stays within the limit.
    pub fn allows_one_more(&self, times: &[Time], now: Time) -> bool {
        self.recent(times, now) < self.count
    }
}

impl Default for Limit {
    /// WSFC's defaults for a group: n-1 fail-overs in 6 hours; nonstop takes 10 in 6 hours.
    fn default() -> Self {
        Limit {
            count: 10,
            window: Millis::secs(6 * 3600),
        }
    }
}

/// A group's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Its name.
    pub name: String,
    /// Owners by priority: the home node first, then the BACKUP nodes in order.
    pub owners: Vec<String>,
    /// Fail-back policy.
    #[serde(default)]
    pub failback: Failback,
    /// Fail-over limit (WSFC FailoverThreshold / FailoverPeriod).
    #[serde(default)]
    pub failover_limit: Limit,
    /// Whether the group should run when the cluster starts (an operator can change it).
    #[serde(default)]
    pub target: Target,
}

/// A move of a group in progress: the old owner takes it offline, then it is placed on `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMove {
    /// The node it goes to; `None` means "the best owner at the time it is placed".
    pub to: Option<String>,
    /// Why.
    pub reason: PlaceReason,
    /// The number the old owner's agent must name when it confirms that every resource of the
    /// group is stopped (`Op::GroupStopped`): handed out when the move began, so that no report
    /// made before it (a resource Failed, a state from an earlier move) can free the group.
    #[serde(default)]
    pub stop: u64,
    /// The old owner confirmed the stop: the group may be placed elsewhere.
    #[serde(default)]
    pub stopped: bool,
}

/// Why a group was placed where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlaceReason {
    /// First start.
    Start,
    /// Its owner went down.
    NodeDown,
    /// A resource exhausted its restarts.
    ResourceFailed,
    /// A higher-priority owner came back.
    Failback,
    /// An operator moved it.
    Operator,
    /// Its owner was paused.
    Drain,
    /// No owner can take it.
    NoOwner,
    /// Its owner can no longer host it (removed from the owner list, made a witness).
    Reconfigured,
}

impl fmt::Display for PlaceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            PlaceReason::Start => "start",
            PlaceReason::NodeDown => "node down",
            PlaceReason::ResourceFailed => "resource failed",
            PlaceReason::Failback => "fail-back",
            PlaceReason::Operator => "operator",
            PlaceReason::Drain => "drain",
            PlaceReason::NoOwner => "no owner",
            PlaceReason::Reconfigured => "reconfigured",
        };
        f.write_str(s)
    }
}

/// A group: configuration, placement and fail-over bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Configuration.
    pub spec: GroupSpec,
    /// Operator intent (starts as `spec.target`).
    pub target: Target,
    /// The node that owns it now.
    pub owner: Option<String>,
    /// The placement epoch of the current owner: increases on every placement.
    pub epoch: u64,
    /// A move in progress.
    pub moving: Option<PendingMove>,
    /// The node an operator moved it to: fail-back leaves it there.
    pub pinned: Option<String>,
    /// Times of fail-overs, for the fail-over limit.
    pub failovers: Vec<Time>,
    /// Nodes where it failed recently, and when: skipped by automatic placement until the
    /// fail-over window passes or an operator clears them.
    pub failed_on: BTreeMap<String, Time>,
    /// Why the group is held Failed (fail-over limit reached); cleared by an operator.
    pub held: Option<String>,
    /// Whether it was ever placed (a group waits for its home node at first start).
    pub started: bool,
    /// The names of its resources, sorted: an index kept by apply.
    pub resources: Vec<String>,
}

impl Group {
    /// A group as configured, not yet placed.
    pub fn new(spec: GroupSpec) -> Self {
        Group {
            target: spec.target,
            spec,
            owner: None,
            epoch: 0,
            moving: None,
            pinned: None,
            failovers: Vec::new(),
            failed_on: BTreeMap::new(),
            held: None,
            started: false,
            resources: Vec::new(),
        }
    }

    /// The priority of `node` in the owner list (0 is home), if it is an owner.
    pub fn rank(&self, node: &str) -> Option<usize> {
        self.spec.owners.iter().position(|n| n == node)
    }
}

/// A group's state, derived from its resources' states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupState {
    /// Every resource online.
    Online,
    /// Nothing running.
    Offline,
    /// Coming online.
    OnlinePending,
    /// Going offline.
    OfflinePending,
    /// A resource failed and the group cannot run.
    Failed,
    /// Some resources online, some offline by intent.
    PartialOnline,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A resource's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Its name, unique in the cluster.
    pub name: String,
    /// The group it belongs to.
    pub group: String,
    /// Its type's name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Private property values, validated against the type's schema.
    #[serde(default)]
    pub properties: Properties,
    /// Per-node overrides of `properties` (Veritas's localized attributes, `Device@sysa`): on
    /// node N the resource runs with `properties` updated by `node_properties[N]`. Every N is
    /// an owner of the resource's group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_properties: BTreeMap<String, Properties>,
    /// Resources (of the same group) that must be online before this one.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Timings; the type's defaults when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// Whether it should run (an operator can change it).
    #[serde(default)]
    pub target: Target,
}

/// A resource: configuration and state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Configuration, with properties in canonical form and defaults filled in.
    pub spec: ResourceSpec,
    /// The timings in force (the spec's, or its type's defaults).
    pub timings: Timings,
    /// Operator intent.
    pub target: Target,
    /// Its state on its group's owner.
    pub state: ResourceState,
    /// When the state last changed.
    pub since: Time,
    /// Times of restarts in place on the current owner (for the restart limit).
    pub restarts: Vec<Time>,
    /// The agent gave up restarting it (limit reached or no-restart policy).
    pub gave_up: bool,
    /// The last message its handler gave, if any.
    pub message: Option<String>,
}

/// Tmax LOAD: how a cousin set member takes requests (3.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum Load {
    /// -1: static routing: clients of a node are served by the member on that node only.
    LocalOnly,
    /// -2: the member on the client's node first, others when it is down.
    LocalFirst,
    /// -3: a standby, routed to only when every other member is down.
    Standby,
    /// 0: the least loaded member.
    LeastLoaded,
    /// > 0: shares in proportion to the weights.
    Weight(u32),
}

impl TryFrom<i64> for Load {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match v {
            -1 => Ok(Load::LocalOnly),
            -2 => Ok(Load::LocalFirst),
            -3 => Ok(Load::Standby),
            0 => Ok(Load::LeastLoaded),
            n if n > 0 && n <= u32::MAX as i64 => Ok(Load::Weight(n as u32)),
            n => Err(format!(
                "LOAD {n} is out of range: use -1, -2, -3, 0 or a positive weight"
            )),
        }
    }
}

impl From<Load> for i64 {
    fn from(l: Load) -> i64 {
        match l {
            Load::LocalOnly => -1,
            Load::LocalFirst => -2,
            Load::Standby => -3,
            Load::LeastLoaded => 0,
            Load::Weight(n) => n as i64,
        }
    }
}

/// One member of a cousin set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CousinMember {
    /// The member group.
    pub group: String,
    /// Its LOAD rule.
    pub load: Load,
}

/// Groups that serve the same services at once on different nodes (Tmax COUSIN).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CousinSet {
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<CousinMember>,
}

/// A service directory entry: service `name` is served by `group` (and its cousins).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's name (Tmax SERVICE).
    pub name: String,
    /// The group whose resources serve it.
    pub group: String,
}

/// The timing profile: heartbeats, leases and timeouts that the safety rule ties together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingProfile {
    /// `default`, `fast` or `custom`.
    pub name: String,
    /// Agent heartbeat interval.
    pub heartbeat: Millis,
    /// Agent lease: from the send time of the last acknowledged heartbeat.
    pub lease: Millis,
    /// Longest a resource's terminate may take when the lease runs out.
    pub terminate: Millis,
    /// Silence after which the leader declares a node Down.
    pub node_timeout: Millis,
    /// Raft heartbeat.
    pub raft_heartbeat: Millis,
    /// Raft election timeout.
    pub raft_election: Millis,
}

impl TimingProfile {
    /// The `default` profile.
    pub fn default_profile() -> Self {
        TimingProfile {
            name: "default".into(),
            heartbeat: Millis(200),
            lease: Millis(1000),
            terminate: Millis(500),
            node_timeout: Millis(2000),
            raft_heartbeat: Millis(100),
            raft_election: Millis(1000),
        }
    }

    /// The `fast` profile.
    pub fn fast() -> Self {
        TimingProfile {
            name: "fast".into(),
            heartbeat: Millis(50),
            lease: Millis(300),
            terminate: Millis(200),
            node_timeout: Millis(600),
            raft_heartbeat: Millis(50),
            raft_election: Millis(500),
        }
    }

    /// A profile by name.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::default_profile()),
            "fast" => Some(Self::fast()),
            _ => None,
        }
    }

    /// The safety rule: `node_timeout > lease + terminate + margin`, where the margin (1/20 of
    /// `node_timeout`) covers clocks that run at slightly different rates; heartbeats must come
    /// several times per lease.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("heartbeat", self.heartbeat),
            ("lease", self.lease),
            ("terminate", self.terminate),
            ("node_timeout", self.node_timeout),
            ("raft_heartbeat", self.raft_heartbeat),
            ("raft_election", self.raft_election),
        ];
        for (field, value) in fields {
            PROFILE_FIELD
                .check(value)
                .map_err(|why| format!("{field} {why}"))?;
        }
        let margin = self.node_timeout.0 / 20;
        let needed = self.lease.0 + self.terminate.0 + margin;
        if self.node_timeout.0 <= needed {
            return Err(format!(
                "node_timeout {} must exceed lease {} + terminate {} + a 5% margin ({}), or a \
                 node cut off from the leader could still be running its groups when they \
                 start elsewhere",
                self.node_timeout,
                self.lease,
                self.terminate,
                Millis(needed)
            ));
        }
        if self.heartbeat.0 == 0 || self.heartbeat.0 * 2 > self.lease.0 {
            return Err(format!(
                "heartbeat {} must be above zero and at most half the lease {}",
                self.heartbeat, self.lease
            ));
        }
        if self.raft_heartbeat.0 == 0 || self.raft_election.0 < self.raft_heartbeat.0 * 3 {
            return Err(format!(
                "raft_election {} must be at least three raft heartbeats ({})",
                self.raft_election, self.raft_heartbeat
            ));
        }
        Ok(())
    }
}

impl Default for TimingProfile {
    fn default() -> Self {
        Self::default_profile()
    }
}

/// Cluster-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Timing profile.
    #[serde(default)]
    pub timing: TimingProfile,
    /// Offset of the cluster's local time from UTC, in minutes (for fail-back windows).
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// At first start, a group waits this long for its home node before starting on a backup.
    #[serde(default = "startup_grace")]
    pub startup_grace: Millis,
    /// Whether a lost node's groups wait for its fencing.
    #[serde(default)]
    pub fencing: Fencing,
    /// The alerts the leader runs for events (`alerts:` in cluster.yaml).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertSpec>,
}

fn startup_grace() -> Millis {
    Millis::secs(30)
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timing: TimingProfile::default(),
            utc_offset_minutes: 0,
            startup_grace: startup_grace(),
            fencing: Fencing::default(),
            alerts: Vec::new(),
        }
    }
}

/// One operator command, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it was applied.
    pub at: Time,
    /// Who asked.
    pub user: String,
    /// What, in one line.
    pub command: String,
}
