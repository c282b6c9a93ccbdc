//! The references between entries: NODENAME, SVGNAME, SVRNAME, ROUTING, TRB, and the rules of
//! COUSIN and BACKUP (manual 3.2.3 "COUSIN으로 설정된 서버 그룹 설정의 검증", "멀티 백업의
//! 설정", 3.2.6, 3.8.1).

use std::collections::{HashMap, HashSet};

use super::diag::{Report, code};
use super::model::{Entry, EnvFile, Item, SectionKind};

/// The entries of a file by name, per section.
#[derive(Debug)]
pub struct Index<'f> {
    /// NODE entries.
    pub nodes: HashMap<&'f str, &'f Entry>,
    /// SVRGROUP entries.
    pub groups: HashMap<&'f str, &'f Entry>,
    /// SERVER entries.
    pub servers: HashMap<&'f str, &'f Entry>,
    /// GATEWAY entries.
    pub gateways: HashMap<&'f str, &'f Entry>,
    /// ROUTING entries.
    pub routings: HashMap<&'f str, &'f Entry>,
}

impl<'f> Index<'f> {
    /// Indexes a file (the first entry wins where a name is defined twice).
    pub fn new(file: &'f EnvFile) -> Self {
        let by_name = |k| {
            let mut m = HashMap::new();
            for e in file.entries(k) {
                m.entry(e.name.as_str()).or_insert(e);
            }
            m
        };
        Index {
            nodes: by_name(SectionKind::Node),
            groups: by_name(SectionKind::SvrGroup),
            servers: by_name(SectionKind::Server),
            gateways: by_name(SectionKind::Gateway),
            routings: by_name(SectionKind::Routing),
        }
    }

    /// Names that some SVRGROUP or GATEWAY lists as its BACKUP: these do not run on their own
    /// (3.8.1).
    pub fn backups(&self) -> HashSet<&'f str> {
        let all = self.groups.values().chain(self.gateways.values());
        all.filter_map(|e| e.get("BACKUP"))
            .flat_map(listed)
            .filter_map(|n| self.canonical(&n))
            .collect()
    }

    fn canonical(&self, n: &str) -> Option<&'f str> {
        let g = self
            .groups
            .get_key_value(n)
            .or(self.gateways.get_key_value(n));
        g.map(|(k, _)| *k)
    }
}

/// The names an item lists.
pub fn listed(i: &Item) -> Vec<String> {
    i.value.names()
}

/// Every cousin set of the file: the SVRGROUP or GATEWAY entry that lists COUSIN, that item,
/// and the members (the entry first, then each name it lists, once).
pub fn cousin_sets(file: &EnvFile) -> Vec<(&Entry, &Item, Vec<String>)> {
    let all = file
        .entries(SectionKind::SvrGroup)
        .chain(file.entries(SectionKind::Gateway));
    let mut sets = Vec::new();
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
        sets.push((e, item, names));
    }
    sets
}

/// The resource name of server `server`'s copy in cousin group `group` (3.5.1). Both are names
/// nonstop accepts, of at most 15 characters: the result is one too.
pub fn copy_name(server: &str, group: &str) -> String {
    format!("{server}.{group}")
}

/// Each server group named in the COUSIN list of a server group, mapped to that group: the
/// original whose servers it runs copies of (3.5.1 "SVRGROUP 복사"). Backups are left out
/// (CFL0309 forbids them there).
pub fn cousin_originals<'f>(file: &'f EnvFile, ix: &Index<'f>) -> HashMap<&'f str, &'f Entry> {
    let backups = ix.backups();
    let mut out = HashMap::new();
    for e in file.entries(SectionKind::SvrGroup) {
        let Some(item) = e.get("COUSIN") else {
            continue;
        };
        for c in listed(item) {
            if let Some((name, _)) = ix.groups.get_key_value(c.as_str())
                && *name != e.name
                && !backups.contains(name)
            {
                out.entry(*name).or_insert(e);
            }
        }
    }
    out
}

