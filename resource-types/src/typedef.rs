//! A resource type as the cluster database stores it: which handler runs it, its property
//! schema and its default timings.

use serde::{Deserialize, Serialize};

use crate::schema::{PropertyError, Schema};
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
}

impl TypeDef {
    /// Checks the schema and the name.
    pub fn check(&self) -> Result<(), Vec<PropertyError>> {
        self.schema.check()
    }
}
