//! How the agent finds the handler for a resource's type without knowing the registry: the
//! [`HandlerSource`] trait (the resource-types registry implements it), and [`HandlerMap`], a
//! plain map by type name.

use std::collections::BTreeMap;
use std::sync::Arc;

use nonstop_contract::{HandlerRef, TypeDef};
use nonstop_resource_types::{Registry, ResourceHandler};

/// Gives the handler for a type.
pub trait HandlerSource: Send + Sync + 'static {
    /// The handler for type `type_name` run by `handler`; `None` when this node has none.
    fn handler(&self, type_name: &str, handler: &HandlerRef) -> Option<Arc<dyn ResourceHandler>>;

    /// The type names this source can run (sent at registration).
    fn type_names(&self) -> Vec<String>;

    /// Learns the definitions of types the cluster's configuration defines (they come with the
    /// desired state). A source that only knows fixed handlers ignores them.
    fn learn(&self, _types: &[TypeDef]) {}
}

/// The resource-types registry as the agent's source: built-ins, plug-ins, OCF agents, and the
/// types the desired state brings.
impl HandlerSource for Registry {
    fn handler(&self, type_name: &str, handler: &HandlerRef) -> Option<Arc<dyn ResourceHandler>> {
        match self.handler_now(type_name, handler) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(%type_name, "{e}");
                None
            }
        }
    }

    fn type_names(&self) -> Vec<String> {
        Registry::type_names(self)
    }

    fn learn(&self, types: &[TypeDef]) {
        for t in types {
            if let Err(e) = self.register(t.clone()) {
                tracing::warn!(type_name = %t.name, "cannot run this type here: {e}");
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_contract::builtin::process;
    use nonstop_contract::{PropertyKind, PropertySpec};
    use nonstop_resource_types::RegistryConfig;

    #[test]
    fn the_registry_learns_types_from_the_desired_state() {
        let reg = Registry::new(RegistryConfig::default());
        let ext = HandlerRef::Builtin("process".into());
        let mut chat = process();
        chat.name = "chat-server".into();
        chat.schema
            .properties
            .push(PropertySpec::new("MaxUser", PropertyKind::Int).range(Some(1), Some(10)));
        let before = HandlerSource::handler(&reg, "chat-server", &ext)
            .map(|h| h.def().schema.get("MaxUser").is_some());
        assert_ne!(before, Some(true), "not known before");
        reg.learn(&[chat]);
        let h = HandlerSource::handler(&reg, "chat-server", &ext).expect("known after learning");
        assert!(h.def().schema.get("MaxUser").is_some());
    }
}
