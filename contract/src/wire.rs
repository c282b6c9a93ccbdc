//! The agent protocol's plain data to and from its protobuf messages (proto/proto/agent.proto),
//! in one place: a state crosses the wire as an enum, never as text, the desired state as
//! messages of its own, and every conversion from the wire names the field it refuses
//! (`groups[2].resources[0].properties.port`).
//!
//! ```text
//!  controller: desired_to_wire(&DesiredNode) ──DesiredState──▶ agent: desired_from_wire(..)?
//!  agent: pb::AgentReport::from(AgentReport) ──ReportBatch──▶ leader: report_from_wire(..)?
//! ```

use nonstop_proto::agent as pb;

use crate::desired::{
    AgentReport, DesiredGroup, DesiredNode, DesiredResource, GroupStopped, ResourceReport,
    ResourceState, RestartCount,
};
use crate::millis::Millis;
use crate::schema::{Bound, Format, Properties, PropertyKind, PropertySpec, Schema, Value};
use crate::timing::{RestartMode, RestartPolicy, Timings};
use crate::typedef::{HandlerRef, StopBound, TypeDef};

/// A field of a peer's message that cannot be right.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// The field (`reports[3].transition.state`).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl WireError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        WireError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ResourceState> for pb::ResourceState {
    fn from(s: ResourceState) -> Self {
        match s {
            ResourceState::Offline => pb::ResourceState::Offline,
            ResourceState::OnlinePending => pb::ResourceState::OnlinePending,
            ResourceState::Online => pb::ResourceState::Online,
            ResourceState::OfflinePending => pb::ResourceState::OfflinePending,
            ResourceState::Failed => pb::ResourceState::Failed,
            ResourceState::Failing => pb::ResourceState::Failing,
        }
    }
}

/// A value of the protobuf enum `E` from its wire number: `map` gives the value an enum value
/// stands for, `None` for the UNSPECIFIED one (0, what an unset field reads as). Either that or
/// a number `E` does not have is an error naming `field`; `what` names the enum in it ("99 is
/// not a resource state"). Both protocols' conversions use it.
pub fn enum_from_wire<E: TryFrom<i32>, T>(
    n: i32,
    field: &str,
    what: &str,
    map: impl FnOnce(E) -> Option<T>,
) -> Result<T, WireError> {
    match E::try_from(n) {
        Ok(e) => map(e).ok_or_else(|| WireError::new(field, "is not set")),
        Err(_) => Err(WireError::new(field, format!("{n} is not a {what}"))),
    }
}

/// A state from its wire number; `field` names it in the error.
pub fn state_from_wire(n: i32, field: &str) -> Result<ResourceState, WireError> {
    enum_from_wire(n, field, "resource state", |s| match s {
        pb::ResourceState::Offline => Some(ResourceState::Offline),
        pb::ResourceState::OnlinePending => Some(ResourceState::OnlinePending),
        pb::ResourceState::Online => Some(ResourceState::Online),
        pb::ResourceState::OfflinePending => Some(ResourceState::OfflinePending),
        pb::ResourceState::Failed => Some(ResourceState::Failed),
        pb::ResourceState::Failing => Some(ResourceState::Failing),
        pb::ResourceState::Unspecified => None,
    })
}

impl From<AgentReport> for pb::AgentReport {
    fn from(r: AgentReport) -> Self {
        let kind = match r {
            AgentReport::Resource(r) => {
                pb::agent_report::Kind::Transition(pb::ResourceTransition {
                    resource: r.resource,
                    group: r.group,
                    epoch: r.epoch,
                    state: pb::ResourceState::from(r.state) as i32,
                    restarted: r.restart.is_some(),
                    restart_attempt: r.restart.map(|c| c.attempt).unwrap_or(0),
                    restart_limit: r.restart.and_then(|c| c.limit).unwrap_or(0),
                    gave_up: r.gave_up,
                    message: r.message.unwrap_or_default(),
                    at_ms: r.at_ms,
                })
            }
            AgentReport::GroupStopped(g) => pb::agent_report::Kind::Stopped(pb::GroupStopped {
                group: g.group,
                epoch: g.epoch,
                stop: g.stop,
                at_ms: g.at_ms,
            }),
        };
        pb::AgentReport { kind: Some(kind) }
    }
}

