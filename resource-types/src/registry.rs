//! The registry: handlers by type name. Built-in types, `exec` plug-ins found in the configured
//! plug-in directories, OCF agents under `<ocf_root>/resource.d` (named
//! `ocf:<provider>:<agent>`), and types registered from the cluster database (which may extend
//! a built-in). An unknown type is an error naming it, never a panic.

use nonstop_contract::builtin;
use nonstop_contract::typedef::{HandlerRef, TypeDef};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::exec::{self, ExecHandler};
use crate::handler::{HandlerError, ResourceHandler, Result};
use crate::ip_address::IpAddressHandler;
use crate::ocf::{self, OcfHandler};
use crate::process::ProcessHandler;
use crate::tmax_node::TmaxNodeHandler;

/// Where the registry looks for external types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Directories whose executables are `exec` plug-ins (the file name is the type's name).
    pub plugin_dirs: Vec<PathBuf>,
    /// The OCF root (`OCF_ROOT`): agents live in `<root>/resource.d/<provider>/<agent>`.
    pub ocf_root: PathBuf,
    /// Where [`Registry::load_ocf_agents`] keeps the agents' meta-data between runs, shared by
    /// the daemons of the machine ([`ocf::cache`]); none: read every agent every time.
    pub meta_data_cache: Option<PathBuf>,
}

impl Default for RegistryConfig {
    /// `/usr/lib/nonstop/plugins` and Debian's `/usr/lib/ocf`.
    fn default() -> Self {
        RegistryConfig {
            plugin_dirs: vec![PathBuf::from("/usr/lib/nonstop/plugins")],
            ocf_root: PathBuf::from(ocf::DEFAULT_ROOT),
            meta_data_cache: None,
        }
    }
}

/// Where a listed type comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into nonstop.
    Builtin,
    /// Registered from configuration (extends a built-in or names a plug-in).
    Registered,
    /// An `exec` plug-in at this path.
    Exec(PathBuf),
    /// An OCF agent at this path.
    Ocf(PathBuf),
}

/// One entry of [`Registry::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The type's name.
    pub name: String,
    /// Where it comes from.
    pub origin: Origin,
}

/// Handlers by type name. Cheap to share behind an `Arc`; type definitions read from plug-ins
/// (`meta-data`) are cached.
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    defs: Mutex<BTreeMap<String, (TypeDef, Origin)>>,
}

