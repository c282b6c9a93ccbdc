//! Property schemas: what private properties a resource type takes, and the one validation
//! routine that both the controller (when configuration is applied) and the agent (in `open`)
//! run, so the two can never disagree. The paper's `MaxUser` (an integer, at most 10) is the model.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::millis::Millis;

/// A property value as written in configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text: strings, durations, addresses, enum choices.
    Str(String),
    /// A list of strings (command arguments, for instance).
    List(Vec<String>),
}

/// By hand rather than `#[serde(untagged)]`, so that a bad value is reported at its own key
/// with what was found ("invalid type: map, expected text, a whole number, ...") instead of
/// "data did not match any variant".
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text, a whole number, true/false or a list of text")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("{u} is too large")))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            items.push(s);
        }
        Ok(Value::List(items))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => write!(f, "{l:?}"),
        }
    }
}

impl Value {
    /// The value as plain text, the way an environment variable or an OCF agent receives it.
    pub fn to_plain(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.clone(),
            Value::List(l) => l.join(" "),
        }
    }
}

/// Property values by name, in a stable order.
pub type Properties = BTreeMap<String, Value>;

/// The kind of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PropertyKind {
    /// Any text.
    String,
    /// A whole number, bounded by `min` and `max` when given.
    Int,
    /// `true` or `false`.
    Bool,
    /// One of `values`.
    Enum,
    /// A duration such as `5s`.
    Duration,
    /// An IPv4 or IPv6 address, optionally with a `/prefix`.
    Address,
    /// A list of strings.
    List,
}

/// What the text of a `string` property, or of each item of a `list` property, must look like.
/// One definition of each rule, used by the controller (when configuration is applied) and by
/// the handlers (when a resource opens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Any text with something besides spaces in it.
    NonEmpty,
    /// `HOST:PORT`: a host name or an IP address (IPv6 in brackets, `[::1]:80`), and a port
    /// 1..=65535 (see [`check_host_port`]).
    HostPort,
    /// `KEY=VALUE` with a KEY that is not empty (see [`split_key_value`]).
    KeyValue,
}

impl Format {
    /// Checks one text against the format.
    pub fn check(self, s: &str) -> Result<(), String> {
        match self {
            Format::NonEmpty if s.trim().is_empty() => Err(format!("{s:?} is empty")),
            Format::NonEmpty => Ok(()),
            Format::HostPort => check_host_port(s),
            Format::KeyValue => split_key_value(s).map(drop),
        }
    }

    /// The format's name, as configuration writes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::NonEmpty => "non-empty",
            Format::HostPort => "host-port",
            Format::KeyValue => "key-value",
        }
    }
}

/// A bound of an `int` property (a whole number) or of a `duration` property (a duration such
/// as `5s`; a plain number is seconds, as everywhere in configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// A whole number.
    Int(i64),
    /// A duration with a unit.
    Duration(Millis),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Int(i) => write!(f, "{i}"),
            Bound::Duration(d) => write!(f, "{d}"),
        }
    }
}

impl Bound {
    /// The bound as a whole number, for an `int` property.
    fn int(self) -> Option<i64> {
        match self {
            Bound::Int(i) => Some(i),
            Bound::Duration(_) => None,
        }
    }

    /// The bound as a duration, for a `duration` property (a whole number is seconds).
    fn duration(self) -> Option<Millis> {
        match self {
            Bound::Int(i) => u64::try_from(i).ok().and_then(Millis::checked_secs),
            Bound::Duration(d) => Some(d),
        }
    }
}