/// Longest message a report may carry (a handler's reason), in bytes.
pub const MAX_MESSAGE: usize = 4096;
/// Longest name (resource, group) a report may carry, in bytes.
pub const MAX_NAME: usize = 255;

/// A report from the wire; `field` is its place in the batch (`reports[3]`).
pub fn report_from_wire(r: pb::AgentReport, field: &str) -> Result<AgentReport, WireError> {
    let name = |value: &str, f: &str| -> Result<(), WireError> {
        if value.is_empty() {
            return Err(WireError::new(format!("{field}.{f}"), "is empty"));
        }
        if value.len() > MAX_NAME {
            return Err(WireError::new(
                format!("{field}.{f}"),
                format!("is {} bytes long (at most {MAX_NAME})", value.len()),
            ));
        }
        Ok(())
    };
    match r.kind {
        None => Err(WireError::new(
            field,
            "carries neither a transition nor a stop",
        )),
        Some(pb::agent_report::Kind::Transition(t)) => {
            name(&t.resource, "transition.resource")?;
            name(&t.group, "transition.group")?;
            if t.message.len() > MAX_MESSAGE {
                return Err(WireError::new(
                    format!("{field}.transition.message"),
                    format!("is {} bytes long (at most {MAX_MESSAGE})", t.message.len()),
                ));
            }
            let state = state_from_wire(t.state, &format!("{field}.transition.state"))?;
            let restart = t.restarted.then_some(RestartCount {
                attempt: t.restart_attempt,
                limit: (t.restart_limit > 0).then_some(t.restart_limit),
            });
            Ok(AgentReport::Resource(ResourceReport {
                resource: t.resource,
                group: t.group,
                epoch: t.epoch,
                state,
                restart,
                gave_up: t.gave_up,
                message: (!t.message.is_empty()).then_some(t.message),
                at_ms: t.at_ms,
            }))
        }
        Some(pb::agent_report::Kind::Stopped(g)) => {
            name(&g.group, "stopped.group")?;
            Ok(AgentReport::GroupStopped(GroupStopped {
                group: g.group,
                epoch: g.epoch,
                stop: g.stop,
                at_ms: g.at_ms,
            }))
        }
    }
}

/// `prefix.name`, or `name` alone at the top of a message.
fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A message field the receiver cannot do without; `None` is an error naming `field`.
fn required<T>(v: Option<T>, field: &str) -> Result<T, WireError> {
    v.ok_or_else(|| WireError::new(field, "is not set"))
}

/// A node's desired state in its wire form: the one message the leader streams to its agent.
pub fn desired_to_wire(d: &DesiredNode) -> pb::DesiredState {
    pb::DesiredState {
        epoch: d.epoch,
        node: d.node.clone(),
        groups: d.groups.iter().map(group_to_wire).collect(),
        types: d.types.iter().map(type_to_wire).collect(),
    }
}

/// A node's desired state from the wire. Every field is checked: an enum number that is not
/// one of its values (or is unset), a oneof or a message the state cannot do without that is
/// missing, is refused with the field's path (`groups[2].resources[0].properties.port`).
pub fn desired_from_wire(d: pb::DesiredState) -> Result<DesiredNode, WireError> {
    let groups = d.groups.into_iter().enumerate();
    let types = d.types.into_iter().enumerate();
    Ok(DesiredNode {
        node: d.node,
        epoch: d.epoch,
        groups: groups
            .map(|(i, g)| group_from_wire(g, &format!("groups[{i}]")))
            .collect::<Result<_, _>>()?,
        types: types
            .map(|(i, t)| type_from_wire(t, &format!("types[{i}]")))
            .collect::<Result<_, _>>()?,
    })
}

fn group_to_wire(g: &DesiredGroup) -> pb::DesiredGroup {
    pb::DesiredGroup {
        name: g.name.clone(),
        epoch: g.epoch,
        resources: g.resources.iter().map(resource_to_wire).collect(),
        stop: g.stop,
    }
}

