//! Types that extend a built-in: a [`TypeDef`] whose handler is `Builtin("process")` but whose
//! schema adds properties of its own (the paper's chat server: the process schema plus
//! `MaxUser`, an int 1..=10). The handler validates against the type's own schema, so the added
//! properties are checked like any other, and passes the added ones to the program it runs as
//! environment variables `NONSTOP_PROP_<name>`.

use nonstop_contract::millis::Millis;
use nonstop_contract::schema::{Properties, PropertyError, Schema, Value};
use nonstop_contract::typedef::TypeDef;
use std::time::Duration;

use crate::handler::{HandlerError, Result};

/// A resource's properties after validation, split between the base type's and the extension's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated {
    /// Every property, canonical, defaults filled in.
    pub all: Properties,
    /// The properties the base schema does not know, as `NONSTOP_PROP_<name>` variables.
    pub extra_env: Vec<(String, String)>,
}

impl Validated {
    /// A text property (strings, enum choices, durations, addresses).
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.all.get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A whole-number property.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.all.get(name) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A list property (empty when unset).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.all.get(name) {
            Some(Value::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    /// A duration property (validation left it in canonical form, so it parses).
    pub fn duration(&self, name: &str) -> Option<Duration> {
        self.str(name)?
            .parse::<Millis>()
            .ok()
            .map(Millis::as_duration)
    }
}

/// Validates `props` against `def`'s own schema, after checking that the schema keeps every
/// property of `base` (an extension may add properties, never drop or retype the built-in's).
/// The built-in's own rules (bounds, formats) hold too, even for a type recorded before they
/// were written.
pub fn validate(def: &TypeDef, base: &Schema, props: &Properties) -> Result<Validated> {
    check_extends(def, base).map_err(HandlerError::InvalidProperties)?;
    let all = def
        .schema
        .validate(props)
        .map_err(HandlerError::InvalidProperties)?;
    let broken: Vec<PropertyError> = all
        .iter()
        .filter_map(|(name, v)| {
            let reason = base.get(name)?.normalize(v).err()?;
            Some(PropertyError {
                property: name.clone(),
                reason,
            })
        })
        .collect();
    if !broken.is_empty() {
        return Err(HandlerError::InvalidProperties(broken));
    }
    let extra_env = all
        .iter()
        .filter(|(name, _)| base.get(name).is_none())
        .map(|(name, v)| (env_name("NONSTOP_PROP_", name), v.to_plain()))
        .collect();
    Ok(Validated { all, extra_env })
}

/// Checks that `def.schema` has every property of `base`, with the same kind.
pub fn check_extends(def: &TypeDef, base: &Schema) -> std::result::Result<(), Vec<PropertyError>> {
    let errors: Vec<PropertyError> = base
        .properties
        .iter()
        .filter_map(|b| {
            match def.schema.get(&b.name) {
                Some(p) if p.kind == b.kind => None,
                Some(_) => Some(format!(
                    "type {:?} changes the kind of the built-in property",
                    def.name
                )),
                None => Some(format!(
                    "type {:?} drops this property of its built-in type",
                    def.name
                )),
            }
            .map(|reason| PropertyError {
                property: b.name.clone(),
                reason,
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `PREFIX` + the property name with every character that a shell variable cannot hold turned
/// into `_` (`max-user` -> `NONSTOP_PROP_max_user`; case is kept).
pub fn env_name(prefix: &str, property: &str) -> String {
    let clean: String = property
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_contract::builtin;
    use nonstop_contract::schema::{PropertyKind, PropertySpec};

    fn chat_server() -> TypeDef {
        let mut def = builtin::process();
        def.name = "chat-server".into();
        def.schema.properties.push(
            PropertySpec::new("MaxUser", PropertyKind::Int)
                .range(Some(1), Some(10))
                .required(),
        );
        def
    }

    fn props(max_user: i64) -> Properties {
        Properties::from([
            ("command".into(), Value::Str("/bin/true".into())),
            ("MaxUser".into(), Value::Int(max_user)),
        ])
    }

    #[test]
    fn added_properties_are_validated_and_become_environment() {
        let base = builtin::process().schema;
        let ok = validate(&chat_server(), &base, &props(7)).unwrap();
        assert_eq!(
            ok.extra_env,
            vec![("NONSTOP_PROP_MaxUser".into(), "7".into())]
        );
        let err = validate(&chat_server(), &base, &props(11)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid properties: property \"MaxUser\": 11 is above the maximum 10"
        );
    }

    #[test]
    fn i10_8_the_builtin_rules_hold_for_a_type_recorded_before_them() {
        // A type stored by an older controller: the process schema without its formats.
        let mut old = chat_server();
        old.schema
            .properties
            .iter_mut()
            .for_each(|p| p.format = None);
        let mut p = props(7);
        p.insert("env".into(), Value::List(vec!["NOEQUALS".into()]));
        let err = validate(&old, &builtin::process().schema, &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid properties: property \"env\": item 1: \"NOEQUALS\" is not KEY=VALUE (a \
             name, '=', then the value)"
        );
    }

    #[test]
    fn an_extension_cannot_drop_a_builtin_property() {
        let mut def = chat_server();
        def.schema.properties.retain(|p| p.name != "command");
        let err = check_extends(&def, &builtin::process().schema).unwrap_err();
        assert_eq!(err[0].property, "command");
    }
}