/// One private property of a resource type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    /// The property's name, as written in configuration (`MaxUser`).
    pub name: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: PropertyKind,
    /// Smallest allowed value (ints and durations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Bound>,
    /// Largest allowed value (ints and durations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Bound>,
    /// What the text must look like (strings, and each item of a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// The allowed choices (enums only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Whether a resource must set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// The value used when a resource does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Whether changing it on a running resource needs the resource restarted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    /// Whether no two resources of the type may have the same value for it on one node (OCF
    /// meta-data's `unique="1"`: two resources writing one state file, or holding one address).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// One line for `nonstop type show`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl PropertySpec {
    /// A property of `kind` with no bounds, optional, no default.
    pub fn new(name: &str, kind: PropertyKind) -> Self {
        PropertySpec {
            name: name.to_string(),
            kind,
            min: None,
            max: None,
            format: None,
            values: Vec::new(),
            required: false,
            default: None,
            restart: false,
            unique: false,
            description: String::new(),
        }
    }

    /// Marks it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets its default.
    pub fn default_value(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }

    /// Bounds an int.
    pub fn range(mut self, min: Option<i64>, max: Option<i64>) -> Self {
        self.min = min.map(Bound::Int);
        self.max = max.map(Bound::Int);
        self
    }

    /// Bounds a duration.
    pub fn within(mut self, min: Millis, max: Millis) -> Self {
        self.min = Some(Bound::Duration(min));
        self.max = Some(Bound::Duration(max));
        self
    }

    /// Sets the format of a string, or of each item of a list.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Sets the choices of an enum.
    pub fn choices(mut self, values: &[&str]) -> Self {
        self.values = values.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Marks it as needing a restart when changed.
    pub fn needs_restart(mut self) -> Self {
        self.restart = true;
        self
    }

    /// Sets its description.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// Checks that the spec itself makes sense (bounds on ints and durations only, of their
    /// kind; choices on enums only; formats on strings and lists only; a default that passes
    /// its own check).
    pub fn check(&self) -> Result<(), PropertyError> {
        let err = |reason: String| Err(PropertyError::new(&self.name, reason));
        for (field, bound) in [("min", self.min), ("max", self.max)] {
            let Some(b) = bound else { continue };
            match self.kind {
                PropertyKind::Int if b.int().is_none() => {
                    return err(format!("{field} {b} is not a whole number"));
                }
                PropertyKind::Duration if b.duration().is_none() => {
                    return err(format!("{field} {b} is not a duration"));
                }
                PropertyKind::Int | PropertyKind::Duration => {}
                _ => return err("min and max apply to int and duration properties only".into()),
            }
        }
        let (lo, hi) = (self.min, self.max);
        let inverted = match self.kind {
            PropertyKind::Duration => lo.and_then(Bound::duration) > hi.and_then(Bound::duration),
            _ => lo.and_then(Bound::int) > hi.and_then(Bound::int),
        };
        if let (Some(lo), Some(hi)) = (lo, hi)
            && inverted
        {
            return err(format!("min {lo} is above max {hi}"));
        }
        if self.format.is_some() && !matches!(self.kind, PropertyKind::String | PropertyKind::List)
        {
            return err("format applies to string and list properties only".into());
        }
        if self.kind == PropertyKind::Enum && self.values.is_empty() {
            return err("an enum property needs a list of values".into());
        }
        if self.kind != PropertyKind::Enum && !self.values.is_empty() {
            return err("values apply to enum properties only".into());
        }
        if let Some(d) = &self.default {
            self.normalize(d)
                .map_err(|reason| PropertyError::new(&self.name, format!("default: {reason}")))?;
        }
        Ok(())
    }

    /// Checks one value against this spec and returns it in canonical form.
    pub fn normalize(&self, v: &Value) -> Result<Value, String> {
        let v = self.of_kind(v)?;
        match (self.format, &v) {
            (Some(f), Value::Str(s)) => f.check(s)?,
            (Some(f), Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    f.check(item)
                        .map_err(|reason| format!("item {}: {reason}", i + 1))?;
                }
            }
            _ => {}
        }
        Ok(v)
    }

    /// The value in canonical form, if it is of the spec's kind and within its bounds.
    fn of_kind(&self, v: &Value) -> Result<Value, String> {
        match (self.kind, v) {
            (PropertyKind::String, Value::Str(_)) => Ok(v.clone()),
            (PropertyKind::String, Value::Int(i)) => Ok(Value::Str(i.to_string())),
            (PropertyKind::Int, Value::Int(i)) => self.bounded(*i),
            (PropertyKind::Int, Value::Str(s)) => match s.trim().parse::<i64>() {
                Ok(i) => self.bounded(i),
                Err(_) => Err(format!("{s:?} is not a whole number")),
            },
            (PropertyKind::Bool, Value::Bool(_)) => Ok(v.clone()),
            (PropertyKind::Bool, Value::Str(s)) => parse_bool(s).map(Value::Bool),
            (PropertyKind::Enum, Value::Str(s)) if self.values.contains(s) => Ok(v.clone()),
            (PropertyKind::Enum, _) => Err(format!("{v} is not one of {}", self.values.join(", "))),
            (PropertyKind::Duration, Value::Str(s)) => {
                let d = s.parse::<Millis>().map_err(|e| e.to_string())?;
                self.bounded_duration(d)
            }
            (PropertyKind::Duration, Value::Int(i)) if *i >= 0 => {
                let d = Millis::checked_secs(*i as u64)
                    .ok_or_else(|| format!("{i} seconds is too long a duration"))?;
                self.bounded_duration(d)
            }
            (PropertyKind::Address, Value::Str(s)) => check_address(s).map(|_| v.clone()),
            (PropertyKind::List, Value::List(_)) => Ok(v.clone()),
            (PropertyKind::List, Value::Str(s)) => Ok(Value::List(vec![s.clone()])),
            (kind, v) => Err(format!("{v} is not a {}", kind_name(kind))),
        }
    }

    fn bounded(&self, i: i64) -> Result<Value, String> {
        if let Some(lo) = self.min.and_then(Bound::int)
            && i < lo
        {
            return Err(format!("{i} is below the minimum {lo}"));
        }
        if let Some(hi) = self.max.and_then(Bound::int)
            && i > hi
        {
            return Err(format!("{i} is above the maximum {hi}"));
        }
        Ok(Value::Int(i))
    }

    fn bounded_duration(&self, d: Millis) -> Result<Value, String> {
        if let Some(lo) = self.min.and_then(Bound::duration)
            && d < lo
        {
            return Err(format!("{d} is below the minimum {lo}"));
        }
        if let Some(hi) = self.max.and_then(Bound::duration)
            && d > hi
        {
            return Err(format!("{d} is above the maximum {hi}"));
        }
        Ok(Value::Str(d.to_string()))
    }
}