fn group_from_wire(g: pb::DesiredGroup, field: &str) -> Result<DesiredGroup, WireError> {
    let resources = g.resources.into_iter().enumerate();
    Ok(DesiredGroup {
        name: g.name,
        epoch: g.epoch,
        resources: resources
            .map(|(i, r)| resource_from_wire(r, &format!("{field}.resources[{i}]")))
            .collect::<Result<_, _>>()?,
        stop: g.stop,
    })
}

fn resource_to_wire(r: &DesiredResource) -> pb::DesiredResource {
    pb::DesiredResource {
        name: r.name.clone(),
        type_name: r.type_name.clone(),
        handler: Some(handler_to_wire(&r.handler)),
        properties: properties_to_wire(&r.properties),
        timings: Some(timings_to_wire(&r.timings)),
        depends_on: r.depends_on.clone(),
        online: r.online,
    }
}

fn resource_from_wire(r: pb::DesiredResource, field: &str) -> Result<DesiredResource, WireError> {
    let handler = path(field, "handler");
    let timings = path(field, "timings");
    Ok(DesiredResource {
        handler: handler_from_wire(required(r.handler, &handler)?, &handler)?,
        properties: properties_from_wire(r.properties, &path(field, "properties"))?,
        timings: timings_from_wire(required(r.timings, &timings)?, &timings)?,
        name: r.name,
        type_name: r.type_name,
        depends_on: r.depends_on,
        online: r.online,
    })
}

fn properties_to_wire(p: &Properties) -> std::collections::BTreeMap<String, pb::PropertyValue> {
    p.iter()
        .map(|(k, v)| (k.clone(), value_to_wire(v)))
        .collect()
}

fn properties_from_wire(
    p: std::collections::BTreeMap<String, pb::PropertyValue>,
    field: &str,
) -> Result<Properties, WireError> {
    p.into_iter()
        .map(|(k, v)| {
            let v = value_from_wire(v, &format!("{field}.{k}"))?;
            Ok((k, v))
        })
        .collect()
}

fn value_to_wire(v: &Value) -> pb::PropertyValue {
    use pb::property_value::Kind;
    let kind = match v {
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Int(i) => Kind::IntValue(*i),
        Value::Str(s) => Kind::StringValue(s.clone()),
        Value::List(l) => Kind::ListValue(pb::StringList { items: l.clone() }),
    };
    pb::PropertyValue { kind: Some(kind) }
}

fn value_from_wire(v: pb::PropertyValue, field: &str) -> Result<Value, WireError> {
    use pb::property_value::Kind;
    match v.kind {
        Some(Kind::BoolValue(b)) => Ok(Value::Bool(b)),
        Some(Kind::IntValue(i)) => Ok(Value::Int(i)),
        Some(Kind::StringValue(s)) => Ok(Value::Str(s)),
        Some(Kind::ListValue(l)) => Ok(Value::List(l.items)),
        None => Err(WireError::new(
            field,
            "has no value (neither bool, int, string nor list)",
        )),
    }
}

fn handler_to_wire(h: &HandlerRef) -> pb::Handler {
    use pb::handler::Kind;
    let kind = match h {
        HandlerRef::Builtin(name) => Kind::Builtin(name.clone()),
        HandlerRef::Exec(path) => Kind::Exec(path.clone()),
        HandlerRef::Ocf { provider, agent } => Kind::Ocf(pb::OcfAgent {
            provider: provider.clone(),
            agent: agent.clone(),
        }),
    };
    pb::Handler { kind: Some(kind) }
}

fn handler_from_wire(h: pb::Handler, field: &str) -> Result<HandlerRef, WireError> {
    use pb::handler::Kind;
    match h.kind {
        Some(Kind::Builtin(name)) => Ok(HandlerRef::Builtin(name)),
        Some(Kind::Exec(path)) => Ok(HandlerRef::Exec(path)),
        Some(Kind::Ocf(o)) => Ok(HandlerRef::Ocf {
            provider: o.provider,
            agent: o.agent,
        }),
        None => Err(WireError::new(
            field,
            "names no handler (neither builtin, exec nor ocf)",
        )),
    }
}

