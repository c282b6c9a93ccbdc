//! From a checked environment file to a `cluster.yaml` (`ClusterFile`). docs/tmax.md says how
//! each item maps and what is left out. The mapping, in short:
//!
//! ```text
//!  NODE ──────────▶ node (AUTOBACKUP); its RESTART items are the engine's, not imported
//!  SVRGROUP ──────▶ group: owners = NODENAME, then each BACKUP group's NODENAME in order
//!    BACKUP group ─▶ (no group of its own: it adds its node, and its APPDIR/TMAXDIR as
//!                     node_properties of the original's servers, 3.8.1)
//!    COUSIN/LOAD ──▶ cousin set named after the group that lists it; each other member group
//!                     runs copies `SERVER.GROUP` of that group's servers (3.5.1, 3.8.1)
//!  SERVER ────────▶ `process` resource in its group (CLOPT, MIN, its own restart policy)
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
use super::refs::{Index, copy_name, cousin_originals, cousin_sets, listed, not_called};
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
        originals: cousin_originals(file, &ix),
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
    /// Each server group that is a cousin of a server group declaring COUSIN: that group.
    originals: HashMap<&'f str, &'f Entry>,
}

/// Where a server runs: the group whose APPDIR applies (none for a gateway) and its node.
#[derive(Clone, Copy)]
struct Place<'f> {
    group: Option<&'f Entry>,
    node: Option<&'f Entry>,
}

impl Place<'_> {
    /// The group's APPDIR, or else its node's; an empty one names no folder.
    fn appdir(&self) -> Option<&str> {
        let dir = self.group.and_then(|g| g.text("APPDIR"));
        let dir = dir.or_else(|| self.node.and_then(|n| n.text("APPDIR")));
        dir.map(str::trim).filter(|d| !d.is_empty())
    }

    /// `command`, `cwd` and `env` of `program` run here.
    fn launch(&self, program: &str) -> Properties {
        let mut props = Properties::new();
        let command = match self.appdir() {
            Some(dir) => format!("{}/{program}", dir.trim_end_matches('/')),
            None => program.to_string(),
        };
        props.insert("command".into(), Value::Str(command));
        // An empty APPDIR names no folder: the program runs where the agent does.
        if let Some(dir) = self.appdir() {
            props.insert("cwd".into(), Value::Str(dir.to_string()));
        }
        if let Some(tmaxdir) = self.node.and_then(|n| n.text("TMAXDIR")) {
            let env = vec![format!("TMAXDIR={}", tmaxdir.trim())];
            props.insert("env".into(), Value::List(env));
        }
        props
    }
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

    /// Where the entry runs, then where each of its BACKUP entries does, by node name.
    fn places(
        &self,
        e: &'f Entry,
        pool: &HashMap<&'f str, &'f Entry>,
        group: bool,
    ) -> (Place<'f>, Vec<(String, Place<'f>)>) {
        let place = |x: &'f Entry| Place {
            group: group.then_some(x),
            node: self.node_of(x),
        };
        let backups = e.get("BACKUP").map(listed).unwrap_or_default();
        let others = backups
            .iter()
            .filter_map(|b| pool.get(b.as_str()))
            .filter_map(|b| Some((b.text("NODENAME")?.trim().to_string(), place(b))))
            .collect();
        (place(e), others)
    }

    fn group(&self, g: &'f Entry) -> GroupEntry {
        let (home, backups) = self.places(g, &self.ix.groups, true);
        let own = self.servers_of.get(g.name.as_str()).into_iter().flatten();
        let mut resources: Vec<ResourceEntry> = own
            .map(|s| server(s, s.name.clone(), home, &backups))
            .collect();
        // 3.5.1: a cousin group runs the servers of the group that lists it, from its own APPDIR.
        if let Some(original) = self.originals.get(g.name.as_str()) {
            let theirs = self.servers_of.get(original.name.as_str()).into_iter();
            for s in theirs.flatten() {
                let name = copy_name(&s.name, &g.name);
                resources.push(server(s, name, home, &backups));
            }
        }
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
        let (home, backups) = self.places(gw, &self.ix.gateways, false);
        let mut r = server(gw, gw.name.clone(), home, &backups);
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
        for (e, _, mut names) in cousin_sets(file) {
            // 3.2.3 LOAD = -1: the gateways of a local-only set are not called.
            let left_out = not_called(self.ix, &names);
            names.retain(|n| !left_out.contains(n));
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

/// A SERVER (or GATEWAY) as a `process` resource named `name`, run at `home`; on each BACKUP
/// node whose command, folder or TMAXDIR differ, those differences as `node_properties`
/// (3.8.1: a backup group may redefine its items). Its restarts follow its own RESTART,
/// MAXRSTART and GPERIOD only (3.8.2).
fn server(s: &Entry, name: String, home: Place, backups: &[(String, Place)]) -> ResourceEntry {
    let program = s
        .text("TARGET")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(s.name.trim());
    let mut props = home.launch(program);
    let mut node_properties = std::collections::BTreeMap::new();
    for (node, place) in backups {
        let there: Properties = place
            .launch(program)
            .into_iter()
            .filter(|(k, v)| props.get(k) != Some(v))
            .collect();
        if !there.is_empty() {
            node_properties.insert(node.clone(), there);
        }
    }
    if let Some(clopt) = s.text("CLOPT") {
        let args: Vec<String> = clopt.split_whitespace().map(str::to_string).collect();
        if !args.is_empty() {
            props.insert("args".into(), Value::List(args));
        }
    }
    let min = int(s, "MIN").unwrap_or(1);
    props.insert("instances".into(), Value::Int(min.clamp(1, 1024)));
    let offline = min == 0 || !is_no(Some(s.text("DUMMY").unwrap_or("N")));
    ResourceEntry {
        name,
        type_name: "process".into(),
        properties: props,
        node_properties,
        depends_on: Vec::new(),
        timings: Some(Timings {
            restart: restart_policy(&[s]),
            ..Timings::default()
        }),
        target: offline.then_some(Target::Offline),
    }
}

/// RESTART / MAXRSTART / GPERIOD, each from the nearest level that gives it (3.8.2: a server's
/// or a gateway's own, `DEFAULT:` included), with the SERVER defaults (RESTART Y, MAXRSTART 5, GPERIOD 86400 s). A Tmax server whose restarts run
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
