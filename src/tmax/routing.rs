//! ROUTING's RANGES (manual 3.5.2): `"RANGE : GROUP, RANGE : GROUP, ..."`, where a RANGE is
//! `*`, a value, `LOW - HIGH` or `MODn = k`, and a value is a number (signed), a string in
//! single quotes, `MIN` or `MAX`. The rules the manual states:
//!
//! - "A - B 형식의 범위에서 A는 B보다 크지 않아야 한다": a range runs low to high (NST0045).
//! - "반드시 애스터리스크(*)에 대한 라우팅 서비스를 정의해야 한다. 단, MIN과 MAX를 모두
//!   정의하였다면 ... 생략할 수 있다": a `*` unless MIN and MAX are both used (NST0046, a
//!   warning: the manual's own complete examples in 3.10.7 leave it out).
//! - the group after the colon is a server group (or, between domains, a gateway): NST0044.
//!
//! Anything else that does not read as above is NST0047.

use std::cmp::Ordering;

use super::diag::{Report, code};
use super::lexer::Pos;
use super::model::{Entry, Value};
use super::refs::Index;

/// One end of a range.
#[derive(Debug, PartialEq)]
enum End {
    Min,
    Max,
    Num(f64),
    Str(String),
}

/// Where byte `at` of a literal's text is in the file (the literal may span lines).
fn place(v: &Value, at: usize) -> Pos {
    let before = &v.text[..at];
    let start = v.pos.column + usize::from(v.quoted);
    match before.rfind('\n') {
        None => Pos {
            line: v.pos.line,
            column: start + before.chars().count(),
        },
        Some(nl) => Pos {
            line: v.pos.line + before.matches('\n').count(),
            column: before[nl + 1..].chars().count() + 1,
        },
    }
}

/// Splits `text` at `sep` outside single quotes: each piece with its byte offset.
fn split(text: &str, sep: char) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut from, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push((from, &text[from..i]));
            from = i + c.len_utf8();
        }
    }
    out.push((from, &text[from..]));
    out
}

/// Reads one end at the start of `s` (after white space); returns it and the rest.
fn end(s: &str) -> Result<(End, &str), String> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('\'') {
        let close = rest
            .find('\'')
            .ok_or("a string without its closing '\\''")?;
        return Ok((End::Str(rest[..close].to_string()), &rest[close + 1..]));
    }
    let signed = s.starts_with(['-', '+']) as usize;
    let digits = s[signed..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len() - signed);
    if digits > 0 {
        let n = &s[..signed + digits];
        let v = n
            .parse::<f64>()
            .map_err(|_| format!("{n:?} is not a number"))?;
        return Ok((End::Num(v), &s[signed + digits..]));
    }
    let word = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    match s[..word].to_ascii_uppercase().as_str() {
        "MIN" => Ok((End::Min, &s[word..])),
        "MAX" => Ok((End::Max, &s[word..])),
        "" => Err("a value is missing".to_string()),
        w => Err(format!(
            "{w:?} is not a value: write a number, a 'string', MIN or MAX"
        )),
    }
}

/// A range: `*`, `MODn = k`, a value or `LOW - HIGH`.
enum Range {
    Any,
    Mod,
    Span(End, Option<End>),
}

fn range(s: &str) -> Result<Range, String> {
    let t = s.trim();
    if t == "*" {
        return Ok(Range::Any);
    }
    if t.len() > 3 && t[..3].eq_ignore_ascii_case("MOD") {
        let (m, k) = t[3..].split_once('=').ok_or("write MODn = k")?;
        let whole = |x: &str| x.trim().parse::<i64>().is_ok();
        return if whole(m) && whole(k) {
            Ok(Range::Mod)
        } else {
            Err("write MODn = k with whole numbers n and k".to_string())
        };
    }
    let (low, rest) = end(t)?;
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(Range::Span(low, None));
    }
    let Some(rest) = rest.strip_prefix('-') else {
        return Err(format!("{rest:?} after the value: write LOW - HIGH"));
    };
    let (high, rest) = end(rest)?;
    if !rest.trim().is_empty() {
        return Err(format!("{:?} after the range", rest.trim()));
    }
    Ok(Range::Span(low, Some(high)))
}

