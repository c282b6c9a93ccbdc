//! `node.yaml`: how one node's daemon runs: its name, data directory, listen address, and its
//! roles (controller member, agent, witness).
//!
//! ```yaml
//! node: osdb-serv
//! data_dir: .nonstop/osdb-serv
//! tls: {dir: tls}                  # this node's identity: ca.pem, cert.pem, key.pem
//! listen: 198.18.0.1:7701
//! controller:                      # a controller member (a raft voter)
//!   id: 1
//!   members: {1: 198.18.0.1:7701, 2: 198.18.0.2:7701, 3: 198.18.0.3:7701}
//!   cluster: cluster.yaml          # applied by the first leader of a new cluster
//! agent:                           # runs resources (leave out on a witness)
//!   plugin_dirs: [plugins]
//!   hardware_watchdog: /dev/watchdog   # optional: fed by the watchdog process
//! timing: default                  # raft ticks: default (100 ms / 1 s) or fast (50 / 500 ms)
//! ```
//!
//! Without `tls`, the node must say `insecure: true`: plain gRPC, nobody authenticated, and
//! every address (listen, members, controllers) on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A node's daemon configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's name in the cluster.
    pub node: String,
    /// Where the raft log, the agent's state file and the resources' logs live.
    pub data_dir: PathBuf,
    /// The gRPC address (operators, agents, raft peers).
    pub listen: SocketAddr,
    /// Present on controller members.
    #[serde(default)]
    pub controller: Option<ControllerRole>,
    /// Present on nodes that run resources.
    #[serde(default)]
    pub agent: Option<AgentRole>,
    /// Raft timing profile: `default` or `fast`.
    #[serde(default = "default_timing")]
    pub timing: String,
    /// Mutual TLS on every link, with this node's identity folder.
    #[serde(default)]
    pub tls: Option<TlsRole>,
    /// Plain gRPC on loopback, nobody authenticated: must be said, when there is no `tls`.
    #[serde(default)]
    pub insecure: bool,
    /// How the daemon and its watchdog log: `text` or `json` (daemon/logging.rs).
    #[serde(default)]
    pub log_format: super::logging::LogFormat,
    /// Where to serve Prometheus metrics (`/metrics`) and a health check (`/health`) over
    /// plain HTTP (daemon/metrics.rs); off when absent. Without TLS, loopback only.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Where to serve the web dashboard (daemon/dashboard/): over HTTPS with this node's
    /// certificate when it has `tls`, plain HTTP on loopback otherwise; off when absent.
    #[serde(default)]
    pub dashboard_listen: Option<SocketAddr>,
    /// The file it was read from, absolute (the watchdog reads it again to reach the members).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Where the node's identity is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRole {
    /// The folder `nonstop cert node` wrote: ca.pem, cert.pem, key.pem.
    pub dir: PathBuf,
}

fn default_timing() -> String {
    "default".into()
}

/// The controller-member role.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerRole {
    /// This member's raft id.
    pub id: u64,
    /// Every member's id and gRPC address (this one included).
    pub members: BTreeMap<u64, SocketAddr>,
    /// Whether a new cluster starts with these members (true), or this member waits to be
    /// added (false).
    #[serde(default = "yes")]
    pub bootstrap: bool,
    /// A cluster.yaml the first leader of a new cluster applies.
    #[serde(default)]
    pub cluster: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// The agent role.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRole {
    /// Controller addresses to find the leader through (default: the controller members).
    #[serde(default)]
    pub controllers: Vec<SocketAddr>,
    /// Folders with exec plug-ins (default: /usr/lib/nonstop/plugins; `[]` for none).
    #[serde(default = "default_plugin_dirs")]
    pub plugin_dirs: Vec<PathBuf>,
    /// A hardware watchdog device (`/dev/watchdog`) the node's watchdog process feeds, as
    /// Pacemaker's SBD does: if that process hangs or dies, or what it must stop cannot be
    /// stopped, the device resets the machine (docs/daemon.md). Absolute path; none by default.
    #[serde(default)]
    pub hardware_watchdog: Option<PathBuf>,
    /// Where the OCF agents' meta-data is kept between daemon starts, shared by the daemons of
    /// the machine (default /var/cache/nonstop/ocf-meta-data; `null`: read every agent at
    /// every start).
    #[serde(default = "default_meta_data_cache")]
    pub meta_data_cache: Option<PathBuf>,
}

/// The default of [`AgentRole::meta_data_cache`].
pub const DEFAULT_META_DATA_CACHE: &str = "/var/cache/nonstop/ocf-meta-data";

