//! From a checked environment file to a `cluster.yaml` (`ClusterFile`). docs/tmax.md says how
//! each item maps and what is left out. The mapping, in short:
//!
//! ```text
//!  NODE ──────────▶ node (AUTOBACKUP); RESTART/MAXRSTART/GPERIOD inherited by its servers
//!  SVRGROUP ──────▶ group: owners = NODENAME, then each BACKUP group's NODENAME in order
//!    BACKUP group ─▶ (no group of its own: it only adds its node, 3.8.1)
//!    COUSIN/LOAD ──▶ cousin set named after the group that lists it
//!  SERVER ────────▶ `process` resource in its group (CLOPT, MIN, restart policy)
//!  SERVICE ───────▶ services entry: the group of its server (or gateway)
//!  GATEWAY ───────▶ group of its own with one `tmax-gateway` resource, owners from BACKUP
//! ```

use std::collections::{HashMap, HashSet};

use nonstop_contract::{
    Millis, Properties, PropertyKind, PropertySpec, RestartMode, RestartPolicy, Timings, Value,
};
use nonstop_controller::config::file::{
    ClusterFile, CousinEntry, CousinMemberEntry, GroupEntry, ResourceEntry, ServiceEntry, TypeEntry,
};
use nonstop_controller::db::model::{Load, NodeSpec, Target};

use super::model::{Entry, EnvFile, SectionKind};
use super::refs::{Index, listed};
use nonstop_contract::timing::RESTART_WINDOW;

/// The type nonstop gives Tmax gateways: a `process` with the gateway's address items.
pub const GATEWAY_TYPE: &str = "tmax-gateway";

/// 3.8.2: "MAXRSTART의 기본값은 5이다" (SERVER).
const DEFAULT_MAXRSTART: i64 = 5;
/// 3.8.2: GPERIOD "기본값 : 86400 (24시간)".
const DEFAULT_GPERIOD: u64 = 86_400;
/// 3.5.1: LOAD "기본값 : 1".
const DEFAULT_LOAD: i64 = 1;

/// Builds the cluster file. The input must have passed `check` without errors; on anything
/// else it still returns (never panics), leaving out what it cannot map.
pub fn import(file: &EnvFile) -> ClusterFile {
    let ix = Index::new(file);
    let backups = ix.backups();
    let cx = Context {
        ix: &ix,
        backups: &backups,
        servers_of: servers_by_group(file),
    };
    let mut out = ClusterFile {
        nodes: file.entries(SectionKind::Node).map(node).collect(),
        ..ClusterFile::default()
    };
    for g in file.entries(SectionKind::SvrGroup) {
        if !backups.contains(g.name.as_str()) {
            out.groups.push(cx.group(g));
        }
    }
    for gw in file.entries(SectionKind::Gateway) {
        if !backups.contains(gw.name.as_str()) {
            out.groups.push(cx.gateway(gw));
        }
    }
    if !ix.gateways.is_empty() {
        out.types.push(gateway_type());
    }
    out.cousins = cx.cousins(file);
    out.services = cx.services(file);
    out
}

struct Context<'a, 'f> {
    ix: &'a Index<'f>,
    backups: &'a HashSet<&'f str>,
    servers_of: HashMap<&'f str, Vec<&'f Entry>>,
}

fn servers_by_group(file: &EnvFile) -> HashMap<&str, Vec<&Entry>> {
    let mut m: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for s in file.entries(SectionKind::Server) {
        if let Some(g) = s.text("SVGNAME") {
            m.entry(g.trim()).or_default().push(s);
        }
    }
    m
}

fn node(e: &Entry) -> NodeSpec {
    NodeSpec {
        name: e.name.clone(),
        autobackup: !is_no(e.text("AUTOBACKUP")),
        ..NodeSpec::default()
    }
}

fn is_no(v: Option<&str>) -> bool {
    v.is_some_and(|t| t.trim().eq_ignore_ascii_case("N"))
}

fn int(e: &Entry, key: &str) -> Option<i64> {
    e.text(key).and_then(|t| t.trim().parse().ok())
}