/// Whether `low - high` runs the wrong way (ends of different kinds are not compared).
fn reversed(low: &End, high: &End) -> bool {
    match (low, high) {
        (End::Max, End::Max) | (End::Min, End::Min) => false,
        (End::Max, _) | (_, End::Min) => true,
        (End::Num(a), End::Num(b)) => a.partial_cmp(b) == Some(Ordering::Greater),
        (End::Str(a), End::Str(b)) => a > b,
        _ => false,
    }
}

/// Checks the RANGES of one ROUTING entry.
pub fn check(e: &Entry, ix: &Index, report: &mut Report) {
    let Some(item) = e.get("RANGES") else { return };
    let v = &item.value;
    let (mut star, mut min, mut max) = (false, false, false);
    for (at, piece) in split(&v.text, ',') {
        if piece.trim().is_empty() {
            continue;
        }
        let lead = piece.len() - piece.trim_start().len();
        let pos = place(v, at + lead);
        let parts = split(piece, ':');
        let [.., (gat, group)] = parts.as_slice() else {
            continue;
        };
        if parts.len() < 2 {
            let msg = format!(
                "ROUTING {:?}: RANGES {:?} has no group: write RANGE : GROUP (manual 3.5.2)",
                e.name,
                piece.trim()
            );
            report.error(pos, code::BAD_RANGE, msg);
            continue;
        }
        let spec = &piece[..gat - 1];
        match range(spec) {
            Err(why) => {
                let msg = format!(
                    "ROUTING {:?}: RANGES {:?}: {why} (manual 3.5.2)",
                    e.name,
                    spec.trim()
                );
                report.error(pos, code::BAD_RANGE, msg);
            }
            Ok(Range::Any) => star = true,
            Ok(Range::Mod) => {}
            Ok(Range::Span(low, high)) => {
                for x in [Some(&low), high.as_ref()].into_iter().flatten() {
                    min |= *x == End::Min;
                    max |= *x == End::Max;
                }
                if high.as_ref().is_some_and(|h| reversed(&low, h)) {
                    let msg = format!(
                        "ROUTING {:?}: RANGES {:?} runs from high to low; in \"A - B\" A must \
                         not be above B (manual 3.5.2)",
                        e.name,
                        spec.trim()
                    );
                    report.error(pos, code::REVERSED_RANGE, msg);
                }
            }
        }
        let name = group.trim();
        let known = ix.groups.contains_key(name) || ix.gateways.contains_key(name);
        if !known {
            let glead = group.len() - group.trim_start().len();
            let msg = format!(
                "ROUTING {:?}: RANGES names unknown server group or gateway {name:?}",
                e.name
            );
            report.error(place(v, at + gat + glead), code::UNKNOWN_RANGE_GROUP, msg);
        }
    }
    let covered = star || (min && max);
    if !covered {
        let msg = format!(
            "ROUTING {:?}: RANGES has no '*' range and does not use both MIN and MAX: a value \
             outside every range has no server group (manual 3.5.2 asks for '*')",
            e.name
        );
        report.warn(v.pos, code::NO_CATCH_ALL, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_read_numbers_strings_and_limits() {
        assert_eq!(end(" -9 - 3").unwrap().0, End::Num(-9.0));
        assert_eq!(end("'a-b'").unwrap().0, End::Str("a-b".into()));
        assert_eq!(end("min").unwrap().0, End::Min);
        assert!(end("'open").is_err());
        assert!(end("SVG3").is_err());
    }

    #[test]
    fn reversed_ranges() {
        assert!(reversed(&End::Num(9.0), &End::Num(-2.0)));
        assert!(reversed(&End::Max, &End::Num(5.0)));
        assert!(!reversed(&End::Min, &End::Max));
        assert!(!reversed(&End::Str("aaa".into()), &End::Str("ccc".into())));
        assert!(!reversed(&End::Num(1.0), &End::Str("0".into())));
    }
}