fn default_meta_data_cache() -> Option<PathBuf> {
    Some(PathBuf::from(DEFAULT_META_DATA_CACHE))
}

fn default_plugin_dirs() -> Vec<PathBuf> {
    nonstop_resource_types::RegistryConfig::default().plugin_dirs
}

impl Default for AgentRole {
    fn default() -> Self {
        AgentRole {
            controllers: Vec::new(),
            plugin_dirs: default_plugin_dirs(),
            hardware_watchdog: None,
            meta_data_cache: default_meta_data_cache(),
        }
    }
}

/// A bad node.yaml.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    /// Unreadable or not YAML of this shape.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What is wrong (with line and column where known).
        message: String,
    },
    /// A field with a bad value.
    #[error("{file}: {field}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The cluster file `controller.cluster` names does not check.
    #[error(
        "{file}: controller.cluster: {cluster} is not a valid cluster file ({} error(s)):\n{}",
        errors.len(),
        errors.join("\n")
    )]
    Cluster {
        /// The node.yaml.
        file: String,
        /// The cluster file.
        cluster: String,
        /// Its errors, each `FILE:LINE:COL: message`.
        errors: Vec<String>,
    },
}

impl NodeConfig {
    /// Reads and checks a node.yaml. Relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Self, NodeConfigError> {
        let file = path.display().to_string();
        let parse = |message: String| NodeConfigError::Parse {
            file: file.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| parse(e.to_string()))?;
        let mut c: NodeConfig = yaml_serde::from_str(&text).map_err(|e| parse(e.to_string()))?;
        c.source = std::path::absolute(path).ok();
        let base = path.parent().unwrap_or(Path::new("."));
        // Without `.` components, so that the files named in messages read plainly.
        c.data_dir = base.join(&c.data_dir).components().collect();
        if let Some(ctl) = c.controller.as_mut() {
            ctl.cluster = ctl.cluster.as_ref().map(|p| base.join(p));
        }
        if let Some(a) = c.agent.as_mut() {
            a.plugin_dirs = a.plugin_dirs.iter().map(|p| base.join(p)).collect();
            a.meta_data_cache = a.meta_data_cache.as_ref().map(|p| base.join(p));
        }
        if let Some(t) = c.tls.as_mut() {
            t.dir = base.join(&t.dir).components().collect();
        }
        let invalid = |(field, reason)| NodeConfigError::Invalid {
            file: file.clone(),
            field,
            reason,
        };
        c.check().map_err(invalid)?;
        c.links().map_err(invalid)?;
        if let Some(cluster) = c.controller.as_ref().and_then(|r| r.cluster.as_ref()) {
            c.check_cluster_file(&file, cluster)?;
        }
        Ok(c)
    }

    /// The cluster file a new cluster starts from must check (otherwise the first leader would
    /// run an empty cluster, saying so only in a log line), and must agree with this node.yaml
    /// about this node: a node without `agent` is a witness there, and the other way round.
    fn check_cluster_file(&self, file: &str, cluster: &Path) -> Result<(), NodeConfigError> {
        use nonstop_controller::config as cluster_config;
        let name = cluster.display().to_string();
        let bad = |errors: Vec<String>| NodeConfigError::Cluster {
            file: file.to_string(),
            cluster: name.clone(),
            errors,
        };
        let text = cluster_config::read(cluster)
            .map_err(|e| bad(e.iter().map(|e| e.to_string()).collect()))?;
        let checked = cluster_config::check(&name, &text)
            .map_err(|e| bad(e.iter().map(|e| e.to_string()).collect()))?;
        let Some(spec) = checked.file.nodes.iter().find(|n| n.name == self.node) else {
            return Ok(());
        };
        let runs_agent = self.agent.is_some();
        if spec.witness == runs_agent {
            let (role, flag) = if runs_agent {
                ("has an agent (it runs resources)", "witness: true")
            } else {
                ("has no agent (a witness)", "witness: false (or nothing)")
            };
            return Err(NodeConfigError::Invalid {
                file: file.to_string(),
                field: "agent",
                reason: format!(
                    "this node {role}, but {name} says {flag} for node {:?}: make them agree",
                    self.node
                ),
            });
        }
        Ok(())
    }

    /// How this node's links go: TLS with its identity (checked: the CA signed it, it names
    /// this node, it covers the addresses this node is reached at), or plain.
    pub fn links(&self) -> Result<nonstop_pki::Links, (&'static str, String)> {
        let Some(t) = &self.tls else {
            return Ok(nonstop_pki::Links::Plain);
        };
        let tls = nonstop_pki::Tls::load(&t.dir).map_err(|e| ("tls.dir", e.to_string()))?;
        let cert = t.dir.join("cert.pem");
        match tls.identity() {
            nonstop_pki::Identity::Node(name) if *name == self.node => {}
            other => {
                let why = format!(
                    "{} names {other}, not node {:?}: make one with `nonstop cert node {}`",
                    cert.display(),
                    self.node,
                    self.node
                );
                return Err(("tls.dir", why));
            }
        }
        let mut reached: Vec<(&'static str, SocketAddr)> = Vec::new();
        if !self.listen.ip().is_unspecified() {
            reached.push(("listen", self.listen));
        }
        if let Some(c) = &self.controller
            && let Some(a) = c.members.get(&c.id)
        {
            reached.push(("controller.members", *a));
        }
        for (field, addr) in reached {
            if !tls.covers(&addr.ip().to_string()) {
                let why = format!(
                    "{addr}: {} does not cover {} (it covers {}): peers would refuse this \
                     node; make a certificate with --address {}",
                    cert.display(),
                    addr.ip(),
                    tls.info().addresses.join(", "),
                    addr.ip()
                );
                return Err((field, why));
            }
        }
        Ok(nonstop_pki::Links::from(tls))
    }

    /// Checks the fields: roles, member list, and (without TLS) loopback-only addresses.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !nonstop_controller::db::is_safe_name(&self.node) {
            let why = format!("{:?}: {}", self.node, nonstop_controller::db::NAME_RULE);
            return Err(("node", why));
        }
        if !["default", "fast"].contains(&self.timing.as_str()) {
            return Err(("timing", format!("{:?}: use default or fast", self.timing)));
        }
        if self.controller.is_none() && self.agent.is_none() {
            return Err((
                "controller",
                "a node needs a role: controller, agent, or both".into(),
            ));
        }
        if let Some(dev) = self
            .agent
            .as_ref()
            .and_then(|a| a.hardware_watchdog.as_ref())
            && !dev.is_absolute()
        {
            return Err((
                "agent.hardware_watchdog",
                format!(
                    "{}: give the device's absolute path (/dev/watchdog)",
                    dev.display()
                ),
            ));
        }
        match (&self.tls, self.insecure) {
            (Some(_), true) => {
                return Err((
                    "insecure",
                    "say either tls or insecure: true, not both".into(),
                ));
            }
            (None, false) => {
                return Err((
                    "tls",
                    "missing: give this node's identity folder (tls: {dir: DIR}, from `nonstop \
                     cert node`), or say insecure: true for plain gRPC on loopback"
                        .into(),
                ));
            }
            _ => {}
        }
        self.loopback_only("listen", self.listen)?;
        if let Some(m) = self.metrics_listen {
            self.loopback_only("metrics_listen", m)?;
            if m == self.listen {
                let why = format!("{m} is the gRPC address (listen): give the metrics their own");
                return Err(("metrics_listen", why));
            }
        }
        if let Some(d) = self.dashboard_listen {
            self.loopback_only("dashboard_listen", d)?;
            // Port 0: any free port, which two listeners can both ask for.
            if d.port() != 0 && (d == self.listen || Some(d) == self.metrics_listen) {
                let why = format!("{d} is taken by listen or metrics_listen: give it its own");
                return Err(("dashboard_listen", why));
            }
        }
        if let Some(c) = &self.controller {
            self.check_controller(c)?;
        }
        if let Some(a) = &self.agent {
            for addr in &a.controllers {
                self.loopback_only("agent.controllers", *addr)?;
            }
            if a.controllers.is_empty() && self.controller.is_none() {
                return Err((
                    "agent.controllers",
                    "an agent-only node must list controller addresses".into(),
                ));
            }
        }
        Ok(())
    }

    fn check_controller(&self, c: &ControllerRole) -> Result<(), (&'static str, String)> {
        if c.id == 0 {
            return Err(("controller.id", "must not be 0".into()));
        }
        match c.members.get(&c.id) {
            Some(a) if *a == self.listen => {}
            Some(a) => {
                let why = format!(
                    "member {} is listed at {a}, but this node listens on {}",
                    c.id, self.listen
                );
                return Err(("controller.members", why));
            }
            None => {
                return Err((
                    "controller.members",
                    format!("must list this member (id {})", c.id),
                ));
            }
        }
        if c.bootstrap && ![1, 3, 5].contains(&c.members.len()) {
            let why = format!(
                "a new cluster starts with 1, 3 or 5 members, not {}",
                c.members.len()
            );
            return Err(("controller.members", why));
        }
        for addr in c.members.values() {
            self.loopback_only("controller.members", *addr)?;
        }
        Ok(())
    }

    /// Where this node's agent looks for the leader.
    pub fn controller_addresses(&self) -> Vec<SocketAddr> {
        match (&self.agent, &self.controller) {
            (Some(a), _) if !a.controllers.is_empty() => a.controllers.clone(),
            (_, Some(c)) => c.members.values().copied().collect(),
            _ => Vec::new(),
        }
    }
}