fn timings_to_wire(t: &Timings) -> pb::Timings {
    let r = &t.restart;
    pb::Timings {
        looks_alive_ms: t.looks_alive.0,
        is_alive_ms: t.is_alive.0,
        pending_timeout_ms: t.pending_timeout.0,
        restart: Some(pb::RestartPolicy {
            mode: pb::RestartMode::from(r.mode) as i32,
            limit: r.limit,
            window_ms: r.window.0,
            delay_ms: r.delay.0,
        }),
    }
}

fn timings_from_wire(t: pb::Timings, field: &str) -> Result<Timings, WireError> {
    let restart = path(field, "restart");
    let r = required(t.restart, &restart)?;
    Ok(Timings {
        looks_alive: Millis(t.looks_alive_ms),
        is_alive: Millis(t.is_alive_ms),
        pending_timeout: Millis(t.pending_timeout_ms),
        restart: RestartPolicy {
            mode: restart_mode_from_wire(r.mode, &path(&restart, "mode"))?,
            limit: r.limit,
            window: Millis(r.window_ms),
            delay: Millis(r.delay_ms),
        },
    })
}

impl From<RestartMode> for pb::RestartMode {
    fn from(m: RestartMode) -> Self {
        match m {
            RestartMode::Restart => pb::RestartMode::Restart,
            RestartMode::RestartThenFailover => pb::RestartMode::RestartThenFailover,
            RestartMode::NoRestart => pb::RestartMode::NoRestart,
        }
    }
}

fn restart_mode_from_wire(n: i32, field: &str) -> Result<RestartMode, WireError> {
    enum_from_wire(n, field, "restart mode", |m| match m {
        pb::RestartMode::Restart => Some(RestartMode::Restart),
        pb::RestartMode::RestartThenFailover => Some(RestartMode::RestartThenFailover),
        pb::RestartMode::NoRestart => Some(RestartMode::NoRestart),
        pb::RestartMode::Unspecified => None,
    })
}

/// A resource type in its wire form (the desired state carries the types its resources use).
pub fn type_to_wire(t: &TypeDef) -> pb::TypeDef {
    pb::TypeDef {
        name: t.name.clone(),
        handler: Some(handler_to_wire(&t.handler)),
        properties: t.schema.properties.iter().map(spec_to_wire).collect(),
        timings: Some(timings_to_wire(&t.timings)),
        description: t.description.clone(),
        stop_within_ms: match t.stop {
            StopBound::Forced => None,
            StopBound::Within(d) => Some(d.0),
        },
        reconfigures: t.reconfigures,
    }
}

