//! The shape of `cluster.yaml`: what an operator writes. Unknown fields are errors everywhere.
//!
//! ```yaml
//! timing: default            # or fast, or a full profile
//! nodes:
//!   - name: osdb-serv
//!   - name: osdb-back
//! types:
//!   - name: chat-server
//!     base: process          # a built-in or earlier type; or exec: PATH / ocf: heartbeat:Dummy
//!     properties:
//!       - { name: MaxUser, type: int, min: 1, max: 10, default: 10 }
//! groups:
//!   - name: SOCKET_GROUP
//!     owners: [osdb-serv, osdb-back]   # home node first, then BACKUP nodes in order
//!     resources:
//!       - name: chat
//!         type: chat-server
//!         properties: { command: ./chat-server, MaxUser: 10 }
//!         node_properties:                 # values that differ on some owners
//!           osdb-back: { MaxUser: 5 }
//! alerts:                      # run by the leader for events, as Pacemaker runs alert agents
//!   - { name: log, path: /usr/local/bin/alert_file.sh, recipients: [/var/log/nonstop-alerts] }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use nonstop_contract::{Properties, PropertySpec, Timings};

use crate::db::model::{
    AlertSpec, Failback, Fencing, Limit, Load, NodeSpec, Target, TimingProfile,
};
use nonstop_contract::Millis;

/// A whole `cluster.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// The timing profile: `default`, `fast`, or every field spelled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingChoice>,
    /// Offset of local time from UTC in minutes, for fail-back windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i32>,
    /// How long a group waits for its home node at first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_grace: Option<Millis>,
    /// Whether a lost node's groups wait for its fencing: `lease` (default) or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing: Option<Fencing>,
    /// The nodes.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Resource types beyond the built-in ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypeEntry>,
    /// The groups and their resources.
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    /// Cousin sets (Tmax COUSIN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cousins: Vec<CousinEntry>,
    /// The service directory (Tmax SERVICE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceEntry>,
    /// Programs the leader runs for events, with Pacemaker's alert-agent environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertSpec>,
}

/// A named timing profile or a full one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TimingChoice {
    /// `default` or `fast`.
    Named(String),
    /// Every field given.
    Custom(TimingProfile),
}

/// Written by hand rather than `#[serde(untagged)]`, so that a mistake inside a full profile
/// (an unknown field, a bad duration) is reported as itself, at its own line, instead of as
/// "data did not match any variant".
impl<'de> Deserialize<'de> for TimingChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Choice;
        impl<'de> serde::de::Visitor<'de> for Choice {
            type Value = TimingChoice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a profile name (default or fast) or a full timing profile")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<TimingChoice, E> {
                Ok(TimingChoice::Named(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<TimingChoice, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(m);
                TimingProfile::deserialize(d).map(TimingChoice::Custom)
            }
        }
        d.deserialize_any(Choice)
    }
}

/// A resource type defined in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeEntry {
    /// Its name.
    pub name: String,
    /// A type it extends (built-in or defined earlier): same handler, its properties plus these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// An `exec` plug-in: path of the executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<String>,
    /// An OCF agent: `provider:agent` (`heartbeat:Dummy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocf: Option<String>,
    /// One line for `nonstop type list`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Its private properties (added to the base's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertySpec>,
    /// Default timings of its resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// A group with its resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Its name.
    pub name: String,
    /// Home node first, then the BACKUP nodes in order.
    pub owners: Vec<String>,
    /// Fail-back policy (default immediate): `immediate`, `never`, or
    /// `{ window: { start: 22, end: 6 } }` (hours of local time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "failback"
    )]
    pub failback: Option<Failback>,
    /// Fail-over limit (default 10 in 6h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_limit: Option<Limit>,
    /// Online (default) or offline at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Its resources.
    #[serde(default)]
    pub resources: Vec<ResourceEntry>,
}

/// Reads a fail-back policy written as a word, as a one-key map (`{ window: {...} }`), or as
/// the YAML tag (`!window {...}`) that `yaml_serde` writes for it.
fn failback<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Failback>, D::Error> {
    use serde::de::value::{EnumAccessDeserializer, MapAccessDeserializer};
    struct Policy;
    impl<'de> serde::de::Visitor<'de> for Policy {
        type Value = Failback;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("immediate, never, or { window: { start: HOUR, end: HOUR } }")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Failback, E> {
            match s {
                "immediate" => Ok(Failback::Immediate),
                "never" => Ok(Failback::Never),
                _ => Err(E::custom(format!(
                    "unknown fail-back policy {s:?}: use immediate, never or \
                     {{ window: {{ start: HOUR, end: HOUR }} }}"
                ))),
            }
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Failback, A::Error> {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Window {
                window: WindowHours,
            }
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct WindowHours {
                start: u8,
                end: u8,
            }
            let w = Window::deserialize(MapAccessDeserializer::new(m))?;
            Ok(Failback::Window {
                start: w.window.start,
                end: w.window.end,
            })
        }
        fn visit_enum<A: serde::de::EnumAccess<'de>>(self, e: A) -> Result<Failback, A::Error> {
            Failback::deserialize(EnumAccessDeserializer::new(e))
        }
    }
    d.deserialize_any(Policy).map(Some)
}

/// A resource inside a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    /// Its name, unique in the cluster.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Private property values.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// Values that differ on some nodes: `{ NODE: { property: value } }` overrides
    /// `properties` on NODE, which must be an owner of the group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_properties: BTreeMap<String, Properties>,
    /// Resources of the same group it needs online first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Timings (default: its type's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// Online (default) or offline at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

impl ResourceEntry {
    /// The database's spec of this resource, in group `group`.
    pub fn spec(&self, group: &str) -> crate::db::model::ResourceSpec {
        crate::db::model::ResourceSpec {
            name: self.name.clone(),
            group: group.to_string(),
            type_name: self.type_name.clone(),
            properties: self.properties.clone(),
            node_properties: self.node_properties.clone(),
            depends_on: self.depends_on.clone(),
            timings: self.timings,
            target: self.target.unwrap_or_default(),
        }
    }
}

/// A cousin set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CousinEntry {
    /// Its name.
    pub name: String,
    /// Member groups and their LOAD.
    pub members: Vec<CousinMemberEntry>,
}

/// A member of a cousin set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CousinMemberEntry {
    /// The group.
    pub group: String,
    /// Tmax LOAD: -1 local only, -2 local first, -3 standby, 0 least loaded, > 0 weight.
    #[serde(default = "default_load")]
    pub load: Load,
}

fn default_load() -> Load {
    Load::LeastLoaded
}

/// A service directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// The service (Tmax SERVICE name).
    pub name: String,
    /// The group that serves it (and its cousins).
    pub group: String,
}