impl NodeConfig {
    /// Without TLS, the daemon refuses anything but loopback (one rule with `member add`).
    fn loopback_only(
        &self,
        field: &'static str,
        addr: SocketAddr,
    ) -> Result<(), (&'static str, String)> {
        if self.tls.is_some() {
            return Ok(());
        }
        nonstop_controller::server::loopback_only(addr).map_err(|why| (field, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NodeConfig, String> {
        let c: NodeConfig = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        c.check().map_err(|(f, r)| format!("{f}: {r}"))?;
        Ok(c)
    }

    const GOOD: &str = "node: a\ndata_dir: d\ninsecure: true\nlisten: 127.0.0.1:7701\n\
        controller: {id: 1, members: {1: 127.0.0.1:7701, 2: 127.0.0.1:7702, 3: 127.0.0.1:7703}}\n\
        agent: {}\n";

    #[test]
    fn a_three_member_node_is_valid() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.controller_addresses().len(), 3);
    }

    #[test]
    fn bad_fields_are_named() {
        for (bad, want) in [
            (
                GOOD.replace("127.0.0.1:7701\ncontroller", "10.0.0.1:7701\ncontroller"),
                "listen: 10.0.0.1:7701 is not a loopback address",
            ),
            (
                GOOD.replace("id: 1", "id: 4"),
                "controller.members: must list this member (id 4)",
            ),
            (
                GOOD.replace(", 3: 127.0.0.1:7703", ""),
                "controller.members: a new cluster starts with 1, 3 or 5 members, not 2",
            ),
            (
                GOOD.replace("1: 127.0.0.1:7701,", "1: 127.0.0.1:7709,"),
                "member 1 is listed at 127.0.0.1:7709",
            ),
            (
                GOOD.replace("agent: {}\n", "timing: slow\n"),
                "timing: \"slow\": use default or fast",
            ),
            (
                GOOD.replace("node: a", "node: \"..\""),
                "node: \"..\": use 1 to 63 letters, digits",
            ),
            (
                GOOD.replace("agent: {}", "agent: {colour: red}"),
                "unknown field `colour`",
            ),
            (
                "node: a\ndata_dir: d\ninsecure: true\nlisten: 127.0.0.1:1\n".to_string(),
                "a node needs a role",
            ),
            (
                "node: a\ndata_dir: d\ninsecure: true\nlisten: 127.0.0.1:1\nagent: {}\n"
                    .to_string(),
                "an agent-only node must list controller addresses",
            ),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(want), "{err:?} does not contain {want:?}");
        }
    }

