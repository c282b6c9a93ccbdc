//! The events a simulation injects, written the way `nonstop simulate` takes them:
//! `node:osdb-serv`, `resource:chat`, `group:SOCKET_GROUP@osdb-back`, `stop:SOCKET_GROUP`.

use std::fmt;

use nonstop_contract::Millis;

use crate::db::Op;
use crate::db::model::Target;

/// One injected event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// A node fails: it is cut off, its lease runs out, it is declared Down (sim/mod.rs).
    FailNode(String),
    /// A node comes back.
    RecoverNode(String),
    /// A resource fails on its owner.
    FailResource(String),
    /// Time passes.
    Advance(Millis),
    /// The next report or stop confirmation of something never reaches the leader.
    Lose(Loss),
    /// An operator command.
    Operator(Op),
}

/// What a `lose` event loses: the next one sent, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The next report on this resource (`lose report:R`).
    Report(String),
    /// The next confirmation that this group is stopped for a move (`lose stop:G`).
    Stop(String),
}

/// An event that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--{flag} {value:?}: {reason}")]
pub struct ParseEventError {
    /// The flag, without dashes.
    pub flag: String,
    /// Its value.
    pub value: String,
    /// Why.
    pub reason: String,
}

impl SimEvent {
    /// The flags `parse` takes, for help texts.
    pub const FLAGS: &'static str = "--fail node:N|resource:R, --recover node:N, --pause node:N, \
        --resume node:N, --evict node:N, --move group:G[@N], --online group:G|resource:R, \
        --offline group:G|resource:R, --clear group:G, --advance DURATION, \
        --lose report:R|stop:G";

    /// Parses `--flag value`.
    pub fn parse(flag: &str, value: &str) -> Result<SimEvent, ParseEventError> {
        let err = |reason: &str| ParseEventError {
            flag: flag.into(),
            value: value.into(),
            reason: reason.into(),
        };
        if flag == "advance" {
            return value
                .parse()
                .map(SimEvent::Advance)
                .map_err(|e| err(&e.to_string()));
        }
        let (kind, name) = value
            .split_once(':')
            .filter(|(_, n)| !n.is_empty())
            .ok_or_else(|| err("write KIND:NAME, like node:osdb-serv"))?;
        let s = name.to_string();
        let target = |t: Target| match kind {
            "group" => Ok(Op::SetGroupTarget {
                group: s.clone(),
                target: t,
            }),
            "resource" => Ok(Op::SetResourceTarget {
                resource: s.clone(),
                target: t,
            }),
            _ => Err(err("takes group:G or resource:R")),
        };
        let op = |o: Op| Ok(SimEvent::Operator(o));
        match (flag, kind) {
            ("fail", "node") => Ok(SimEvent::FailNode(s)),
            ("fail", "resource") => Ok(SimEvent::FailResource(s)),
            ("recover", "node") => Ok(SimEvent::RecoverNode(s)),
            ("pause", "node") => op(Op::PauseNode { node: s }),
            ("resume", "node") => op(Op::ResumeNode { node: s }),
            ("evict", "node") => op(Op::EvictNode { node: s }),
            ("clear", "group") => op(Op::ClearGroup { group: s }),
            ("lose", "report") => Ok(SimEvent::Lose(Loss::Report(s))),
            ("lose", "stop") => Ok(SimEvent::Lose(Loss::Stop(s))),
            ("lose", _) => Err(err(&format!(
                "{kind:?} does not fit: use report:R or stop:G"
            ))),
            ("move", "group") => {
                let (group, to) = match name.split_once('@') {
                    Some((g, n)) => (g.to_string(), Some(n.to_string())),
                    None => (s, None),
                };
                op(Op::MoveGroup { group, to })
            }
            ("online", _) => target(Target::Online).map(SimEvent::Operator),
            ("offline", _) => target(Target::Offline).map(SimEvent::Operator),
            ("fail", _) => Err(err(&format!(
                "{kind:?} does not fit: use node:N or resource:R"
            ))),
            ("recover" | "pause" | "resume" | "evict", _) => {
                Err(err(&format!("{kind:?} does not fit: use node:N")))
            }
            ("clear" | "move", _) => Err(err(&format!("{kind:?} does not fit: use group:G"))),
            _ => Err(err(&format!(
                "unknown event; the events are: {}",
                Self::FLAGS
            ))),
        }
    }

    /// Parses `flag value` written as one string (`fail node:a`), as policy cases write them.
    pub fn parse_line(line: &str) -> Result<SimEvent, ParseEventError> {
        let line = line.trim();
        let (flag, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        Self::parse(flag.trim_start_matches("--"), value.trim())
    }
}

impl fmt::Display for SimEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimEvent::FailNode(n) => write!(f, "fail node:{n}"),
            SimEvent::RecoverNode(n) => write!(f, "recover node:{n}"),
            SimEvent::FailResource(r) => write!(f, "fail resource:{r}"),
            SimEvent::Advance(d) => write!(f, "advance {d}"),
            SimEvent::Lose(Loss::Report(r)) => write!(f, "lose report:{r}"),
            SimEvent::Lose(Loss::Stop(g)) => write!(f, "lose stop:{g}"),
            SimEvent::Operator(op) => write!(f, "{op}"),
        }
    }
}
