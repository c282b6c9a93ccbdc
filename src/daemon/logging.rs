//! How the daemon and its watchdog log: text for people (colour only on a terminal, never into
//! a file) or JSON lines for log shippers (`--log-format`, node.yaml `log_format`), through
//! `tracing`. raft-rs's own lines (carried over from slog: filtered by their module, `raft::...`,
//! printed with the target `slog`) are kept from `warn` up unless `RUST_LOG` asks for more
//! (`RUST_LOG=info`).

use std::io::IsTerminal;

use serde::Deserialize;

/// The format of the log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-12-03T07:45:12.037790Z  WARN target: message key=value`.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// What is logged when `RUST_LOG` does not say.
pub const DEFAULT_FILTER: &str = "info,raft=warn,slog=warn";

/// Where the lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    Stdout,
    Stderr,
}

/// Sets up logging for this process (once; a second call changes nothing).
pub fn init(format: LogFormat, to: To) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let terminal = match to {
        To::Stdout => std::io::stdout().is_terminal(),
        To::Stderr => std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match (format, to) {
        (LogFormat::Text, To::Stdout) => builder.with_ansi(terminal).try_init(),
        (LogFormat::Text, To::Stderr) => builder
            .with_ansi(terminal)
            .with_writer(std::io::stderr)
            .try_init(),
        (LogFormat::Json, To::Stdout) => builder.json().with_ansi(false).try_init(),
        (LogFormat::Json, To::Stderr) => builder
            .json()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}
