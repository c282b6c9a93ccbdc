//! The drill report as a page and as JUnit XML: `nonstop drill run --report FILE` writes
//! [`html`], `--junit FILE` writes [`junit`]. Pure functions of a [`DrillReport`]; the page is
//! self-contained (inline style and SVG charts, no script, nothing fetched).

use std::fmt::Write;

use super::model::{DrillReport, PHASES, Round, Verdict};

/// Okabe-Ito colours (told apart with any colour vision), one per phase of `PHASES`.
const COLOURS: [&str; 5] = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#CC79A7"];
/// The colour of a phase `PHASES` does not name.
const OTHER: &str = "#999999";
/// The chart's plot area: bar names left of it, "+N ms" labels right of it (viewBox units).
const LEFT: f64 = 100.0;
const RIGHT: f64 = 640.0;
/// One bar's row, and the space above the first one.
const ROW: u64 = 26;
const TOP: u64 = 8;

const STYLE: &str = "\
body{margin:0;background:#fff;color:#1a1a1a;\
font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}
main{max-width:960px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:0 0 1rem}
h3{margin:1.2rem 0 .3rem}
.verdict{display:inline-block;padding:.05em .6em;border-radius:4px;color:#fff;vertical-align:.1em}
.pass{background:#1b5e20}.fail{background:#b71c1c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #bbb;padding:.25rem .6rem;text-align:left;vertical-align:top}
.n{text-align:right;font-variant-numeric:tabular-nums}.w{width:1%;white-space:nowrap}
thead th{background:#e4e4e4}
tbody tr:nth-child(even){background:#f3f3f3}
tr.total td{font-weight:600;border-top:2px solid #555}
.sw{display:inline-block;width:.9em;height:.9em;margin-right:.4em;border:1px solid #333;\
vertical-align:-.1em}
.bad{color:#b71c1c;font-weight:600}
.round{border-top:1px solid #ccc;margin-top:1.5rem}
svg{display:block;max-width:100%;height:auto;font-family:inherit}
";

/// The report as one self-contained HTML page.
pub fn html(report: &DrillReport) -> String {
    let title = format!("Drill {}: {}", esc(&report.id), esc(&report.scenario));
    let (verdict, class) = match report.verdict {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Fail => ("FAIL", "fail"),
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>{title} <span class=\"verdict {class}\">{verdict}</span></h1>\n<dl>\n"
    );
    let s = &report.summary;
    let bound = report
        .expect_under_ms
        .map_or("none".into(), |b| format!("{b} ms"));
    for (k, v) in [
        ("Description", esc(&report.description)),
        ("Group", esc(&report.group)),
        ("Node", esc(&report.node)),
        ("Started", format!("{} UTC", datetime(report.started_at_ms))),
        (
            "Rounds",
            format!("{} ({} completed)", s.rounds, s.completed),
        ),
        ("Expected under", bound),
        ("Outside check", esc(&report.outside_check)),
    ] {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str(
        "</dl>\n<h2>Summary</h2>\n<table>\n<thead><tr><th>phase</th><th class=\"n\">n</th>\
         <th class=\"n\">p50 ms</th><th class=\"n\">p99 ms</th><th class=\"n\">max ms</th>\
         </tr></thead>\n<tbody>\n",
    );
    for (name, _) in PHASES {
        if let Some(p) = s.phases.iter().find(|p| p.name == name) {
            let n = [p.n as u64, p.p50_ms, p.p99_ms, p.max_ms].map(|v| v.to_string());
            let _ = writeln!(out, "<tr><td>{}{name}</td>{}</tr>", swatch(name), cells(n));
        }
    }
    let ms = |v: Option<u64>| v.map_or("–".into(), |v| v.to_string());
    let total = cells([
        s.completed.to_string(),
        ms(s.p50_ms),
        ms(s.p99_ms),
        ms(s.max_ms),
    ]);
    let _ = writeln!(
        out,
        "<tr class=\"total\"><td>total</td>{total}</tr>\n</tbody>\n</table>\n<dl>"
    );
    for (name, what) in PHASES {
        let _ = writeln!(out, "<dt>{}{name}</dt><dd>{}</dd>", swatch(name), esc(what));
    }
    out.push_str("</dl>\n<h2>Rounds</h2>\n");
    for r in &report.rounds {
        round(&mut out, r);
    }
    out.push_str(
        "<h2>Events</h2>\n<table>\n<thead><tr><th class=\"n w\">revision</th>\
         <th class=\"w\">time (UTC)</th><th>summary</th></tr></thead>\n<tbody>\n",
    );
    for e in &report.events {
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            e.revision,
            &datetime(e.at_ms)[11..],
            esc(&e.summary)
        );
    }
    out.push_str("</tbody>\n</table>\n</main>\n</body>\n</html>\n");
    out
}

/// A phase's colour.
fn colour(phase: &str) -> &'static str {
    let i = PHASES.iter().position(|(n, _)| *n == phase);
    i.map_or(OTHER, |i| COLOURS[i])
}

/// A phase's colour, as a little square before its name.
fn swatch(phase: &str) -> String {
    format!(
        "<span class=\"sw\" style=\"background:{}\"></span>",
        colour(phase)
    )
}

/// When the round's last phase was seen, ms after the fault (0: none was).
fn last(r: &Round) -> u64 {
    r.phases.iter().map(|p| p.at_ms).max().unwrap_or(0)
}

/// Table cells for numbers.
fn cells(numbers: [String; 4]) -> String {
    numbers
        .map(|n| format!("<td class=\"n\">{n}</td>"))
        .concat()
}

/// One round's section of the page: heading, numbers, failures and timeline.
fn round(out: &mut String, r: &Round) {
    let to = r.to.as_deref().map_or("nowhere".into(), esc);
    let total = match r.total_ms {
        Some(t) => format!("{t} ms"),
        None => "<span class=\"bad\">did not complete</span>".into(),
    };
    let overlap = if r.overlap_ms > 0 { "bad" } else { "" };
    let _ = writeln!(
        out,
        "<section class=\"round\">\n<h3>Round {}: {} → {to}</h3>\n<p>Total: {total} · \
         Overlap: <span class=\"{overlap}\">{} ms</span></p>",
        r.round,
        esc(&r.from),
        r.overlap_ms
    );
    if !r.failures.is_empty() {
        out.push_str("<ul class=\"bad\">\n");
        for f in &r.failures {
            let _ = writeln!(out, "<li>{}</li>", esc(f));
        }
        out.push_str("</ul>\n");
    }
    if r.phases.is_empty() {
        out.push_str("<p>no phase seen</p>\n");
    } else {
        chart(out, r);
    }
    out.push_str("</section>\n");
}

/// The round's timeline as an inline SVG: one bar per phase, from the phase before it (or the
/// fault) to the phase itself, over a time axis in ms after the fault.
fn chart(out: &mut String, r: &Round) {
    let end = last(r).max(1);
    let x = |ms: u64| LEFT + (RIGHT - LEFT) * ms as f64 / end as f64;
    let axis = TOP + ROW * r.phases.len() as u64;
    let label: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} +{} ms", p.name, p.at_ms))
        .collect();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 720 {}\" width=\"100%\" \
         role=\"img\" aria-label=\"{}\" font-size=\"12\" fill=\"#1a1a1a\">",
        axis + 34,
        attr(&format!("Round {} timeline: {}", r.round, label.join(", ")))
    );
    let step = tick_step(end);
    for t in (0..=end).step_by(step as usize) {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{1}\" stroke=\"#d0d0d0\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{t}</text>",
            x(t),
            axis + 4,
            axis + 18
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{axis}\" y2=\"{axis}\" stroke=\"#555\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">ms after fault</text>",
        LEFT - 12.0,
        axis + 18
    );
    let mut from = 0;
    for (i, p) in r.phases.iter().enumerate() {
        let y = TOP + ROW * i as u64 + 5;
        let to = p.at_ms.max(from);
        let (x0, w) = (x(from), (x(to) - x(from)).max(2.0));
        let name = esc(&p.name);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{name}</text>\
             <rect x=\"{x0:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"{}\" \
             stroke=\"#333\" stroke-width=\"0.5\"><title>{name}: {from}–{to} ms after the fault \
             (+{} ms)</title></rect><text x=\"{:.1}\" y=\"{}\">+{} ms</text>",
            LEFT - 8.0,
            y + 12,
            colour(&p.name),
            to - from,
            x0 + w + 6.0,
            y + 12,
            p.at_ms
        );
        from = to;
    }
    out.push_str("</svg>\n");
}

/// A round number of ms between ticks, so that 0..=`end` gets 4 to 6 of them (fewer only
/// when `end` is under 15 ms).
fn tick_step(end: u64) -> u64 {
    let mut base = 1u64;
    loop {
        let steps = [base, 2 * base, base / 10 * 25, 5 * base];
        if let Some(step) = steps.into_iter().find(|&s| s > 0 && end / s <= 5) {
            return step;
        }
        base *= 10;
    }
}

/// The report as JUnit XML: one test case per round, failed when the round failed or did not
/// complete, its phases in `system-out`.
pub fn junit(report: &DrillReport) -> String {
    let scenario = attr(&report.scenario);
    let (mut cases, mut failures, mut total) = (String::new(), 0, 0);
    for r in &report.rounds {
        let ms = r.total_ms.unwrap_or_else(|| last(r));
        total += ms;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"nonstop.drill.{scenario}\" name=\"round {}\" time=\"{}\">",
            r.round,
            secs(ms)
        );
        if !r.failures.is_empty() || r.total_ms.is_none() {
            failures += 1;
            let all = match r.failures.is_empty() {
                true => "the round did not complete".into(),
                false => r.failures.join("\n"),
            };
            let first = all.lines().next().unwrap_or_default();
            let _ = writeln!(
                cases,
                "      <failure message=\"{}\">{}</failure>",
                attr(first),
                esc(&all)
            );
        }
        let phases: String = r
            .phases
            .iter()
            .map(|p| format!("{} +{} ms\n", p.name, p.at_ms))
            .collect();
        let _ = writeln!(
            cases,
            "      <system-out>{}</system-out>\n    </testcase>",
            esc(&phases)
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"drill \
         {scenario}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{}\" \
         timestamp=\"{}\">\n{cases}  </testsuite>\n</testsuites>\n",
        report.rounds.len(),
        secs(total),
        // JUnit's schema wants the timestamp without a zone; it is UTC.
        datetime(report.started_at_ms)[..19].replace(' ', "T")
    )
}

/// `ms` as seconds with 3 decimals.
fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm` in UTC (Howard Hinnant's
/// civil-from-days).
fn datetime(ms: u64) -> String {
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = era * 400 + yoe + u64::from(m <= 2);
    let (h, min, s) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60);
    format!(
        "{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{:03}",
        rem % 1000
    )
}

/// `text` escaped for HTML and XML content, without the characters XML 1.0 forbids.
fn esc(text: &str) -> String {
    escape(text, false)
}

/// `text` escaped for an attribute value: also its line breaks and tabs, which a parser would
/// otherwise turn into spaces.
fn attr(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, attr: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' if attr => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\n' | '\r' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::{EventLine, Phase, PhaseSummary, Summary};
    use super::*;

    const FAILURE: &str = "overlap 12 ms: <&\"> seen on 'b'";

    /// A round from `from` to `to` with the first phases of `PHASES` at `at`.
    fn round(n: u32, from: &str, to: Option<&str>, at: &[u64], failures: &[&str]) -> Round {
        let names = PHASES.iter().map(|(n, _)| n.to_string());
        Round {
            round: n,
            fault_at_ms: 1_764_759_600_000 + 20_000 * u64::from(n),
            from: from.into(),
            to: to.map(Into::into),
            phases: names
                .zip(at)
                .map(|(name, &at_ms)| Phase { name, at_ms })
                .collect(),
            total_ms: failures.is_empty().then(|| at[at.len() - 1]),
            overlap_ms: if failures.is_empty() { 0 } else { 12 },
            failures: failures.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn report() -> DrillReport {
        let first = round(1, "a", Some("b"), &[1520, 1604, 2710, 3395, 3480], &[]);
        let phases = first.phases.iter().map(|p| PhaseSummary {
            name: p.name.clone(),
            n: 1,
            p50_ms: p.at_ms,
            p99_ms: p.at_ms,
            max_ms: p.at_ms,
        });
        DrillReport {
            id: "node-crash-7f3a".into(),
            scenario: "node-crash".into(),
            description: "Kills the <node>'s daemon & waits".into(),
            group: "web".into(),
            node: "a".into(),
            started_at_ms: 1_764_759_600_123,
            expect_under_ms: Some(5000),
            outside_check: "processes and addresses on this machine".into(),
            summary: Summary {
                rounds: 2,
                completed: 1,
                p50_ms: Some(3480),
                p99_ms: Some(3480),
                max_ms: Some(3480),
                phases: phases.collect(),
            },
            rounds: vec![
                first,
                round(2, "b", None, &[900, 1000], &[FAILURE, "lease\u{7} lost"]),
            ],
            verdict: Verdict::Fail,
            events: vec![EventLine {
                revision: 41,
                at_ms: 1_764_759_602_520,
                summary: "node a Down".into(),
            }],
        }
    }

    #[test]
    fn html_is_self_contained_escaped_and_its_charts_parse() {
        let page = html(&report());
        assert!(page.contains("<svg"));
        assert!(page.contains("overlap 12 ms: &lt;&amp;&quot;&gt; seen on &#39;b&#39;"));
        assert!(!page.contains(FAILURE) && !page.contains('\u{7}'));
        assert!(page.contains("Round 2: b → nowhere") && page.contains("did not complete"));
        for (i, _) in page.match_indices("http") {
            assert!(
                page[i..].starts_with("http://www.w3.org/2000/svg\""),
                "{}",
                &page[i..]
            );
        }
        let mut charts = 0;
        for (start, _) in page.match_indices("<svg") {
            let end = start + page[start..].find("</svg>").expect("svg closed") + "</svg>".len();
            let svg = roxmltree::Document::parse(&page[start..end]).expect("svg parses");
            assert_eq!(svg.root_element().attribute("role"), Some("img"));
            charts += 1;
        }
        assert_eq!(charts, 2);
    }

    #[test]
    fn junit_parses_with_one_failure() {
        let xml = junit(&report());
        let doc = roxmltree::Document::parse(&xml).expect("junit parses");
        let count = |tag| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
        assert_eq!((count("testcase"), count("failure")), (2, 1));
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("message"), Some(FAILURE));
        assert_eq!(
            failure.text(),
            Some(format!("{FAILURE}\nlease lost").as_str())
        );
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("timestamp"), Some("2025-12-03T11:00:00"));
        assert_eq!(suite.attribute("time"), Some("4.480"));
    }

    #[test]
    fn datetime_is_utc() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00.000");
        assert_eq!(datetime(1_764_759_600_123), "2025-12-03 11:00:00.123");
        assert_eq!(datetime(951_868_799_999), "2000-02-29 23:59:59.999");
        assert_eq!(datetime(4_107_542_400_000), "2100-03-01 00:00:00.000");
    }

    #[test]
    fn ticks_are_four_to_six() {
        for end in (15..20_000).chain([86_400_000, u64::MAX]) {
            let step = tick_step(end);
            assert!((3..=5).contains(&(end / step)), "{end}: every {step}");
        }
    }

    /// Writes a sample page: `cargo test --bin nonstop render::tests::sample -- --ignored`.
    #[test]
    #[ignore]
    fn sample() {
        std::fs::write("/tmp/drill-sample.html", html(&report())).unwrap();
    }
}
