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

/// One private property of a resource type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    /// The property's name, as written in configuration (`MaxUser`).
    pub name: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: PropertyKind,
    /// Smallest allowed value (ints only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Largest allowed value (ints only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
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
            values: Vec::new(),
            required: false,
            default: None,
            restart: false,
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
        self.min = min;
        self.max = max;
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

    /// Checks that the spec itself makes sense (bounds on ints only, choices on enums only,
    /// a default that passes its own check).
    pub fn check(&self) -> Result<(), PropertyError> {
        let err = |reason: String| Err(PropertyError::new(&self.name, reason));
        if (self.min.is_some() || self.max.is_some()) && self.kind != PropertyKind::Int {
            return err("min and max apply to int properties only".into());
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max)
            && lo > hi
        {
            return err(format!("min {lo} is above max {hi}"));
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
            (PropertyKind::Duration, Value::Str(s)) => s
                .parse::<Millis>()
                .map(|m| Value::Str(m.to_string()))
                .map_err(|e| e.to_string()),
            (PropertyKind::Duration, Value::Int(i)) if *i >= 0 => {
                Ok(Value::Str(Millis::secs(*i as u64).to_string()))
            }
            (PropertyKind::Address, Value::Str(s)) => check_address(s).map(|_| v.clone()),
            (PropertyKind::List, Value::List(_)) => Ok(v.clone()),
            (PropertyKind::List, Value::Str(s)) => Ok(Value::List(vec![s.clone()])),
            (kind, v) => Err(format!("{v} is not a {}", kind_name(kind))),
        }
    }

    fn bounded(&self, i: i64) -> Result<Value, String> {
        if let Some(lo) = self.min
            && i < lo
        {
            return Err(format!("{i} is below the minimum {lo}"));
        }
        if let Some(hi) = self.max
            && i > hi
        {
            return Err(format!("{i} is above the maximum {hi}"));
        }
        Ok(Value::Int(i))
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
