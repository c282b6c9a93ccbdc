//! `cfl` for nonstop: every entry and item checked against the manual's rules (names, sizes,
//! ranges, choices, mandatory items and sections), then the references between entries
//! (`refs`). Findings go into a [`Report`]; nothing here stops at the first problem.

use std::collections::HashSet;

use super::diag::{Report, code};
use super::items::{self, MAX_INT, NAME_LIMIT, Spec};
use super::lexer::Pos;
use super::model::{Entry, EnvFile, Item, SectionKind};
use super::refs;
use nonstop_contract::timing::RESTART_WINDOW;

/// The five sections every file must have (3.1.1: "반드시 정의되어야 한다").
const MANDATORY: [SectionKind; 5] = [
    SectionKind::Domain,
    SectionKind::Node,
    SectionKind::SvrGroup,
    SectionKind::Server,
    SectionKind::Service,
];

/// nonstop's own limit on `instances` of a `process` resource (Tmax MIN).
const MAX_INSTANCES: i64 = 1024;

/// Checks a parsed file.
pub fn check(file: &EnvFile, report: &mut Report) {
    for kind in MANDATORY {
        if file.entries(kind).next().is_none() {
            let msg = format!(
                "section {} is missing or empty: DOMAIN, NODE, SVRGROUP, SERVER and SERVICE \
                 must be defined (manual 3.1.1)",
                kind.header()
            );
            report.error(Pos { line: 1, column: 1 }, code::MISSING_SECTION, msg);
        }
    }
    for s in &file.sections {
        if items::table(s.kind).is_none() {
            let msg = format!(
                "section {} is read but not checked or imported",
                s.kind.header()
            );
            report.warn(s.pos, code::SECTION_SKIPPED, msg);
        }
    }
    let mut seen: HashSet<(SectionKind, &str)> = HashSet::new();
    for s in &file.sections {
        for e in &s.entries {
            if !seen.insert((s.kind, e.name.as_str())) {
                let msg = format!("{} {:?} is defined twice", s.kind.header(), e.name);
                report.error(e.pos, code::DUPLICATE_NAME, msg);
            }
            entry(s.kind, e, report);
        }
    }
    min_zero(file, report);
    engine_restart(file, report);
    refs::check(file, report);
}

/// The checks of one entry on its own.
fn entry(kind: SectionKind, e: &Entry, report: &mut Report) {
    if items::table(kind).is_none() {
        return;
    }
    name(kind, e, report);
    for (i, item) in e.items.iter().enumerate() {
        let again = e.items[..i]
            .iter()
            .any(|o| o.key == item.key && !item.from_default);
        if again {
            let msg = format!("{:?}: item {} is given twice", e.name, item.key);
            report.error(item.pos, code::REPEATED_ITEM, msg);
        }
        self::item(kind, e, item, report);
    }
    for req in items::required(kind) {
        if e.get(req).is_none() {
            let msg = format!(
                "{} {:?}: mandatory item {req} is missing",
                kind.header(),
                e.name
            );
            report.error(e.pos, code::MISSING_ITEM, msg);
        }
    }
    if kind == SectionKind::Server {
        server(e, report);
    }
    depends(kind, e, report);
}