/// The gateways of a cousin set (the entry that lists COUSIN first, then its list) that are
/// not called: 3.2.3 LOAD = -1, "COUSIN 에 속해 있는 도메인 게이트웨이는 호출되지 않는다". A
/// set is local-only when a member that is not a standby (-3) has LOAD -1, as nonstop's
/// service resolution reads it (controller/src/policy/service.rs).
pub fn not_called(ix: &Index, names: &[String]) -> Vec<String> {
    let load = |n: &String| {
        let e = ix.groups.get(n.as_str()).or(ix.gateways.get(n.as_str()));
        e.and_then(|e| e.text("LOAD"))
            .and_then(|t| t.trim().parse::<i64>().ok())
    };
    if !names.iter().any(|n| load(n) == Some(-1)) {
        return Vec::new();
    }
    names
        .iter()
        .filter(|n| ix.gateways.contains_key(n.as_str()))
        .cloned()
        .collect()
}

/// Checks every reference of the file.
pub fn check(file: &EnvFile, report: &mut Report) {
    let ix = Index::new(file);
    simple_refs(file, &ix, report);
    for kind in [SectionKind::SvrGroup, SectionKind::Gateway] {
        for e in file.entries(kind) {
            backup_refs(kind, e, &ix, report);
            cousin_refs(kind, e, &ix, report);
        }
    }
    cousin_rules(file, &ix, report);
    clashes(&ix, report);
    copy_clashes(file, &ix, report);
    gateways_not_called(file, &ix, report);
    for e in file.entries(SectionKind::Routing) {
        super::routing::check(e, &ix, report);
    }
    servers_in_backups(file, &ix, report);
}

/// A BACKUP group runs its original's servers (3.8.1: "원본 서버 그룹의 환경을 그대로
/// 따르며"); servers of its own are not imported.
fn servers_in_backups(file: &EnvFile, ix: &Index, report: &mut Report) {
    let backups = ix.backups();
    for s in file.entries(SectionKind::Server) {
        let Some(i) = s.get("SVGNAME") else { continue };
        if backups.contains(i.value.text.trim()) {
            let msg = format!(
                "server {:?} is in BACKUP group {:?}, which runs its original's servers; it is \
                 not imported",
                s.name, i.value.text
            );
            report.warn(i.value.pos, code::SERVER_IN_BACKUP, msg);
        }
    }
}

fn refer(
    e: &Entry,
    key: &str,
    ok: impl Fn(&str) -> bool,
    what: &str,
    c: &str,
    report: &mut Report,
) {
    if let Some(i) = e.get(key)
        && !ok(i.value.text.trim())
    {
        let msg = format!(
            "{:?}: {key} names unknown {what} {:?}",
            e.name, i.value.text
        );
        report.error(i.value.pos, c, msg);
    }
}

fn simple_refs(file: &EnvFile, ix: &Index, report: &mut Report) {
    let node = |n: &str| ix.nodes.contains_key(n);
    for e in file.entries(SectionKind::SvrGroup) {
        refer(e, "NODENAME", node, "node", code::UNKNOWN_NODE, report);
    }
    for e in file.entries(SectionKind::Gateway) {
        refer(e, "NODENAME", node, "node", code::UNKNOWN_NODE, report);
        let gw = |n: &str| ix.gateways.contains_key(n);
        refer(e, "TRB", gw, "gateway", code::UNKNOWN_BACKUP, report);
    }
    for e in file.entries(SectionKind::Node) {
        refer(e, "TRB", node, "node", code::UNKNOWN_NODE, report);
    }
    let group = |n: &str| ix.groups.contains_key(n);
    for e in file.entries(SectionKind::Server) {
        refer(
            e,
            "SVGNAME",
            group,
            "server group",
            code::UNKNOWN_GROUP,
            report,
        );
    }
    let server = |n: &str| ix.servers.contains_key(n) || ix.gateways.contains_key(n);
    let routing = |n: &str| ix.routings.contains_key(n);
    for e in file.entries(SectionKind::Service) {
        let what = "server or gateway";
        refer(e, "SVRNAME", server, what, code::UNKNOWN_SERVER, report);
        refer(
            e,
            "ROUTING",
            routing,
            "routing",
            code::UNKNOWN_ROUTING,
            report,
        );
    }
}