fn kind_name(k: PropertyKind) -> &'static str {
    match k {
        PropertyKind::String => "string",
        PropertyKind::Int => "whole number",
        PropertyKind::Bool => "bool (true or false)",
        PropertyKind::Enum => "choice",
        PropertyKind::Duration => "duration",
        PropertyKind::Address => "IP address",
        PropertyKind::List => "list of strings",
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" => Ok(true),
        "false" | "no" | "n" | "off" | "0" => Ok(false),
        _ => Err(format!("{s:?} is not a bool (true or false)")),
    }
}

/// Parses `addr` or `addr/prefix` (IPv4 or IPv6), with the prefix within the family's width.
pub fn check_address(s: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= width => Some(n),
            _ => return Err(format!("{s:?}: prefix must be 0..={width}")),
        },
    };
    Ok((ip, prefix))
}

/// Checks `HOST:PORT`: a host name (letters, digits and `-` in dot-separated labels of at most
/// 63 characters, at most 253 in all), an IPv4 address, or an IPv6 address in brackets
/// (`[::1]:7701`); then a port 1..=65535. The one rule for every address nonstop connects to:
/// a node's `address`, a process's `check_tcp`.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let example = "write HOST:PORT, like 127.0.0.1:7000 or [::1]:7000";
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("{s:?} is not HOST:PORT: {example}"))?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{s:?}: {ip:?} is not an IPv6 address"))?;
        (None, port)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not HOST:PORT: {example}"))?;
        if host.contains(':') {
            return Err(format!(
                "{s:?}: an IPv6 address goes in brackets, like [::1]:7000"
            ));
        }
        (Some(host), port)
    };
    if let Some(host) = host {
        check_host(host).map_err(|why| format!("{s:?}: {why}"))?;
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        Ok(p) => Err(format!("{s:?}: port {p} is not within 1..=65535")),
        Err(_) => Err(format!("{s:?}: port {port:?} is not a number 1..=65535")),
    }
}