impl<'f> Context<'_, 'f> {
    fn node_of(&self, e: &Entry) -> Option<&'f Entry> {
        let n = e.text("NODENAME")?.trim();
        self.ix.nodes.get(n).copied()
    }

    /// Home node, then the node of each BACKUP entry in order (3.2.3 multi-backup).
    fn owners(&self, e: &Entry, pool: &HashMap<&'f str, &'f Entry>) -> Vec<String> {
        let mut owners: Vec<String> = e
            .text("NODENAME")
            .map(|n| n.trim().to_string())
            .into_iter()
            .collect();
        for b in e.get("BACKUP").map(listed).unwrap_or_default() {
            let node = pool.get(b.as_str()).and_then(|be| be.text("NODENAME"));
            if let Some(n) = node.map(str::trim)
                && !owners.iter().any(|o| o == n)
            {
                owners.push(n.to_string());
            }
        }
        owners
    }

    fn group(&self, g: &'f Entry) -> GroupEntry {
        let node = self.node_of(g);
        let appdir = g
            .text("APPDIR")
            .or_else(|| node.and_then(|n| n.text("APPDIR")));
        let servers = self
            .servers_of
            .get(g.name.as_str())
            .cloned()
            .unwrap_or_default();
        let resources = servers
            .into_iter()
            .map(|s| server(s, &[s, g], node, appdir))
            .collect();
        GroupEntry {
            name: g.name.clone(),
            owners: self.owners(g, &self.ix.groups),
            failback: None,
            failover_limit: None,
            target: None,
            resources,
        }
    }

    fn gateway(&self, gw: &'f Entry) -> GroupEntry {
        let node = self.node_of(gw);
        let appdir = node.and_then(|n| n.text("APPDIR"));
        let mut r = server(gw, &[gw], node, appdir);
        r.type_name = GATEWAY_TYPE.to_string();
        if let Some(t) = gw.text("GWTYPE") {
            let t = t.trim().to_ascii_uppercase();
            r.properties.insert("gwtype".into(), Value::Str(t));
        }
        if let Some(a) = gw.text("RGWADDR") {
            r.properties
                .insert("rgwaddr".into(), Value::Str(a.trim().into()));
        }
        for (key, prop) in [("PORTNO", "portno"), ("RGWPORTNO", "rgwportno")] {
            if let Some(v) = int(gw, key) {
                r.properties.insert(prop.into(), Value::Int(v));
            }
        }
        GroupEntry {
            name: gw.name.clone(),
            owners: self.owners(gw, &self.ix.gateways),
            failback: None,
            failover_limit: None,
            target: None,
            resources: vec![r],
        }
    }

    /// One cousin set per entry that lists COUSIN: that entry and the ones it names, each with
    /// its LOAD.
    fn cousins(&self, file: &'f EnvFile) -> Vec<CousinEntry> {
        let mut sets = Vec::new();
        let all = file
            .entries(SectionKind::SvrGroup)
            .chain(file.entries(SectionKind::Gateway));
        for e in all {
            let Some(item) = e.get("COUSIN") else {
                continue;
            };
            let mut names = vec![e.name.clone()];
            for c in listed(item) {
                if !names.contains(&c) {
                    names.push(c);
                }
            }
            let members: Vec<CousinMemberEntry> =
                names.iter().filter_map(|n| self.member(n)).collect();
            if members.len() >= 2 {
                sets.push(CousinEntry {
                    name: e.name.clone(),
                    members,
                });
            }
        }
        sets
    }

    fn member(&self, name: &str) -> Option<CousinMemberEntry> {
        let e = self.ix.groups.get(name).or(self.ix.gateways.get(name))?;
        if self.backups.contains(name) {
            return None;
        }
        let load = Load::try_from(int(e, "LOAD").unwrap_or(DEFAULT_LOAD)).ok()?;
        Some(CousinMemberEntry {
            group: name.to_string(),
            load,
        })
    }

    /// A service is served by the group of its server, or by its gateway's group.
    fn services(&self, file: &EnvFile) -> Vec<ServiceEntry> {
        let mut out = Vec::new();
        for s in file.entries(SectionKind::Service) {
            let Some(svr) = s.text("SVRNAME").map(str::trim) else {
                continue;
            };
            let group = match self.ix.servers.get(svr) {
                Some(server) => server.text("SVGNAME").map(str::trim),
                None => self.ix.gateways.get_key_value(svr).map(|(k, _)| *k),
            };
            if let Some(g) = group.filter(|g| !self.backups.contains(g)) {
                out.push(ServiceEntry {
                    name: s.name.clone(),
                    group: g.to_string(),
                });
            }
        }
        out
    }
}