/// BACKUP names groups (gateways in the GATEWAY section), not itself, each on a node that does
/// not already own the original, and a backup has no BACKUP of its own.
fn backup_refs(kind: SectionKind, e: &Entry, ix: &Index, report: &mut Report) {
    let Some(item) = e.get("BACKUP") else { return };
    let (pool, what) = pool(kind, ix);
    let mut owners: Vec<&str> = e.text("NODENAME").map(str::trim).into_iter().collect();
    for b in listed(item) {
        let pos = item.value.pos;
        if b == e.name {
            let msg = format!("{:?}: BACKUP names the {what} itself", e.name);
            report.error(pos, code::SELF_BACKUP, msg);
            continue;
        }
        let Some(be) = pool.get(b.as_str()) else {
            let msg = format!("{:?}: BACKUP names unknown {what} {b:?}", e.name);
            report.error(pos, code::UNKNOWN_BACKUP, msg);
            continue;
        };
        if be.get("BACKUP").is_some() {
            let msg = format!(
                "{:?}: BACKUP {b:?} has a BACKUP of its own; list every backup on the original, \
                 in order (manual 3.2.3 multi-backup)",
                e.name
            );
            report.error(pos, code::BACKUP_CHAIN, msg);
        }
        let node = be.text("NODENAME").map(str::trim).unwrap_or_default();
        if owners.contains(&node) {
            let msg = format!(
                "{:?}: BACKUP {b:?} is on node {node:?}, which already runs {:?} or an earlier \
                 backup of it",
                e.name, e.name
            );
            report.error(pos, code::BACKUP_SAME_NODE, msg);
        }
        owners.push(node);
    }
}

fn pool<'a, 'f>(
    kind: SectionKind,
    ix: &'a Index<'f>,
) -> (&'a HashMap<&'f str, &'f Entry>, &'static str) {
    if kind == SectionKind::Gateway {
        (&ix.gateways, "gateway")
    } else {
        (&ix.groups, "server group")
    }
}

/// COUSIN names server groups or gateways (in SVRGROUP) or gateways only (in GATEWAY, 3.2.6).
fn cousin_refs(kind: SectionKind, e: &Entry, ix: &Index, report: &mut Report) {
    let Some(item) = e.get("COUSIN") else { return };
    let pos = item.value.pos;
    for c in listed(item) {
        if c == e.name {
            let msg = format!("{:?}: COUSIN names the entry itself; ignored", e.name);
            report.warn(pos, code::SELF_COUSIN, msg);
        } else if kind == SectionKind::Gateway && ix.groups.contains_key(c.as_str()) {
            let msg = format!(
                "gateway {:?}: COUSIN {c:?} is a server group; a gateway's COUSIN names \
                 gateways only (manual 3.2.6)",
                e.name
            );
            report.error(pos, code::GATEWAY_COUSIN, msg);
        } else if ix.canonical(&c).is_none() {
            let msg = format!(
                "{:?}: COUSIN names unknown server group or gateway {c:?}",
                e.name
            );
            report.error(pos, code::UNKNOWN_COUSIN, msg);
        }
    }
}

