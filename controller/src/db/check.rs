//! Checking new property values for a resource as `apply` would, without changing anything:
//! what the web dashboard's property form shows beside each field.

use nonstop_contract::schema::{PropertyKind, Value};

use super::{ApplyError, ClusterDb, Command, Op, ResourceSpec};
use crate::time::Time;

/// A field `apply` would refuse, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// `properties.NAME`, or another field of the resource.
    pub field: String,
    /// Why.
    pub reason: String,
}

impl ClusterDb {
    /// Resource `name` with these property values as typed (a list: one item per line; a
    /// property left out takes its default), all else as it is.
    pub fn resource_with(
        &self,
        name: &str,
        typed: &std::collections::BTreeMap<String, String>,
    ) -> Result<ResourceSpec, ApplyError> {
        let r = self
            .resources
            .get(name)
            .ok_or_else(|| ApplyError::NotFound {
                kind: "resource",
                name: name.to_string(),
            })?;
        let ty = self.type_named(&r.spec.type_name);
        let mut spec = r.spec.clone();
        spec.properties = typed
            .iter()
            .map(|(k, v)| {
                let kind = ty.and_then(|t| t.schema.get(k)).map(|p| p.kind);
                let value = match kind {
                    Some(PropertyKind::List) => Value::List(
                        v.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(String::from)
                            .collect(),
                    ),
                    _ => Value::Str(v.clone()),
                };
                (k.clone(), value)
            })
            .collect();
        Ok(spec)
    }

    /// The problems `apply` would find with resource `name` given these property values as
    /// typed ([`ClusterDb::resource_with`]). Every property's problem from the type's schema at
    /// once, then, if the schema takes them, what applying the whole resource to a copy of the
    /// database says. Empty: it would be taken.
    pub fn check_resource(
        &self,
        name: &str,
        typed: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<FieldProblem>, ApplyError> {
        let spec = self.resource_with(name, typed)?;
        if let Some(t) = self.type_named(&spec.type_name)
            && let Err(errors) = self.validate_properties(t, &spec.properties)
        {
            return Ok(errors
                .into_iter()
                .map(|e| FieldProblem {
                    field: format!("properties.{}", e.property),
                    reason: e.reason,
                })
                .collect());
        }
        let mut copy = self.clone();
        let cmd = Command::operator(Time(0), "check", Op::PutResource(spec));
        Ok(match copy.apply(cmd) {
            Ok(_) => Vec::new(),
            Err(ApplyError::Invalid { field, reason, .. }) => vec![FieldProblem { field, reason }],
            Err(e) => vec![FieldProblem {
                field: String::new(),
                reason: e.to_string(),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn typed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_property_problem_is_named_and_nothing_changes() {
        let db = super::super::tests::paper();
        let before = db.clone();
        // The paper's `disk` is a process: `command` is required.
        let problems = db
            .check_resource("disk", &typed(&[("plugg", "x")]))
            .unwrap();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"properties.plugg"), "{problems:?}");
        assert!(fields.contains(&"properties.command"), "{problems:?}");
        let unknown = problems
            .iter()
            .find(|p| p.field == "properties.plugg")
            .unwrap();
        assert!(
            unknown.reason.starts_with("unknown property"),
            "{unknown:?}"
        );
        assert_eq!(db, before, "a check changes nothing");
    }

    #[test]
    fn values_apply_would_take_give_no_problem_and_lists_are_one_item_per_line() {
        let db = super::super::tests::paper();
        let problems = db
            .check_resource(
                "disk",
                &typed(&[("command", "/bin/sleep"), ("args", "100\n\n  -x  \n")]),
            )
            .unwrap();
        assert_eq!(problems, vec![]);
        let bad = db
            .check_resource("disk", &typed(&[("command", "x"), ("instances", "many")]))
            .unwrap();
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].field, "properties.instances");
        assert!(matches!(
            db.check_resource("nope", &typed(&[])),
            Err(ApplyError::NotFound { .. })
        ));
    }
}