/// A SERVER (or GATEWAY) as a `process` resource. `levels` are the entries whose RESTART,
/// MAXRSTART and GPERIOD apply, nearest first; the node comes last.
fn server(
    s: &Entry,
    levels: &[&Entry],
    node: Option<&Entry>,
    appdir: Option<&str>,
) -> ResourceEntry {
    let mut props = Properties::new();
    let program = s
        .text("TARGET")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(s.name.trim());
    let command = match appdir.map(str::trim).filter(|d| !d.is_empty()) {
        Some(dir) => format!("{}/{program}", dir.trim_end_matches('/')),
        None => program.to_string(),
    };
    props.insert("command".into(), Value::Str(command));
    if let Some(clopt) = s.text("CLOPT") {
        let args: Vec<String> = clopt.split_whitespace().map(str::to_string).collect();
        if !args.is_empty() {
            props.insert("args".into(), Value::List(args));
        }
    }
    // An empty APPDIR names no folder: the program runs where the agent does.
    if let Some(dir) = appdir.map(str::trim).filter(|d| !d.is_empty()) {
        props.insert("cwd".into(), Value::Str(dir.to_string()));
    }
    if let Some(tmaxdir) = node.and_then(|n| n.text("TMAXDIR")) {
        let env = vec![format!("TMAXDIR={}", tmaxdir.trim())];
        props.insert("env".into(), Value::List(env));
    }
    let min = int(s, "MIN").unwrap_or(1);
    props.insert("instances".into(), Value::Int(min.clamp(1, 1024)));
    let mut all: Vec<&Entry> = levels.to_vec();
    all.extend(node);
    let offline = min == 0 || !is_no(Some(s.text("DUMMY").unwrap_or("N")));
    ResourceEntry {
        name: s.name.clone(),
        type_name: "process".into(),
        properties: props,
        node_properties: Default::default(),
        depends_on: Vec::new(),
        timings: Some(Timings {
            restart: restart_policy(&all),
            ..Timings::default()
        }),
        target: offline.then_some(Target::Offline),
    }
}

/// RESTART / MAXRSTART / GPERIOD, each from the nearest level that gives it (3.8.2), with the
/// SERVER defaults (RESTART Y, MAXRSTART 5, GPERIOD 86400 s). A Tmax server whose restarts run
/// out stays down; its group fails over only when its node fails (3.8.1), hence `restart`
/// (stay Failed) and not `restart-then-failover`. RESTART = N is a limit of zero.
pub fn restart_policy(levels: &[&Entry]) -> RestartPolicy {
    let first = |key: &str| levels.iter().find_map(|e| e.text(key));
    let restart = !is_no(first("RESTART"));
    let max = first("MAXRSTART")
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(DEFAULT_MAXRSTART);
    let period = first("GPERIOD")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_GPERIOD);
    let limit = match (restart, u32::try_from(max)) {
        (false, _) => Some(0),
        (true, Ok(n)) => Some(n),
        (true, Err(_)) => None,
    };
    RestartPolicy {
        mode: RestartMode::Restart,
        limit,
        // Tmax allows up to MAX_INT seconds; nonstop's window stops at 30 days (NST0039).
        window: Millis::secs(period).min(RESTART_WINDOW.max),
        delay: Millis(0),
    }
}

/// `tmax-gateway`: a `process` that also records where the remote gateway is.
fn gateway_type() -> TypeEntry {
    let s = |n: &str, d: &str| PropertySpec::new(n, PropertyKind::String).describe(d);
    let i = |n: &str, d: &str| {
        PropertySpec::new(n, PropertyKind::Int)
            .range(Some(1), Some(65535))
            .describe(d)
    };
    TypeEntry {
        name: GATEWAY_TYPE.into(),
        base: Some("process".into()),
        exec: None,
        ocf: None,
        description: "a Tmax domain gateway process (GATEWAY section)".into(),
        properties: vec![
            s("gwtype", "GWTYPE: the kind of remote system"),
            i("portno", "PORTNO: the local listen port"),
            s("rgwaddr", "RGWADDR: the remote gateway's address"),
            i("rgwportno", "RGWPORTNO: the remote gateway's port"),
        ],
        timings: None,
    }
}