/// CFL0309 and CFL0310 (manual 3.2.3, "COUSIN으로 설정된 서버 그룹 설정의 검증"): a group
/// is in at most one cousin set, and a group in a cousin set is nobody's BACKUP. COUSIN and
/// BACKUP may both be given on one group when they name different groups (3.2.3 COUSIN).
fn cousin_rules(file: &EnvFile, ix: &Index, report: &mut Report) {
    let backups = ix.backups();
    let mut member_of: HashMap<String, String> = HashMap::new();
    for kind in [SectionKind::SvrGroup, SectionKind::Gateway] {
        for e in file.entries(kind) {
            let Some(item) = e.get("COUSIN") else {
                continue;
            };
            let pos = item.value.pos;
            let mut members = vec![e.name.clone()];
            members.extend(listed(item).into_iter().filter(|c| *c != e.name));
            for m in members {
                // A cousin set may hold gateways too: name each for what it is.
                let what = if ix.gateways.contains_key(m.as_str()) {
                    "gateway"
                } else {
                    "server group"
                };
                if backups.contains(m.as_str()) {
                    let msg = format!("{what} {m} is defined as both COUSIN and BACKUP");
                    report.error(pos, code::COUSIN_AND_BACKUP, msg);
                }
                match member_of.get(&m) {
                    Some(set) if *set != e.name => {
                        let msg = format!(
                            "{what} {m} is defined as duplicate COUSIN (already a cousin of \
                             {set})"
                        );
                        report.error(pos, code::DUPLICATE_COUSIN, msg);
                    }
                    _ => {
                        member_of.insert(m, e.name.clone());
                    }
                }
            }
        }
    }
}

/// A gateway becomes a group and a resource of its own: its name must differ from every
/// server group and server.
fn clashes(ix: &Index, report: &mut Report) {
    for (name, gw) in &ix.gateways {
        let other = if ix.groups.contains_key(name) {
            "server group"
        } else if ix.servers.contains_key(name) {
            "server"
        } else {
            continue;
        };
        let msg = format!("gateway {name:?} has the name of a {other}; nonstop needs them apart");
        report.error(gw.pos, code::NAME_CLASH, msg);
    }
}

/// NST0041: the name of a server's copy in a cousin group (`SERVER.GROUP`) is already a
/// server's or a gateway's.
fn copy_clashes(file: &EnvFile, ix: &Index, report: &mut Report) {
    let originals = cousin_originals(file, ix);
    let mut pairs: Vec<(&str, &Entry)> = originals.into_iter().collect();
    pairs.sort_by_key(|(g, _)| *g);
    let mut made: HashMap<String, (&str, &str)> = HashMap::new();
    for (group, original) in pairs {
        let servers = file
            .entries(SectionKind::Server)
            .filter(|s| s.text("SVGNAME").map(str::trim) == Some(original.name.as_str()));
        for s in servers {
            let name = copy_name(&s.name, group);
            let taken = ix
                .servers
                .get(name.as_str())
                .or(ix.gateways.get(name.as_str()));
            if let Some(other) = taken {
                let msg = format!(
                    "{name:?} is the name nonstop gives the copy of server {:?} in cousin group \
                     {group:?} (manual 3.5.1); rename this entry",
                    s.name
                );
                report.error(other.pos, code::COPY_NAME_TAKEN, msg);
            }
            if let Some((s0, g0)) = made.insert(name.clone(), (&s.name, group)) {
                let msg = format!(
                    "{name:?} names both the copy of server {s0:?} in cousin group {g0:?} and \
                     that of {:?} in {group:?}; rename one of them",
                    s.name
                );
                report.error(s.pos, code::COPY_NAME_TAKEN, msg);
            }
        }
    }
}

/// NST0042: gateways in a local-only (LOAD = -1) cousin set are not called (3.2.3); nonstop
/// leaves them out of the set.
fn gateways_not_called(file: &EnvFile, ix: &Index, report: &mut Report) {
    for (e, item, names) in cousin_sets(file) {
        let gws = not_called(ix, &names);
        if gws.is_empty() {
            continue;
        }
        let shown: Vec<String> = gws.iter().map(|g| format!("{g:?}")).collect();
        let (what, are) = if gws.len() == 1 {
            ("gateway", "is")
        } else {
            ("gateways", "are")
        };
        let msg = format!(
            "{what} {} in the cousin set of {:?} {are} not called: with LOAD = -1 (local only) \
             a cousin set's domain gateways are not called (manual 3.2.3); left out of the set",
            shown.join(", "),
            e.name
        );
        report.warn(item.value.pos, code::GATEWAY_NOT_CALLED, msg);
    }
}