/// A host name or an IPv4 address.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return host
            .parse::<std::net::Ipv4Addr>()
            .map(drop)
            .map_err(|_| format!("{host:?} is not an IPv4 address"));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{host:?} is not a host name (letters, digits and '-' in labels separated by dots)"
        ))
    }
}

/// Splits `KEY=VALUE` at the first `=`; the KEY must not be empty. The one rule for `env`
/// entries, used by the schema (`key-value`) and by the handlers that set the environment.
pub fn split_key_value(s: &str) -> Result<(&str, &str), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE (a name, '=', then the value)"
        )),
    }
}

/// A property that failed validation, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("property {property:?}: {reason}")]
pub struct PropertyError {
    /// The property's name.
    pub property: String,
    /// Why it was rejected.
    pub reason: String,
}

impl PropertyError {
    fn new(property: &str, reason: impl Into<String>) -> Self {
        PropertyError {
            property: property.to_string(),
            reason: reason.into(),
        }
    }
}

/// The private properties of a resource type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema {
    /// The properties, in the order they are documented.
    pub properties: Vec<PropertySpec>,
}

impl Schema {
    /// A schema of these properties.
    pub fn new(properties: Vec<PropertySpec>) -> Self {
        Schema { properties }
    }

    /// The spec of `name`, if the schema has it.
    pub fn get(&self, name: &str) -> Option<&PropertySpec> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Checks every spec and that no name appears twice.
    pub fn check(&self) -> Result<(), Vec<PropertyError>> {
        let mut errors: Vec<PropertyError> = Vec::new();
        for (i, p) in self.properties.iter().enumerate() {
            if self.properties[..i].iter().any(|q| q.name == p.name) {
                errors.push(PropertyError::new(&p.name, "declared twice"));
            }
            if let Err(e) = p.check() {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates `values` against the schema: unknown names, missing required properties and
    /// bad values are all reported at once. On success returns the values in canonical form
    /// with defaults filled in.
    pub fn validate(&self, values: &Properties) -> Result<Properties, Vec<PropertyError>> {
        let mut errors = Vec::new();
        let mut out = Properties::new();
        for (name, v) in values {
            match self.get(name) {
                None => errors.push(PropertyError::new(name, self.unknown())),
                Some(spec) => match spec.normalize(v) {
                    Ok(v) => {
                        out.insert(name.clone(), v);
                    }
                    Err(reason) => errors.push(PropertyError::new(name, reason)),
                },
            }
        }
        for spec in &self.properties {
            if values.contains_key(&spec.name) {
                continue;
            }
            match (&spec.default, spec.required) {
                (_, true) => errors.push(PropertyError::new(&spec.name, "is required")),
                (Some(d), false) => {
                    out.insert(spec.name.clone(), d.clone());
                }
                (None, false) => {}
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    fn unknown(&self) -> String {
        let known: Vec<&str> = self.properties.iter().map(|p| p.name.as_str()).collect();
        if known.is_empty() {
            "unknown property: this type takes no properties".to_string()
        } else {
            format!("unknown property (known: {})", known.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_schema() -> Schema {
        Schema::new(vec![
            PropertySpec::new("MaxUser", PropertyKind::Int)
                .range(Some(1), Some(10))
                .default_value(Value::Int(10)),
            PropertySpec::new("Port", PropertyKind::Int)
                .range(Some(1), Some(65535))
                .required(),
            PropertySpec::new("Mode", PropertyKind::Enum).choices(&["fast", "safe"]),
            PropertySpec::new("Grace", PropertyKind::Duration),
            PropertySpec::new("Vip", PropertyKind::Address),
            PropertySpec::new("Verbose", PropertyKind::Bool),
        ])
    }

    fn props(pairs: &[(&str, Value)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn max_user_is_bounded_like_the_paper() {
        let s = chat_schema();
        let ok = s
            .validate(&props(&[
                ("Port", Value::Int(5000)),
                ("MaxUser", Value::Int(10)),
            ]))
            .unwrap();
        assert_eq!(ok["MaxUser"], Value::Int(10));
        let err = s
            .validate(&props(&[
                ("Port", Value::Int(5000)),
                ("MaxUser", Value::Int(11)),
            ]))
            .unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "property \"MaxUser\": 11 is above the maximum 10"
        );
        let err = s
            .validate(&props(&[
                ("Port", Value::Int(5000)),
                ("MaxUser", Value::Int(0)),
            ]))
            .unwrap_err();
        assert!(err[0].reason.contains("below the minimum 1"));
    }

    #[test]
    fn defaults_fill_in_and_required_is_enforced() {
        let s = chat_schema();
        let ok = s
            .validate(&props(&[("Port", Value::Str("80".into()))]))
            .unwrap();
        assert_eq!(ok["MaxUser"], Value::Int(10));
        assert_eq!(ok["Port"], Value::Int(80));
        let err = s.validate(&Properties::new()).unwrap_err();
        assert_eq!(err, vec![PropertyError::new("Port", "is required")]);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let s = chat_schema();
        let err = s
            .validate(&props(&[
                ("Port", Value::Int(70000)),
                ("Mode", Value::Str("reckless".into())),
                ("Grace", Value::Str("soon".into())),
                ("Vip", Value::Str("198.18.0.300/24".into())),
                ("Verbose", Value::Str("perhaps".into())),
                ("Colour", Value::Str("blue".into())),
            ]))
            .unwrap_err();
        let names: Vec<&str> = err.iter().map(|e| e.property.as_str()).collect();
        assert_eq!(names, ["Colour", "Grace", "Mode", "Port", "Verbose", "Vip"]);
        assert!(err[0].reason.contains("unknown property (known: MaxUser"));
    }

    #[test]
    fn addresses_take_an_optional_prefix_within_the_family() {
        assert!(check_address("198.18.0.10").is_ok());
        assert_eq!(check_address("198.18.0.10/24").unwrap().1, Some(24));
        assert!(check_address("fd00::1/64").is_ok());
        assert!(check_address("198.18.0.10/33").is_err());
        assert!(check_address("fd00::1/129").is_err());
        assert!(check_address("osdb-serv").is_err());
    }

    #[test]
    fn i10_8_host_port_is_a_host_and_a_port_1_to_65535() {
        for good in [
            "127.0.0.1:7000",
            "[::1]:80",
            "localhost:1",
            "osdb-serv.example.com:65535",
            "[fd00::10]:7701",
        ] {
            assert_eq!(check_host_port(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("127.0.0.1:99999", "port 99999 is not within 1..=65535"),
            ("127.0.0.1:0", "port 0 is not within 1..=65535"),
            ("localhost", "is not HOST:PORT"),
            ("::1:80", "an IPv6 address goes in brackets"),
            ("[::1]80", "is not HOST:PORT"),
            ("[nope]:80", "\"nope\" is not an IPv6 address"),
            (":80", "the host is missing"),
            ("a b:80", "is not a host name"),
            ("-a:80", "is not a host name"),
            ("1.2.3.999:80", "is not an IPv4 address"),
            ("host:", "port \"\" is not a number"),
            ("host:8x", "port \"8x\" is not a number"),
            ("", "is not HOST:PORT"),
        ] {
            let err = check_host_port(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn i10_8_formats_check_strings_and_every_item_of_a_list() {
        let s = Schema::new(vec![
            PropertySpec::new("command", PropertyKind::String).format(Format::NonEmpty),
            PropertySpec::new("check_tcp", PropertyKind::String).format(Format::HostPort),
            PropertySpec::new("env", PropertyKind::List).format(Format::KeyValue),
        ]);
        let ok = props(&[
            ("command", Value::Str("x".into())),
            ("check_tcp", Value::Str("127.0.0.1:7000".into())),
            (
                "env",
                Value::List(vec!["A=1".into(), "B=".into(), "C=x=y".into()]),
            ),
        ]);
        assert!(s.validate(&ok).is_ok());
        let bad = props(&[
            ("command", Value::Str("  ".into())),
            ("check_tcp", Value::Str("127.0.0.1:99999".into())),
            ("env", Value::List(vec!["A=1".into(), "NOEQUALS".into()])),
        ]);
        let err: Vec<String> = s
            .validate(&bad)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            err,
            [
                "property \"check_tcp\": \"127.0.0.1:99999\": port 99999 is not within 1..=65535",
                "property \"command\": \"  \" is empty",
                "property \"env\": item 2: \"NOEQUALS\" is not KEY=VALUE (a name, '=', then the \
                 value)",
            ]
        );
        let empty_key = props(&[("env", Value::Str("=x".into()))]);
        assert!(
            s.validate(&empty_key).is_err(),
            "a single string is a list of one"
        );
    }

    #[test]
    fn i10_8_durations_keep_within_their_bounds() {
        let grace = PropertySpec::new("stop_grace", PropertyKind::Duration)
            .within(Millis(0), Millis::secs(3600));
        assert_eq!(
            grace.normalize(&Value::Str("1h".into())),
            Ok(Value::Str("1h".into()))
        );
        assert_eq!(
            grace.normalize(&Value::Str("61m".into())),
            Err("61m is above the maximum 1h".into())
        );
        // A plain number is seconds, and one too large for milliseconds is an error, not a wrap.
        assert_eq!(
            grace.normalize(&Value::Int(3601)),
            Err("3601s is above the maximum 1h".into())
        );
        assert!(grace.normalize(&Value::Int(i64::MAX)).is_err());
        assert!(
            grace
                .normalize(&Value::Str("18446744073709551s".into()))
                .is_err()
        );
    }

    #[test]
    fn i10_8_bounds_and_formats_fit_their_kind() {
        let bad = Schema::new(vec![
            PropertySpec::new("A", PropertyKind::Int).format(Format::NonEmpty),
            PropertySpec::new("B", PropertyKind::Int).within(Millis(0), Millis(5)),
            PropertySpec::new("C", PropertyKind::Duration).within(Millis(5), Millis(1)),
            PropertySpec::new("D", PropertyKind::Duration).range(Some(-1), None),
            PropertySpec::new("E", PropertyKind::String)
                .format(Format::HostPort)
                .default_value(Value::Str("nowhere".into())),
        ]);
        let errs: Vec<String> = bad
            .check()
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            [
                "property \"A\": format applies to string and list properties only",
                "property \"B\": min 0s is not a whole number",
                "property \"C\": min 5ms is above max 1ms",
                "property \"D\": min -1 is not a duration",
                "property \"E\": default: \"nowhere\" is not HOST:PORT: write HOST:PORT, like \
                 127.0.0.1:7000 or [::1]:7000",
            ]
        );
        // Written in a cluster.yaml: an int bound, or a duration with its unit.
        let spec: PropertySpec =
            serde_json::from_str(r#"{"name": "G", "type": "duration", "min": 1, "max": "1h"}"#)
                .unwrap();
        assert_eq!(
            (spec.min, spec.max),
            (
                Some(Bound::Int(1)),
                Some(Bound::Duration(Millis::secs(3600)))
            )
        );
        assert!(spec.check().is_ok());
        assert!(spec.normalize(&Value::Str("500ms".into())).is_err());
    }

    #[test]
    fn a_bad_spec_is_caught() {
        let bad = Schema::new(vec![
            PropertySpec::new("A", PropertyKind::String).range(Some(1), None),
            PropertySpec::new("B", PropertyKind::Int).range(Some(5), Some(1)),
            PropertySpec::new("C", PropertyKind::Enum),
            PropertySpec::new("D", PropertyKind::Int)
                .range(None, Some(3))
                .default_value(Value::Int(4)),
            PropertySpec::new("D", PropertyKind::Bool),
        ]);
        let errs = bad.check().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
    }
}
