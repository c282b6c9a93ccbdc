//! An in-memory resource type (`scripted`) whose behaviour a test sets per resource: online can
//! hang or fail, offline can hang, and the test can kill a resource (pushing the failure) or
//! make it vanish silently (only a check notices). Every call is logged in order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use nonstop_contract::{HandlerRef, Schema, StopBound, Timings, TypeDef};
use nonstop_resource_types::handler::{HandlerError, Result};
use nonstop_resource_types::{
    FailureSink, Footprint, Health, OpenContext, ResourceHandler, ResourceInstance,
};

/// How a scripted resource behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// `online` never returns.
    pub online_hangs: bool,
    /// `online` returns an error.
    pub online_fails: bool,
    /// `offline` never returns.
    pub offline_hangs: bool,
    /// `terminate` never returns (a handler that breaks the contract, or a stop that hangs).
    pub terminate_hangs: bool,
}

#[derive(Debug, Default)]
struct World {
    log: Vec<(String, &'static str)>,
    behaviour: HashMap<String, Behaviour>,
    running: HashSet<String>,
    sinks: HashMap<String, FailureSink>,
}

/// The `scripted` type's handler; clones share one world.
#[derive(Clone, Debug)]
pub struct ScriptedHandler {
    def: Arc<TypeDef>,
    world: Arc<Mutex<World>>,
}

impl Default for ScriptedHandler {
    fn default() -> Self {
        ScriptedHandler::new()
    }
}

impl ScriptedHandler {
    /// A handler for type `scripted` with no properties and default timings.
    pub fn new() -> Self {
        ScriptedHandler {
            def: Arc::new(TypeDef {
                name: "scripted".into(),
                handler: HandlerRef::Builtin("scripted".into()),
                schema: Schema::new(vec![]),
                timings: Timings::default(),
                description: "an in-memory resource for tests".into(),
                stop: StopBound::Forced,
                reconfigures: false,
            }),
            world: Arc::default(),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The same handler (sharing its world) for a type whose stop is bounded by `stop`.
    pub fn with_stop(&self, stop: StopBound) -> Self {
        let mut def = (*self.def).clone();
        def.stop = stop;
        ScriptedHandler {
            def: Arc::new(def),
            world: self.world.clone(),
        }
    }

    /// Sets how `resource` behaves from now on.
    pub fn set(&self, resource: &str, b: Behaviour) {
        self.world().behaviour.insert(resource.into(), b);
    }

    /// Kills `resource`: it stops running and its failure is pushed to the agent.
    pub fn kill(&self, resource: &str) {
        let mut w = self.world();
        w.running.remove(resource);
        if let Some(sink) = w.sinks.get(resource) {
            sink.fail("killed by the test");
        }
    }

    /// Makes `resource` stop running without telling anyone (only a check notices).
    pub fn vanish(&self, resource: &str) {
        self.world().running.remove(resource);
    }

    /// Whether `resource` runs.
    pub fn is_running(&self, resource: &str) -> bool {
        self.world().running.contains(resource)
    }

    /// Every call so far: (resource, entry point).
    pub fn calls(&self) -> Vec<(String, &'static str)> {
        self.world().log.clone()
    }

    /// How many times `entry` was called on `resource`.
    pub fn count(&self, resource: &str, entry: &str) -> usize {
        self.world()
            .log
            .iter()
            .filter(|(r, e)| r == resource && *e == entry)
            .count()
    }
}

#[async_trait]
impl ResourceHandler for ScriptedHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let mut w = self.world();
        w.log.push((ctx.resource.clone(), "open"));
        w.sinks.insert(ctx.resource.clone(), ctx.failures);
        Ok(Box::new(ScriptedInstance {
            name: ctx.resource,
            handler: self.clone(),
            marker: ctx.marker,
        }))
    }
}

#[derive(Debug)]
struct ScriptedInstance {
    name: String,
    handler: ScriptedHandler,
    marker: String,
}

impl ScriptedInstance {
    /// Logs the call and returns the resource's behaviour.
    fn enter(&self, entry: &'static str) -> Behaviour {
        let mut w = self.handler.world();
        w.log.push((self.name.clone(), entry));
        w.behaviour.get(&self.name).copied().unwrap_or_default()
    }

    fn health(&self) -> Health {
        match self.handler.is_running(&self.name) {
            true => Health::Alive,
            false => Health::Dead("not running".into()),
        }
    }
}

#[async_trait]
impl ResourceInstance for ScriptedInstance {
    async fn online(&mut self) -> Result<()> {
        let b = self.enter("online");
        if b.online_hangs {
            futures::future::pending::<()>().await;
        }
        if b.online_fails {
            return Err(HandlerError::Failed {
                entry: "online",
                reason: "scripted to fail".into(),
            });
        }
        self.handler.world().running.insert(self.name.clone());
        Ok(())
    }

    async fn offline(&mut self) -> Result<()> {
        if self.enter("offline").offline_hangs {
            futures::future::pending::<()>().await;
        }
        self.handler.world().running.remove(&self.name);
        Ok(())
    }

    async fn terminate(&mut self) {
        if self.enter("terminate").terminate_hangs {
            futures::future::pending::<()>().await;
        }
        self.handler.world().running.remove(&self.name);
    }

    async fn looks_alive(&mut self) -> Health {
        self.enter("looks_alive");
        self.health()
    }

    async fn is_alive(&mut self) -> Health {
        self.enter("is_alive");
        self.health()
    }

    fn footprint(&self) -> Footprint {
        Footprint::default()
    }

    /// What a start may leave: the marker (nothing carries it, but the agent must record it
    /// before online runs, which tests can see in the state file).
    fn intent(&self) -> Footprint {
        Footprint::marked(&self.marker)
    }

    async fn close(&mut self) {
        self.enter("close");
    }
}
