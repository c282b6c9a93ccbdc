//! A resource type as the cluster database stores it: which handler runs it, its property
//! schema and its default timings.

use serde::{Deserialize, Serialize};

use crate::millis::Millis;
use crate::schema::{Properties, PropertyError, Schema};
use crate::timing::Timings;

/// Which code runs the resources of a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandlerRef {
    /// A handler compiled into nonstop (`process`, `ip-address`, `tmax-node`).
    Builtin(String),
    /// An `exec` plug-in: an executable called with the entry point's name.
    Exec(String),
    /// An unmodified OCF resource agent.
    Ocf {
        /// The provider folder under /usr/lib/ocf/resource.d (`heartbeat`).
        provider: String,
        /// The agent's file name (`Dummy`).
        agent: String,
    },
}

/// A resource type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDef {
    /// Its name, as resources refer to it (`process`, `chat-server`, `ocf:heartbeat:Dummy`).
    pub name: String,
    /// The handler that runs it.
    pub handler: HandlerRef,
    /// Its private properties.
    pub schema: Schema,
    /// Default timings of its resources.
    pub timings: Timings,
    /// One line for `nonstop type list`.
    #[serde(default)]
    pub description: String,
    /// How long its `terminate` can take (the safety rule waits for it).
    #[serde(default)]
    pub stop: StopBound,
    /// Whether its handler takes property changes without a restart (properties marked
    /// `restart: false`); when not, every change restarts the resource.
    #[serde(default)]
    pub reconfigures: bool,
}

/// How long a resource's `terminate` can take, at most: what the one-node rule must wait for
/// before its group starts elsewhere after its node was lost (docs/design.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopBound {
    /// Its terminate kills processes and removes addresses, which the agent can force at any
    /// moment: it is done within the timing profile's `terminate` budget (what is left then is
    /// killed), which `node_timeout` already covers.
    #[default]
    Forced,
    /// Its terminate runs a program whose effect cannot be forced (a stop script, tmdown): it
    /// may take this long. A group holding such a resource waits that much longer (beyond the
    /// profile's `terminate`) after its node is declared Down before it starts elsewhere.
    Within(Millis),
}

impl StopBound {
    /// The longest a terminate of this kind is given (for `Forced`, a generous bound on killing
    /// and reaping; the agent itself kills at the profile's budget).
    pub fn limit(self) -> std::time::Duration {
        match self {
            StopBound::Forced => std::time::Duration::from_secs(2),
            StopBound::Within(d) => d.as_duration(),
        }
    }

    /// How much longer than the profile's `terminate` budget a stop of this kind can take.
    pub fn beyond(self, budget: Millis) -> Millis {
        match self {
            StopBound::Forced => Millis(0),
            StopBound::Within(d) => Millis(d.0.saturating_sub(budget.0)),
        }
    }
}

impl TypeDef {
    /// The same type, whose terminate may take up to `limit` and cannot be forced.
    pub fn stop_within(mut self, limit: std::time::Duration) -> TypeDef {
        self.stop = StopBound::Within(Millis::from(limit));
        self
    }

    /// The properties whose change from `old` to `new` needs the resource restarted, by name
    /// (empty: the change can be applied in place, through the running instance's
    /// `ResourceInstance::reconfigure` in nonstop-resource-types). A property needs it when its
    /// schema says `restart`, when the type does not reconfigure at all, or when it is one a
    /// built-in's program only reads when it starts (the properties a type adds to `process` or
    /// `tmax-node`, which the program gets in its environment) and nothing tells the program
    /// of the change (`process` with `reload_signal`, see docs/resource-types.md).
    pub fn restart_needed_for(&self, old: &Properties, new: &Properties) -> Vec<String> {
        let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
        names.sort();
        names.dedup();
        let changed = names.into_iter().filter(|k| old.get(*k) != new.get(*k));
        let base = match &self.handler {
            HandlerRef::Builtin(b) => crate::builtin::builtin_types()
                .into_iter()
                .find(|t| &t.name == b),
            _ => None,
        };
        let reloads = base.as_ref().is_some_and(|b| b.name == "process")
            && new.get("reload_signal").is_some();
        changed
            .filter(|k| {
                let spec = self.schema.get(k);
                let added = base.as_ref().is_some_and(|b| b.schema.get(k).is_none());
                !self.reconfigures || spec.is_none_or(|p| p.restart) || (added && !reloads)
            })
            .cloned()
            .collect()
    }

    /// Checks the schema and the name.
    pub fn check(&self) -> Result<(), Vec<PropertyError>> {
        self.schema.check()
    }
}