/// Items another item requires or forbids: 3.2.2 COMPRESSSIZE ("반드시 CompressPort와 함께"),
/// 3.2.3 SVGTYPE = EXTSVG ("OPENINFO 항목도 함께 지정해 주어야"), 3.2.4 SVRTYPE = STD_MT
/// ("반드시 MINTHR, MAXTHR, STACKSIZE, CPC를 함께 설정") and CTX_EREPLY ("UCS 서버 타입에서만
/// 설정할 수 있다").
fn depends(kind: SectionKind, e: &Entry, report: &mut Report) {
    let is = |key: &str, v: &str| {
        e.text(key)
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(v))
    };
    let mut needs = |on: &str, value: &str, wanted: &[&str], why: &str| {
        let Some(at) = e.get(on) else { return };
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|w| e.get(w).is_none())
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "{} {:?}: {on}{value} needs {} ({why})",
                kind.header(),
                e.name,
                missing.join(", ")
            );
            let pos = if value.is_empty() {
                at.pos
            } else {
                at.value.pos
            };
            report.error(pos, code::ITEM_DEPENDS, msg);
        }
    };
    match kind {
        SectionKind::Node => needs("COMPRESSSIZE", "", &["COMPRESSPORT"], "manual 3.2.2"),
        SectionKind::SvrGroup if is("SVGTYPE", "EXTSVG") => {
            needs("SVGTYPE", " = EXTSVG", &["OPENINFO"], "manual 3.2.3");
        }
        SectionKind::Server => {
            if is("SVRTYPE", "STD_MT") {
                let all = ["MINTHR", "MAXTHR", "STACKSIZE", "CPC"];
                needs("SVRTYPE", " = STD_MT", &all, "manual 3.2.4");
            }
            if let Some(i) = e.get("CTX_EREPLY")
                && !is("SVRTYPE", "UCS")
            {
                let t = e.text("SVRTYPE").map_or("STD (the default)", str::trim);
                let msg = format!(
                    "{} {:?}: CTX_EREPLY is for SVRTYPE = UCS only; this server is {t} \
                     (manual 3.2.4)",
                    kind.header(),
                    e.name
                );
                report.error(i.pos, code::ITEM_DEPENDS, msg);
            }
        }
        _ => {}
    }
}

/// Entry names: the manual's 15 characters, and what nonstop accepts as a name.
fn name(kind: SectionKind, e: &Entry, report: &mut Report) {
    let len = e.name.chars().count();
    if len > NAME_LIMIT {
        let msg = format!(
            "{} name {:?} has {len} characters; at most {NAME_LIMIT} are allowed",
            kind.header(),
            e.name
        );
        report.error(e.pos, code::NAME_TOO_LONG, msg);
    }
    let imported = !matches!(kind, SectionKind::Domain | SectionKind::Routing);
    if imported && !nonstop_name(&e.name) {
        let msg = format!(
            "{} name {:?}: nonstop names {}",
            kind.header(),
            e.name,
            nonstop_controller::db::NAME_RULE
        );
        report.error(e.pos, code::BAD_NAME, msg);
    }
}

/// Whether `ClusterDb` accepts `n` as a name (one rule, the database's).
pub fn nonstop_name(n: &str) -> bool {
    nonstop_controller::db::is_safe_name(n)
}

fn item(kind: SectionKind, e: &Entry, item: &Item, report: &mut Report) {
    let Some(spec) = items::spec(kind, &item.key) else {
        let hint = suggestion(kind, &item.key)
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        let msg = format!(
            "{:?}: {} has no item {}{hint}",
            e.name,
            kind.header(),
            item.key
        );
        return report.error(item.pos, code::UNKNOWN_ITEM, msg);
    };
    if let Err((c, why)) = value(spec, &item.value.text) {
        let msg = format!("{:?}: {} = {:?}: {why}", e.name, item.key, item.value.text);
        report.error(item.value.pos, c, msg);
    } else if item.key == "GPERIOD" && matches!(kind, SectionKind::Server | SectionKind::Gateway) {
        gperiod(e, item, report);
    }
    let hyphen = item.key == "NODENAME" && !item.value.quoted && item.value.text.contains('-');
    if hyphen && kind == SectionKind::SvrGroup {
        let msg = format!(
            "{:?}: NODENAME {} contains '-': write it in double quotes (manual 3.2.3)",
            e.name, item.value.text
        );
        report.error(item.value.pos, code::HYPHEN_UNQUOTED, msg);
    }
}

/// A GPERIOD (valid for Tmax) longer than nonstop's longest restart window is imported as that
/// window (`import::restart_policy`).
fn gperiod(e: &Entry, item: &Item, report: &mut Report) {
    let longest = RESTART_WINDOW.max.0 / 1000;
    let Ok(secs) = item.value.text.trim().parse::<u64>() else {
        return;
    };
    if secs > longest {
        let msg = format!(
            "{:?}: GPERIOD = {secs} s is longer than the longest restart window, 30 days \
             ({longest} s): imported as 30 days",
            e.name
        );
        report.warn(item.value.pos, code::LONG_GPERIOD, msg);
    }
}