    /// Issue 17, item 7: a missing or bad `controller.cluster` used to be a log warning when
    /// the first leader applied it, and the cluster ran empty. Now the daemon refuses to start.
    #[test]
    fn i17_7_the_cluster_file_is_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("node.yaml");
        let with =
            |cluster: &str| GOOD.replace("members: {", &format!("cluster: {cluster}, members: {{"));
        std::fs::write(&node, with("missing.yaml")).unwrap();
        let err = NodeConfig::load(&node).unwrap_err().to_string();
        assert!(
            err.contains("controller.cluster") && err.contains("missing.yaml"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("bad.yaml"),
            "nodes: [{name: a, colour: red}]\n",
        )
        .unwrap();
        std::fs::write(&node, with("bad.yaml")).unwrap();
        let err = NodeConfig::load(&node).unwrap_err().to_string();
        assert!(
            err.contains("bad.yaml:1:") && err.contains("colour"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("w.yaml"),
            "nodes: [{name: a, witness: true}, {name: b}]\n",
        )
        .unwrap();
        std::fs::write(&node, with("w.yaml")).unwrap();
        let err = NodeConfig::load(&node).unwrap_err().to_string();
        assert!(
            err.contains("agent: this node has an agent") && err.contains("witness: true"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("ok.yaml"),
            "nodes: [{name: a}, {name: b}]\n",
        )
        .unwrap();
        std::fs::write(&node, with("ok.yaml")).unwrap();
        NodeConfig::load(&node).unwrap();
    }

    /// With TLS, the node's certificate must name it and cover the addresses it is reached at;
    /// any address may be used then. Without TLS, `insecure: true` must be said.
    #[test]
    fn a_certificate_must_name_the_node_and_cover_its_addresses() {
        use nonstop_pki::{Ca, write_folder};
        let dir = tempfile::tempdir().unwrap();
        let issued = Ca::create(1).unwrap();
        write_folder(&dir.path().join("ca"), &issued.cert_pem, &issued).unwrap();
        let ca = Ca::load(&dir.path().join("ca")).unwrap();
        for (folder, name, address) in [
            ("a-lo", "a", "127.0.0.1"),
            ("a-net", "a", "198.18.0.1"),
            ("b-lo", "b", "127.0.0.1"),
        ] {
            let cert = ca.issue_node(name, &[address.into()], 1).unwrap();
            write_folder(&dir.path().join(folder), ca.cert_pem(), &cert).unwrap();
        }
        let node = dir.path().join("node.yaml");
        let load = |tls: &str, listen: &str| {
            let yaml = GOOD
                .replace("insecure: true", &format!("tls: {{dir: {tls}}}"))
                .replace("127.0.0.1:7701", listen);
            std::fs::write(&node, yaml).unwrap();
            NodeConfig::load(&node).map_err(|e| e.to_string())
        };
        let c = load("a-lo", "127.0.0.1:7701").unwrap();
        assert!(c.links().unwrap().is_tls());
        load("a-net", "198.18.0.1:7701").unwrap();
        let err = load("a-lo", "198.18.0.1:7701").unwrap_err();
        assert!(
            err.contains("listen: 198.18.0.1:7701:") && err.contains("does not cover 198.18.0.1"),
            "{err}"
        );
        let err = load("b-lo", "127.0.0.1:7701").unwrap_err();
        assert!(
            err.contains("tls.dir:") && err.contains("names node b, not node \"a\""),
            "{err}"
        );
        let err = load("missing", "127.0.0.1:7701").unwrap_err();
        assert!(err.contains("tls.dir:") && err.contains("ca.pem"), "{err}");
        let both = GOOD.replace("insecure: true", "insecure: true\ntls: {dir: a-lo}");
        std::fs::write(&node, both).unwrap();
        let err = NodeConfig::load(&node).unwrap_err().to_string();
        assert!(
            err.contains("insecure: say either tls or insecure"),
            "{err}"
        );
        std::fs::write(&node, GOOD.replace("insecure: true\n", "")).unwrap();
        let err = NodeConfig::load(&node).unwrap_err().to_string();
        assert!(err.contains("tls: missing"), "{err}");
    }

    #[test]
    fn a_hardware_watchdog_is_an_absolute_device_path() {
        let c =
            parse(&GOOD.replace("agent: {}", "agent: {hardware_watchdog: /dev/watchdog}")).unwrap();
        assert_eq!(
            c.agent.unwrap().hardware_watchdog,
            Some(PathBuf::from("/dev/watchdog"))
        );
        assert_eq!(parse(GOOD).unwrap().agent.unwrap().hardware_watchdog, None);
        let err =
            parse(&GOOD.replace("agent: {}", "agent: {hardware_watchdog: watchdog}")).unwrap_err();
        assert!(
            err.starts_with("agent.hardware_watchdog: watchdog: give the device's absolute path"),
            "{err}"
        );
    }

    #[test]
    fn the_plug_in_folders_default_to_the_documented_one() {
        let c = parse(GOOD).unwrap();
        let dirs = c.agent.unwrap().plugin_dirs;
        assert_eq!(dirs, vec![PathBuf::from("/usr/lib/nonstop/plugins")]);
        let c = parse(&GOOD.replace("agent: {}", "agent: {plugin_dirs: []}")).unwrap();
        assert!(c.agent.unwrap().plugin_dirs.is_empty());
    }

    #[test]
    fn the_meta_data_cache_defaults_to_the_machine_s_and_can_be_turned_off() {
        let cache = |yaml: &str| parse(yaml).unwrap().agent.unwrap().meta_data_cache;
        assert_eq!(cache(GOOD), Some(PathBuf::from(DEFAULT_META_DATA_CACHE)));
        let off = GOOD.replace("agent: {}", "agent: {meta_data_cache: null}");
        assert_eq!(cache(&off), None);
        // A relative folder is the node.yaml's neighbour.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.yaml");
        let yaml = GOOD.replace("agent: {}", "agent: {meta_data_cache: cache}");
        std::fs::write(&file, yaml).unwrap();
        let c = NodeConfig::load(&file).unwrap();
        assert_eq!(
            c.agent.unwrap().meta_data_cache,
            Some(dir.path().join("cache"))
        );
    }
}
