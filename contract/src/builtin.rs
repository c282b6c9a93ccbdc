//! The built-in resource types' definitions: names, property schemas, default timings, stop
//! bounds. The handlers that run them live in nonstop-resource-types, one file each.

use std::time::Duration;

use crate::millis::Millis;
use crate::schema::{Format, PropertyKind as K, PropertySpec as P, Schema, Value};
use crate::timing::Timings;
use crate::typedef::{HandlerRef, StopBound, TypeDef};

/// How long `tmax-node`'s terminate (its down command) may take. What tmboot starts lives
/// outside the agent's process tree, so its stop cannot be forced: this is the type's stop
/// bound, and the handler bounds the command by it.
pub const TMAX_NODE_TERMINATE_LIMIT: Duration = Duration::from_secs(10);

/// Every built-in type, in the order `nonstop type list` shows them.
pub fn builtin_types() -> Vec<TypeDef> {
    vec![process(), ip_address(), tmax_node()]
}

fn def(name: &str, description: &str, schema: Vec<P>, timings: Timings) -> TypeDef {
    TypeDef {
        name: name.to_string(),
        handler: HandlerRef::Builtin(name.to_string()),
        schema: Schema::new(schema),
        timings,
        description: description.to_string(),
        stop: StopBound::Forced,
        reconfigures: true,
    }
}

/// `process`: runs a command and watches it.
pub fn process() -> TypeDef {
    def(
        "process",
        "a program run and watched by the agent (Tmax SERVER, MSCS generic application)",
        vec![
            P::new("command", K::String)
                .format(Format::NonEmpty)
                .required()
                .needs_restart(),
            P::new("args", K::List).needs_restart(),
            P::new("env", K::List)
                .format(Format::KeyValue)
                .needs_restart()
                .describe("KEY=VALUE pairs added to the environment"),
            P::new("cwd", K::String)
                .format(Format::NonEmpty)
                .needs_restart(),
            P::new("instances", K::Int)
                .range(Some(1), Some(1024))
                .default_value(Value::Int(1))
                .describe("how many copies run (Tmax MIN)"),
            P::new("stop_signal", K::Enum)
                .choices(&["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "KILL"])
                .default_value(Value::Str("TERM".into())),
            P::new("stop_grace", K::Duration)
                .within(Millis(0), Millis::secs(3600))
                .default_value(Value::Str("5s".into())),
            P::new("log", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe("file that receives stdout and stderr"),
            P::new("check_tcp", K::String)
                .format(Format::HostPort)
                .describe("host:port that is_alive connects to"),
            P::new("check_command", K::String)
                .format(Format::NonEmpty)
                .describe("command that is_alive runs"),
            P::new("reload_signal", K::Enum)
                .choices(&["HUP", "USR1", "USR2"])
                .describe(
                    "sent to the program when the properties a type adds change: they are then \
                     applied without a restart (the program reads $NONSTOP_PROPERTIES again)",
                ),
            P::new("user", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe("run as this user (name or uid); default: the agent's user"),
            P::new("group", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe("run with this group (name or gid); default: the user's group"),
        ],
        Timings::default(),
    )
}

/// `ip-address`: a virtual IP address on an interface.
pub fn ip_address() -> TypeDef {
    def(
        "ip-address",
        "a virtual IP address added to an interface (MSCS IP Address resource)",
        vec![
            P::new("address", K::Address).required().needs_restart(),
            P::new("interface", K::String)
                .format(Format::NonEmpty)
                .required()
                .needs_restart(),
            P::new("netns", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe(
                    "network namespace to act in, as `ip netns` names them (/run/netns/NAME)",
                ),
        ],
        Timings {
            looks_alive: Millis::secs(1),
            is_alive: Millis::secs(5),
            pending_timeout: Millis::secs(30),
            ..Timings::default()
        },
    )
}

/// `tmax-node`: a Tmax TP-monitor node booted and downed with its own tools.
pub fn tmax_node() -> TypeDef {
    def(
        "tmax-node",
        "a Tmax TP-monitor node (tmboot / tmdown)",
        vec![
            P::new("node", K::String)
                .format(Format::NonEmpty)
                .required()
                .needs_restart(),
            P::new("tmaxdir", K::String)
                .format(Format::NonEmpty)
                .required()
                .needs_restart(),
            P::new("tportno", K::Int)
                .range(Some(1), Some(65535))
                .required()
                .needs_restart(),
            P::new("boot_command", K::String).format(Format::NonEmpty),
            P::new("down_command", K::String).format(Format::NonEmpty),
            P::new("probe_command", K::String).format(Format::NonEmpty),
            P::new("user", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe("run the commands as this user (name or uid); default: the agent's"),
            P::new("group", K::String)
                .format(Format::NonEmpty)
                .needs_restart()
                .describe("run the commands with this group (name or gid)"),
        ],
        Timings::default(),
    )
    .stop_within(TMAX_NODE_TERMINATE_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_are_well_formed() {
        for t in builtin_types() {
            t.check().unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        }
    }
}
