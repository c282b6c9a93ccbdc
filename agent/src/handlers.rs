//! How the agent finds the handler for a resource's type without knowing the registry: the
//! [`HandlerSource`] trait (the resource-types registry implements it), and [`HandlerMap`], a
//! plain map by type name.

use std::collections::BTreeMap;
use std::sync::Arc;

use nonstop_resource_types::{HandlerRef, ResourceHandler};

/// Gives the handler for a type.
pub trait HandlerSource: Send + Sync + 'static {
    /// The handler for type `type_name` run by `handler`; `None` when this node has none.
    fn handler(&self, type_name: &str, handler: &HandlerRef) -> Option<Arc<dyn ResourceHandler>>;

    /// The type names this source can run (sent at registration).
    fn type_names(&self) -> Vec<String>;
}

/// Handlers by type name.
#[derive(Clone, Debug, Default)]
pub struct HandlerMap {
    by_type: BTreeMap<String, Arc<dyn ResourceHandler>>,
}

impl HandlerMap {
    /// An empty map.
    pub fn new() -> Self {
        HandlerMap::default()
    }

    /// Adds `handler` under its type's name (replacing any earlier one).
    pub fn with(mut self, handler: Arc<dyn ResourceHandler>) -> Self {
        self.by_type.insert(handler.def().name.clone(), handler);
        self
    }

    /// Adds `handler` under `type_name`.
    pub fn with_name(mut self, type_name: &str, handler: Arc<dyn ResourceHandler>) -> Self {
        self.by_type.insert(type_name.to_string(), handler);
        self
    }
}

impl HandlerSource for HandlerMap {
    fn handler(&self, type_name: &str, _handler: &HandlerRef) -> Option<Arc<dyn ResourceHandler>> {
        self.by_type.get(type_name).cloned()
    }

    fn type_names(&self) -> Vec<String> {
        self.by_type.keys().cloned().collect()
    }
}