impl Registry {
    /// A registry with the built-in types, looking for plug-ins where `config` says.
    pub fn new(config: RegistryConfig) -> Self {
        let defs = builtin::builtin_types()
            .into_iter()
            .map(|d| (d.name.clone(), (d, Origin::Builtin)))
            .collect();
        Registry {
            config,
            defs: Mutex::new(defs),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (TypeDef, Origin)>> {
        // A panic while holding this lock cannot leave the map half-written (inserts only).
        self.defs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a type from configuration, e.g. `chat-server` extending `process`. Its handler must
    /// exist and its schema must be sound (and keep every property of the built-in it extends).
    pub fn register(&self, def: TypeDef) -> Result<()> {
        def.check().map_err(HandlerError::InvalidProperties)?;
        if let HandlerRef::Builtin(base) = &def.handler {
            let base = builtin_def(base)?;
            crate::extend::check_extends(&def, &base.schema)
                .map_err(HandlerError::InvalidProperties)?;
        }
        self.handler_for(&def)?;
        let mut cached = self.cached();
        // The same definition this node discovered stays discovered (it is what it reports).
        if cached.get(&def.name).is_none_or(|(d, _)| *d != def) {
            cached.insert(def.name.clone(), (def, Origin::Registered));
        }
        Ok(())
    }

    /// The definitions read from this node's OCF agents and `exec` plug-ins (their meta-data)
    /// so far: what the agent reports at registration ([`Registry::load_plugins`],
    /// [`Registry::load_ocf_agents`]).
    pub fn discovered(&self) -> Vec<TypeDef> {
        self.cached()
            .values()
            .filter(|(_, o)| matches!(o, Origin::Exec(_) | Origin::Ocf(_)))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Reads the meta-data of every OCF agent under the OCF root, `parallel` at a time, so
    /// that [`Registry::handler_now`] finds them and the agent reports them; returns the agents
    /// whose meta-data could not be read (they stay usable when `types:` declares them).
    pub async fn load_ocf_agents(&self, parallel: usize) -> Vec<HandlerError> {
        use futures::StreamExt;
        let root = self.config.ocf_root.clone();
        let agents = ocf::find_agents(&root);
        let cache = (self.config.meta_data_cache.clone()).map(ocf::cache::MetaCache::new);
        // Another daemon of this machine filling the cache is waited for; without the lock
        // (a directory that cannot be made, say) every agent is read here.
        let lock = match &cache {
            Some(c) => match c.lock().await {
                Ok(guard) => Some(guard),
                Err(e) => {
                    tracing::warn!(error = %e, "the meta-data cache cannot be used");
                    None
                }
            },
            None => None,
        };
        let cache = cache.filter(|_| lock.is_some());
        let reads = futures::stream::iter(agents.into_iter().map(|(name, path)| {
            let root = root.clone();
            let cache = cache.clone();
            async move {
                let rest = name.strip_prefix("ocf:").unwrap_or_default();
                let read = match parse_ocf_name(&name, rest) {
                    Ok((provider, agent)) => {
                        ocf::read_type_cached(&root, provider, agent, cache.as_ref()).await
                    }
                    Err(e) => Err(e),
                };
                (path, read)
            }
        }))
        .buffer_unordered(parallel.max(1))
        .collect::<Vec<_>>()
        .await;
        drop(lock);
        let mut errors = Vec::new();
        for (path, read) in reads {
            match read {
                Ok(def) => {
                    self.cached()
                        .insert(def.name.clone(), (def, Origin::Ocf(path)));
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Every type it knows or can find: built-in and registered ones, then `exec` plug-ins,
    /// then OCF agents (found by scanning directories; their meta-data is not run).
    pub fn list(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = self
            .cached()
            .iter()
            .filter(|(_, (_, o))| matches!(o, Origin::Builtin | Origin::Registered))
            .map(|(name, (_, origin))| Listed {
                name: name.clone(),
                origin: origin.clone(),
            })
            .collect();
        out.sort_by_key(|l| (l.origin != Origin::Builtin, l.name.clone()));
        for dir in &self.config.plugin_dirs {
            for path in executables(dir) {
                let name = file_name(&path);
                out.push(Listed {
                    name,
                    origin: Origin::Exec(path),
                });
            }
        }
        out.extend(
            ocf::find_agents(&self.config.ocf_root)
                .into_iter()
                .map(|(name, path)| Listed {
                    name,
                    origin: Origin::Ocf(path),
                }),
        );
        out
    }

    /// The definition of type `name`, reading a plug-in's or OCF agent's meta-data if needed.
    pub async fn type_def(&self, name: &str) -> Result<TypeDef> {
        if let Some((def, _)) = self.cached().get(name) {
            return Ok(def.clone());
        }
        let (def, origin) = if let Some(rest) = name.strip_prefix("ocf:") {
            let (provider, agent) = parse_ocf_name(name, rest)?;
            let path = ocf::agent_path(&self.config.ocf_root, provider, agent)?;
            (
                ocf::read_type(&self.config.ocf_root, provider, agent).await?,
                Origin::Ocf(path),
            )
        } else {
            let path = self.find_plugin(name)?;
            (exec::read_type(&path).await?, Origin::Exec(path))
        };
        self.cached()
            .insert(name.to_string(), (def.clone(), origin));
        Ok(def)
    }

    /// Reads the meta-data of every `exec` plug-in in the plug-in directories, so that
    /// [`Registry::handler_now`] finds them; returns the plug-ins that could not be read.
    pub async fn load_plugins(&self) -> Vec<HandlerError> {
        let mut errors = Vec::new();
        for path in self.config.plugin_dirs.iter().flat_map(|d| executables(d)) {
            match exec::read_type(&path).await {
                Ok(def) => {
                    let origin = Origin::Exec(path);
                    self.cached().insert(def.name.clone(), (def, origin));
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// The names of the types known without running anything (built-in, registered, loaded).
    pub fn type_names(&self) -> Vec<String> {
        self.cached().keys().cloned().collect()
    }

    /// [`Registry::handler`] without reading any meta-data (for callers that cannot wait):
    /// only built-in, registered and already loaded types.
    pub fn handler_now(
        &self,
        type_name: &str,
        handler: &HandlerRef,
    ) -> Result<Arc<dyn ResourceHandler>> {
        let known = self.cached().get(type_name).map(|(d, _)| d.clone());
        let def = match (known, handler) {
            (Some(def), _) => def,
            (None, HandlerRef::Builtin(base)) => builtin_def(base)?,
            (None, _) => return Err(HandlerError::UnknownType(type_name.to_string())),
        };
        self.checked_handler(type_name, &def, handler)
    }

    fn checked_handler(
        &self,
        type_name: &str,
        def: &TypeDef,
        handler: &HandlerRef,
    ) -> Result<Arc<dyn ResourceHandler>> {
        if !self.same_handler(&def.handler, handler) {
            let why = format!(
                "configured with handler {handler:?}, but found {:?}",
                def.handler
            );
            return Err(not_found(type_name, why));
        }
        self.handler_for(def)
    }

    /// The handler for a resource of type `type_name` run by `handler` (what the agent gets
    /// in a desired resource): the type's own definition when known (registered, or read from
    /// the plug-in), else the built-in's.
    pub async fn handler(
        &self,
        type_name: &str,
        handler: &HandlerRef,
    ) -> Result<Arc<dyn ResourceHandler>> {
        let def = match (self.type_def(type_name).await, handler) {
            (Ok(def), _) => def,
            (Err(_), HandlerRef::Builtin(base)) => builtin_def(base)?,
            (Err(e), _) => return Err(e),
        };
        self.checked_handler(type_name, &def, handler)
    }

    /// Whether two handler references name the same code (a plug-in by name or by path).
    fn same_handler(&self, a: &HandlerRef, b: &HandlerRef) -> bool {
        match (a, b) {
            (HandlerRef::Exec(x), HandlerRef::Exec(y)) => {
                let real = |p: &str| self.find_plugin(p).map(|p| p.canonicalize().ok());
                x == y || matches!((real(x), real(y)), (Ok(Some(a)), Ok(Some(b))) if a == b)
            }
            _ => a == b,
        }
    }

    /// Builds the handler that runs `def`.
    pub fn handler_for(&self, def: &TypeDef) -> Result<Arc<dyn ResourceHandler>> {
        let d = def.clone();
        Ok(match &def.handler {
            HandlerRef::Builtin(name) => match name.as_str() {
                "process" => Arc::new(ProcessHandler::new(d)),
                "ip-address" => Arc::new(IpAddressHandler::new(d)),
                "tmax-node" => Arc::new(TmaxNodeHandler::new(d)),
                other => return Err(HandlerError::UnknownType(other.to_string())),
            },
            HandlerRef::Exec(program) => Arc::new(ExecHandler::new(d, self.find_plugin(program)?)),
            HandlerRef::Ocf { provider, agent } => {
                let path = ocf::agent_path(&self.config.ocf_root, provider, agent)?;
                Arc::new(OcfHandler::new(d, self.config.ocf_root.clone(), path))
            }
        })
    }

    /// An `exec` plug-in by path, or by name in the plug-in directories.
    fn find_plugin(&self, name: &str) -> Result<PathBuf> {
        let path = Path::new(name);
        if path.is_absolute() && is_executable(path) {
            return Ok(path.to_path_buf());
        }
        if !name.is_empty() && !name.contains('/') {
            let found = self.config.plugin_dirs.iter().map(|d| d.join(name));
            if let Some(p) = found.into_iter().find(|p| is_executable(p)) {
                return Ok(p);
            }
        }
        Err(HandlerError::UnknownType(name.to_string()))
    }
}

/// A type that cannot be found, with the reason (an unknown plain name is
/// [`HandlerError::UnknownType`]).
pub fn not_found(name: &str, why: String) -> HandlerError {
    HandlerError::Io {
        context: format!("resource type {name:?}"),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, why),
    }
}

fn builtin_def(name: &str) -> Result<TypeDef> {
    builtin::builtin_types()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| HandlerError::UnknownType(name.to_string()))
}

fn parse_ocf_name<'a>(full: &str, rest: &'a str) -> Result<(&'a str, &'a str)> {
    match rest.split_once(':') {
        Some((p, a)) if !p.is_empty() && !a.is_empty() => Ok((p, a)),
        _ => Err(not_found(
            full,
            "an OCF type is named ocf:<provider>:<agent>".into(),
        )),
    }
}

/// Executable regular files in `dir`, sorted; a missing directory is empty.
pub fn executables(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_executable(p))
        .collect();
    out.sort();
    out
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