/// Checks one value against its spec; the error is a code and a reason.
pub fn value(spec: Spec, text: &str) -> Result<(), (&'static str, String)> {
    let t = text.trim();
    match spec {
        Spec::Num(min, max) => range(t.parse::<i64>().ok(), min, max),
        Spec::Octal(min, max) => range(i64::from_str_radix(t, 8).ok(), min, max)
            .map_err(|(c, _)| (c, format!("write an octal mask from {min:o} to {max:o}"))),
        Spec::Name(n) => length(t, n, code::NAME_TOO_LONG),
        // A literal may be empty: the manual writes CLOSEINFO = "" (3.3.2).
        Spec::Text(_) if text.is_empty() => Ok(()),
        Spec::Text(n) => length(text, n, code::TOO_LONG),
        Spec::Names(n) => {
            length(text, n, code::TOO_LONG)?;
            let mut names = text.split(',').map(str::trim).filter(|s| !s.is_empty());
            names.try_for_each(|s| length(s, NAME_LIMIT, code::NAME_TOO_LONG))
        }
        Spec::Yn => choice(t, &["Y", "N"]),
        Spec::Ybn => choice(t, &["Y", "B", "N"]),
        Spec::Choice(c) => choice(t, c),
    }
}

fn range(n: Option<i64>, min: i64, max: i64) -> Result<(), (&'static str, String)> {
    let shown = |v: i64| {
        if v == MAX_INT {
            "MAX_INT".to_string()
        } else {
            v.to_string()
        }
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(()),
        Some(_) => Err((
            code::NUMBER,
            format!("out of range {} ~ {}", shown(min), shown(max)),
        )),
        None => Err((code::NUMBER, "not a whole number".to_string())),
    }
}

fn length(t: &str, max: usize, c: &'static str) -> Result<(), (&'static str, String)> {
    let n = t.chars().count();
    if n == 0 {
        return Err((c, "must not be empty".to_string()));
    }
    if n > max {
        return Err((c, format!("{n} characters, at most {max} are allowed")));
    }
    Ok(())
}

fn choice(t: &str, allowed: &[&str]) -> Result<(), (&'static str, String)> {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(t)) {
        Ok(())
    } else {
        Err((code::CHOICE, format!("use one of {}", allowed.join(", "))))
    }
}

/// SERVER rules across items: MIN within MAX, and what nonstop can run.
fn server(e: &Entry, report: &mut Report) {
    let num = |k: &str| e.text(k).and_then(|t| t.trim().parse::<i64>().ok());
    let Some(min) = num("MIN") else { return };
    let pos = e.get("MIN").map(|i| i.value.pos).unwrap_or(e.pos);
    if let Some(max) = num("MAX").filter(|max| min > *max) {
        let msg = format!("server {:?}: MIN {min} is above MAX {max}", e.name);
        report.error(pos, code::MIN_ABOVE_MAX, msg);
    }
    if min > MAX_INSTANCES {
        let msg = format!(
            "server {:?}: MIN {min}: nonstop runs at most {MAX_INSTANCES} instances of a process",
            e.name
        );
        report.error(pos, code::NUMBER, msg);
    }
}