/// A resource type from the wire; `field` is its place in the message (`types[0]`).
pub fn type_from_wire(t: pb::TypeDef, field: &str) -> Result<TypeDef, WireError> {
    let handler = path(field, "handler");
    let timings = path(field, "timings");
    let specs = t.properties.into_iter().enumerate();
    Ok(TypeDef {
        handler: handler_from_wire(required(t.handler, &handler)?, &handler)?,
        schema: Schema::new(
            specs
                .map(|(i, p)| spec_from_wire(p, &format!("{field}.properties[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        timings: timings_from_wire(required(t.timings, &timings)?, &timings)?,
        stop: match t.stop_within_ms {
            None => StopBound::Forced,
            Some(ms) => StopBound::Within(Millis(ms)),
        },
        name: t.name,
        description: t.description,
        reconfigures: t.reconfigures,
    })
}

fn spec_to_wire(p: &PropertySpec) -> pb::PropertySpec {
    pb::PropertySpec {
        name: p.name.clone(),
        kind: pb::PropertyKind::from(p.kind) as i32,
        min: p.min.map(bound_to_wire),
        max: p.max.map(bound_to_wire),
        format: p.format.map(|f| pb::Format::from(f) as i32),
        values: p.values.clone(),
        required: p.required,
        default: p.default.as_ref().map(value_to_wire),
        restart: p.restart,
        unique: p.unique,
        description: p.description.clone(),
    }
}

fn spec_from_wire(p: pb::PropertySpec, field: &str) -> Result<PropertySpec, WireError> {
    let bound = |b: Option<pb::Bound>, name: &str| {
        b.map(|b| bound_from_wire(b, &path(field, name)))
            .transpose()
    };
    Ok(PropertySpec {
        kind: property_kind_from_wire(p.kind, &path(field, "kind"))?,
        min: bound(p.min, "min")?,
        max: bound(p.max, "max")?,
        format: p
            .format
            .map(|f| format_from_wire(f, &path(field, "format")))
            .transpose()?,
        default: p
            .default
            .map(|v| value_from_wire(v, &path(field, "default")))
            .transpose()?,
        name: p.name,
        values: p.values,
        required: p.required,
        restart: p.restart,
        unique: p.unique,
        description: p.description,
    })
}

fn bound_to_wire(b: Bound) -> pb::Bound {
    use pb::bound::Kind;
    let kind = match b {
        Bound::Int(i) => Kind::IntValue(i),
        Bound::Duration(d) => Kind::DurationMs(d.0),
    };
    pb::Bound { kind: Some(kind) }
}

fn bound_from_wire(b: pb::Bound, field: &str) -> Result<Bound, WireError> {
    use pb::bound::Kind;
    match b.kind {
        Some(Kind::IntValue(i)) => Ok(Bound::Int(i)),
        Some(Kind::DurationMs(ms)) => Ok(Bound::Duration(Millis(ms))),
        None => Err(WireError::new(
            field,
            "has no value (neither an int nor a duration)",
        )),
    }
}

impl From<PropertyKind> for pb::PropertyKind {
    fn from(k: PropertyKind) -> Self {
        match k {
            PropertyKind::String => pb::PropertyKind::String,
            PropertyKind::Int => pb::PropertyKind::Int,
            PropertyKind::Bool => pb::PropertyKind::Bool,
            PropertyKind::Enum => pb::PropertyKind::Enum,
            PropertyKind::Duration => pb::PropertyKind::Duration,
            PropertyKind::Address => pb::PropertyKind::Address,
            PropertyKind::List => pb::PropertyKind::List,
        }
    }
}

fn property_kind_from_wire(n: i32, field: &str) -> Result<PropertyKind, WireError> {
    enum_from_wire(n, field, "property kind", |k| match k {
        pb::PropertyKind::String => Some(PropertyKind::String),
        pb::PropertyKind::Int => Some(PropertyKind::Int),
        pb::PropertyKind::Bool => Some(PropertyKind::Bool),
        pb::PropertyKind::Enum => Some(PropertyKind::Enum),
        pb::PropertyKind::Duration => Some(PropertyKind::Duration),
        pb::PropertyKind::Address => Some(PropertyKind::Address),
        pb::PropertyKind::List => Some(PropertyKind::List),
        pb::PropertyKind::Unspecified => None,
    })
}

impl From<Format> for pb::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::NonEmpty => pb::Format::NonEmpty,
            Format::HostPort => pb::Format::HostPort,
            Format::KeyValue => pb::Format::KeyValue,
        }
    }
}

fn format_from_wire(n: i32, field: &str) -> Result<Format, WireError> {
    enum_from_wire(n, field, "format", |f| match f {
        pb::Format::NonEmpty => Some(Format::NonEmpty),
        pb::Format::HostPort => Some(Format::HostPort),
        pb::Format::KeyValue => Some(Format::KeyValue),
        pb::Format::Unspecified => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_survives_the_wire_and_nonsense_is_named() {
        for s in [
            ResourceState::Offline,
            ResourceState::OnlinePending,
            ResourceState::Online,
            ResourceState::OfflinePending,
            ResourceState::Failed,
            ResourceState::Failing,
        ] {
            let n = pb::ResourceState::from(s) as i32;
            assert_eq!(state_from_wire(n, "state").unwrap(), s);
        }
        let e = state_from_wire(99, "reports[0].transition.state").unwrap_err();
        assert_eq!(
            e.to_string(),
            "reports[0].transition.state: 99 is not a resource state"
        );
        assert!(state_from_wire(0, "s").is_err());
    }

    #[test]
    fn reports_round_trip_and_oversized_fields_are_refused() {
        let r = AgentReport::Resource(ResourceReport {
            resource: "chat".into(),
            group: "G".into(),
            epoch: 7,
            state: ResourceState::Failing,
            restart: Some(RestartCount {
                attempt: 2,
                limit: Some(3),
            }),
            gave_up: false,
            message: Some("exited".into()),
            at_ms: 1234,
        });
        let back = report_from_wire(pb::AgentReport::from(r.clone()), "reports[0]").unwrap();
        assert_eq!(back, r);
        let g = AgentReport::GroupStopped(GroupStopped {
            group: "G".into(),
            epoch: 7,
            stop: 9,
            at_ms: 5,
        });
        assert_eq!(
            report_from_wire(pb::AgentReport::from(g.clone()), "r").unwrap(),
            g
        );
        let mut big = pb::AgentReport::from(r);
        if let Some(pb::agent_report::Kind::Transition(t)) = &mut big.kind {
            t.message = "x".repeat(MAX_MESSAGE + 1);
        }
        let e = report_from_wire(big, "reports[1]").unwrap_err();
        assert_eq!(e.field, "reports[1].transition.message");
        let e = report_from_wire(pb::AgentReport { kind: None }, "reports[2]").unwrap_err();
        assert_eq!(e.field, "reports[2]");
    }

    /// A desired state with every kind of value, handler, bound and stop, and every built-in
    /// type.
    fn sample() -> DesiredNode {
        let props = |pairs: Vec<(&str, Value)>| -> Properties {
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        let resource = |name: &str, handler: HandlerRef, properties: Properties| DesiredResource {
            name: name.into(),
            type_name: "t".into(),
            handler,
            properties,
            timings: Timings::default(),
            depends_on: vec!["a".into(), "b".into()],
            online: true,
        };
        let mut plugin = crate::builtin::process();
        plugin.name = "plugin".into();
        plugin.handler = HandlerRef::Exec("/usr/lib/nonstop/plugins/x".into());
        plugin.stop = StopBound::Within(Millis::secs(21));
        plugin.reconfigures = false;
        plugin.timings.restart = RestartPolicy {
            mode: RestartMode::NoRestart,
            limit: None,
            window: Millis(1),
            delay: Millis(u64::MAX),
        };
        plugin.schema.properties.push(
            PropertySpec::new("grace", PropertyKind::Duration)
                .within(Millis(0), Millis::secs(60))
                .default_value(Value::Str("5s".into())),
        );
        plugin.schema.properties.push(PropertySpec {
            min: Some(Bound::Int(-3)),
            ..PropertySpec::new("g", PropertyKind::Duration)
        });
        let mut types = crate::builtin::builtin_types();
        types.push(plugin);
        DesiredNode {
            node: "osdb-serv".into(),
            epoch: 9,
            groups: vec![
                DesiredGroup {
                    name: "G".into(),
                    epoch: 9,
                    resources: vec![
                        resource(
                            "every-kind",
                            HandlerRef::Builtin("process".into()),
                            props(vec![
                                ("bool", Value::Bool(true)),
                                ("int", Value::Int(i64::MIN)),
                                ("string", Value::Str(String::new())),
                                ("list", Value::List(vec!["x".into(), String::new()])),
                                ("empty-list", Value::List(Vec::new())),
                            ]),
                        ),
                        resource(
                            "ocf",
                            HandlerRef::Ocf {
                                provider: "heartbeat".into(),
                                agent: "Dummy".into(),
                            },
                            Properties::new(),
                        ),
                    ],
                    stop: Some(0),
                },
                DesiredGroup {
                    name: "H".into(),
                    epoch: 1,
                    resources: Vec::new(),
                    stop: None,
                },
            ],
            types,
        }
    }

    #[test]
    fn a_desired_state_with_every_kind_of_field_survives_the_wire() {
        let d = sample();
        let wire = desired_to_wire(&d);
        assert_eq!(desired_from_wire(wire.clone()).unwrap(), d);
        // Through the bytes too, as the stream carries it.
        let bytes = prost::Message::encode_to_vec(&wire);
        let decoded: pb::DesiredState = prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, wire);
        assert_eq!(desired_from_wire(decoded).unwrap(), d);
    }

    #[test]
    fn every_built_in_type_survives_the_wire() {
        for t in crate::builtin::builtin_types() {
            let back = type_from_wire(type_to_wire(&t), "types[0]").unwrap();
            assert_eq!(back, t, "{}", t.name);
        }
    }

    /// The sample's wire form with `f` applied to it, refused: the error's field and reason.
    fn refused(f: fn(&mut pb::DesiredState)) -> (String, String) {
        let mut wire = desired_to_wire(&sample());
        f(&mut wire);
        let e = desired_from_wire(wire).unwrap_err();
        (e.field, e.reason)
    }

    fn first_resource(w: &mut pb::DesiredState) -> &mut pb::DesiredResource {
        &mut w.groups[0].resources[0]
    }

    #[test]
    fn a_malformed_desired_state_is_refused_naming_the_field() {
        fn restart(w: &mut pb::DesiredState) -> &mut pb::RestartPolicy {
            let t = first_resource(w).timings.as_mut().unwrap();
            t.restart.as_mut().unwrap()
        }
        type Break = fn(&mut pb::DesiredState);
        let cases: Vec<(Break, &str, &str)> = vec![
            (
                |w| restart(w).mode = 99,
                "groups[0].resources[0].timings.restart.mode",
                "99 is not a restart mode",
            ),
            (
                |w| restart(w).mode = 0,
                "groups[0].resources[0].timings.restart.mode",
                "is not set",
            ),
            (
                |w| first_resource(w).handler = Some(pb::Handler { kind: None }),
                "groups[0].resources[0].handler",
                "names no handler (neither builtin, exec nor ocf)",
            ),
            (
                |w| first_resource(w).handler = None,
                "groups[0].resources[0].handler",
                "is not set",
            ),
            (
                |w| first_resource(w).timings = None,
                "groups[0].resources[0].timings",
                "is not set",
            ),
            (
                |w| {
                    let t = first_resource(w).timings.as_mut().unwrap();
                    t.restart = None;
                },
                "groups[0].resources[0].timings.restart",
                "is not set",
            ),
            (
                |w| {
                    let p = &mut w.groups[0].resources[1].properties;
                    p.insert("port".into(), pb::PropertyValue { kind: None });
                },
                "groups[0].resources[1].properties.port",
                "has no value (neither bool, int, string nor list)",
            ),
            (
                |w| w.types[1].properties[0].kind = 42,
                "types[1].properties[0].kind",
                "42 is not a property kind",
            ),
            (
                |w| w.types[0].properties[0].format = Some(7),
                "types[0].properties[0].format",
                "7 is not a format",
            ),
            (
                |w| w.types[0].properties[4].min = Some(pb::Bound { kind: None }),
                "types[0].properties[4].min",
                "has no value (neither an int nor a duration)",
            ),
            (
                |w| {
                    let d = &mut w.types[0].properties[4].default;
                    *d = Some(pb::PropertyValue { kind: None });
                },
                "types[0].properties[4].default",
                "has no value (neither bool, int, string nor list)",
            ),
            (
                |w| w.types[2].timings = None,
                "types[2].timings",
                "is not set",
            ),
            (
                |w| w.types[3].handler = Some(pb::Handler { kind: None }),
                "types[3].handler",
                "names no handler (neither builtin, exec nor ocf)",
            ),
        ];
        for (break_it, field, reason) in cases {
            assert_eq!(refused(break_it), (field.to_string(), reason.to_string()));
        }
    }

    mod round_trip {
        use super::*;
        use proptest::collection::{btree_map, vec};
        use proptest::option;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_:./ -]{0,12}"
        }

        fn millis() -> impl Strategy<Value = Millis> {
            any::<u64>().prop_map(Millis)
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::Int),
                ".{0,12}".prop_map(Value::Str),
                vec(".{0,6}", 0..4).prop_map(Value::List),
            ]
        }

        fn handler() -> impl Strategy<Value = HandlerRef> {
            prop_oneof![
                name().prop_map(HandlerRef::Builtin),
                name().prop_map(HandlerRef::Exec),
                (name(), name()).prop_map(|(provider, agent)| HandlerRef::Ocf { provider, agent }),
            ]
        }

        fn timings() -> impl Strategy<Value = Timings> {
            let mode = prop_oneof![
                Just(RestartMode::Restart),
                Just(RestartMode::RestartThenFailover),
                Just(RestartMode::NoRestart),
            ];
            let restart = (mode, option::of(any::<u32>()), millis(), millis()).prop_map(
                |(mode, limit, window, delay)| RestartPolicy {
                    mode,
                    limit,
                    window,
                    delay,
                },
            );
            (millis(), millis(), millis(), restart).prop_map(
                |(looks_alive, is_alive, pending_timeout, restart)| Timings {
                    looks_alive,
                    is_alive,
                    pending_timeout,
                    restart,
                },
            )
        }

        fn bound() -> impl Strategy<Value = Bound> {
            prop_oneof![
                any::<i64>().prop_map(Bound::Int),
                millis().prop_map(Bound::Duration),
            ]
        }

        fn spec() -> impl Strategy<Value = PropertySpec> {
            let kind = prop_oneof![
                Just(PropertyKind::String),
                Just(PropertyKind::Int),
                Just(PropertyKind::Bool),
                Just(PropertyKind::Enum),
                Just(PropertyKind::Duration),
                Just(PropertyKind::Address),
                Just(PropertyKind::List),
            ];
            let format = prop_oneof![
                Just(Format::NonEmpty),
                Just(Format::HostPort),
                Just(Format::KeyValue),
            ];
            let flags = (any::<bool>(), any::<bool>(), ".{0,12}", any::<bool>());
            (
                (name(), kind, option::of(bound()), option::of(bound())),
                (option::of(format), vec(name(), 0..3), option::of(value())),
                flags,
            )
                .prop_map(
                    |((name, kind, min, max), (format, values, default), flags)| PropertySpec {
                        name,
                        kind,
                        min,
                        max,
                        format,
                        values,
                        required: flags.0,
                        default,
                        restart: flags.1,
                        description: flags.2,
                        unique: flags.3,
                    },
                )
        }

        fn type_def() -> impl Strategy<Value = TypeDef> {
            let stop = prop_oneof![
                Just(StopBound::Forced),
                millis().prop_map(StopBound::Within)
            ];
            (
                (name(), handler(), vec(spec(), 0..4), timings()),
                (".{0,12}", stop, any::<bool>()),
            )
                .prop_map(
                    |((name, handler, specs, timings), (description, stop, reconfigures))| {
                        TypeDef {
                            name,
                            handler,
                            schema: Schema::new(specs),
                            timings,
                            description,
                            stop,
                            reconfigures,
                        }
                    },
                )
        }

        fn resource() -> impl Strategy<Value = DesiredResource> {
            (
                (name(), name(), handler()),
                (btree_map(name(), value(), 0..5), timings()),
                (vec(name(), 0..3), any::<bool>()),
            )
                .prop_map(
                    |((name, type_name, handler), (properties, timings), (depends_on, online))| {
                        DesiredResource {
                            name,
                            type_name,
                            handler,
                            properties,
                            timings,
                            depends_on,
                            online,
                        }
                    },
                )
        }

        fn group() -> impl Strategy<Value = DesiredGroup> {
            (
                name(),
                any::<u64>(),
                vec(resource(), 0..4),
                option::of(any::<u64>()),
            )
                .prop_map(|(name, epoch, resources, stop)| DesiredGroup {
                    name,
                    epoch,
                    resources,
                    stop,
                })
        }

        fn desired() -> impl Strategy<Value = DesiredNode> {
            (
                name(),
                any::<u64>(),
                vec(group(), 0..4),
                vec(type_def(), 0..3),
            )
                .prop_map(|(node, epoch, groups, types)| DesiredNode {
                    node,
                    epoch,
                    groups,
                    types,
                })
        }

        proptest! {
            #[test]
            fn any_desired_state_survives_the_wire_and_its_bytes(d in desired()) {
                let wire = desired_to_wire(&d);
                let bytes = prost::Message::encode_to_vec(&wire);
                let decoded: pb::DesiredState = prost::Message::decode(bytes.as_slice()).unwrap();
                prop_assert_eq!(desired_from_wire(decoded).unwrap(), d);
            }
        }
    }
}
