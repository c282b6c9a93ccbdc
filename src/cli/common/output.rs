//! How answers are printed: a table for people, JSON or YAML (the same shape) for scripts.

use clap::ValueEnum;
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use nonstop_controller::config::escape_controls;
use serde::Serialize;
use std::borrow::Cow;

use super::client::CliError;

/// The output formats of `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON, one document.
    Json,
    /// YAML, one document, the same shape as the JSON.
    Yaml,
}

/// Prints `value` as JSON or YAML, or as the text `table` makes of it.
pub fn emit<T: Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    let text = match format {
        Format::Table => table(value),
        Format::Json => serde_json::to_string_pretty(value)
            .map_err(|e| CliError::Refused(format!("cannot write JSON: {e}")))?,
        Format::Yaml => yaml_serde::to_string(value)
            .map_err(|e| CliError::Refused(format!("cannot write YAML: {e}")))?,
    };
    print_line(text.trim_end())
}

/// Writes `text` to stdout: every byte the CLI writes there goes through here, with control
/// characters other than newlines and tabs escaped (a property value or a file name must not
/// drive the terminal). A reader that went away (`nonstop events --follow | head`) is
/// [`CliError::StdoutClosed`], not the panic `println!` would raise.
pub fn write_out(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let text = shown(text);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::StdoutClosed),
        Err(e) => Err(CliError::Refused(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// Writes a line to stdout (see [`write_out`]).
pub fn print_line(text: &str) -> Result<(), CliError> {
    write_out(&format!("{text}\n"))
}

/// Writes a line to stdout for the commands that do not return a [`CliError`] (`up`, `down`,
/// `config check`, ...): when the reader went away, the program ends there, quietly, with exit
/// code 0, as the operator commands do (`nonstop config check FILE | true`).
pub fn say_line(text: &str) {
    if let Err(e) = print_line(text) {
        end(&e)
    }
}

/// Ends the program after a failed write to stdout: exit 0 when nobody reads any more, else
/// the error (exit 1).
pub fn end(e: &CliError) -> ! {
    if !matches!(e, CliError::StdoutClosed) {
        crate::cli::fail(&e.to_string());
        std::process::exit(1);
    }
    std::process::exit(0)
}

/// Writes a line to stderr, control characters escaped as on stdout: every message, warning
/// and error the CLI prints goes through here. A closed stderr is ignored (there is nowhere
/// left to say so).
pub fn tell_line(text: &str) {
    use std::io::Write;
    let text = shown(&format!("{text}\n")).into_owned();
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Text as the CLI prints it: control characters escaped, newlines and tabs kept.
fn shown(text: &str) -> Cow<'_, str> {
    escape_controls(text, &['\n', '\t'])
}

/// `eprintln!` for the CLI: [`tell_line`] with `format!` arguments.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::cli::output::tell_line(&format!($($arg)*))
    };
}
pub(crate) use tell;

/// `println!` for the CLI: [`say_line`] with `format!` arguments.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::say_line(&format!($($arg)*))
    };
}
pub(crate) use say;

/// A table with a header row and one row per item.
pub fn rows<I, R>(header: &[&str], items: I) -> String
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    for r in items {
        t.add_row(r);
    }
    t.to_string()
}

/// A two-column table of fields and values, for `show` commands.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (k, v) in pairs {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    t.to_string()
}

/// An optional value as a table cell ("-" when absent).
pub fn cell(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// A list as a table cell.
pub fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(timestamp(1_795_000_000_000), "2026-11-18 11:06:40.000");
    }
}