/// NST0036, once per place that sets MIN = 0: a DEFAULT that gives it to many servers is one
/// warning naming them all, not one per server on the same line.
fn min_zero(file: &EnvFile, report: &mut Report) {
    let mut by_place: Vec<(Pos, Vec<&str>)> = Vec::new();
    for e in file.entries(SectionKind::Server) {
        let Some(item) = e.get("MIN") else { continue };
        if e.text("MIN").and_then(|t| t.trim().parse::<i64>().ok()) == Some(0) {
            let pos = item.value.pos;
            match by_place.iter_mut().find(|(p, _)| *p == pos) {
                Some((_, names)) => names.push(&e.name),
                None => by_place.push((pos, vec![&e.name])),
            }
        }
    }
    for (pos, names) in by_place {
        let msg = match names.as_slice() {
            [one] => format!(
                "server {one:?}: MIN = 0 starts the server on demand in Tmax; nonstop imports \
                 it with one instance, offline"
            ),
            many => format!(
                "servers {}: MIN = 0 (from DEFAULT) starts them on demand in Tmax; nonstop \
                 imports each with one instance, offline",
                many.iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        report.warn(pos, code::MIN_ZERO, msg);
    }
}

/// NST0040, once per place: RESTART, MAXRSTART and GPERIOD on a NODE govern the engine's own
/// CLH, CAS, CLL and TLM, on a SVRGROUP its TMS (or RQ) (3.2.2, 3.2.3, 3.8.2). nonstop runs
/// neither; servers follow the SERVER section's items only, so these are not imported.
fn engine_restart(file: &EnvFile, report: &mut Report) {
    let scopes = [
        (
            SectionKind::Node,
            "node",
            "the engine's CLH, CAS, CLL and TLM processes",
        ),
        (
            SectionKind::SvrGroup,
            "server group",
            "the group's TMS (or RQ) process",
        ),
    ];
    for (kind, what, governs) in scopes {
        let mut by_place: Vec<(Pos, &str, Vec<&str>)> = Vec::new();
        for e in file.entries(kind) {
            let restart = e
                .items
                .iter()
                .filter(|i| matches!(i.key.as_str(), "RESTART" | "MAXRSTART" | "GPERIOD"));
            for i in restart {
                match by_place.iter_mut().find(|(p, _, _)| *p == i.pos) {
                    Some((_, _, names)) => names.push(&e.name),
                    None => by_place.push((i.pos, &i.key, vec![&e.name])),
                }
            }
        }
        for (pos, key, names) in by_place {
            let shown: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            let whose = if names.len() == 1 {
                format!("{what} {}", shown[0])
            } else {
                format!("{what}s {}", shown.join(", "))
            };
            let msg = format!(
                "{whose}: {key} governs {governs} (manual 3.8.2), which nonstop does not run; \
                 not imported (servers restart by the SERVER section's RESTART, MAXRSTART and \
                 GPERIOD)"
            );
            report.warn(pos, code::ENGINE_RESTART, msg);
        }
    }
}

/// The defined item nearest to a misspelt one, when it is close (edit distance at most 2).
fn suggestion(kind: SectionKind, key: &str) -> Option<&'static str> {
    items::table(kind)?
        .iter()
        .map(|(k, _)| (distance(k, key), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_their_spec() {
        assert!(value(Spec::Num(-1, MAX_INT), "-1").is_ok());
        assert_eq!(value(Spec::Num(1, 10), "11").unwrap_err().0, code::NUMBER);
        assert_eq!(value(Spec::Num(1, 10), "ten").unwrap_err().0, code::NUMBER);
        assert!(value(Spec::Octal(0o600, 0o777), "0640").is_ok());
        assert!(value(Spec::Octal(0o600, 0o777), "0800").is_err());
        assert!(value(Spec::Yn, "y").is_ok());
        assert_eq!(value(Spec::Ybn, "X").unwrap_err().0, code::CHOICE);
        assert_eq!(
            value(Spec::Name(15), "sixteen_chars_xx").unwrap_err().0,
            code::NAME_TOO_LONG
        );
        assert!(value(Spec::Text(255), "").is_ok());
        let list = "svg1, a_group_name_too_long";
        assert_eq!(
            value(Spec::Names(8000), list).unwrap_err().0,
            code::NAME_TOO_LONG
        );
    }

    #[test]
    fn misspelt_items_get_a_suggestion() {
        assert_eq!(suggestion(SectionKind::Service, "SVRNMAE"), Some("SVRNAME"));
        assert_eq!(suggestion(SectionKind::Service, "COMPLETELY_ELSE"), None);
    }
}
