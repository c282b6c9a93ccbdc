//! Unique parameters: a property its type marks `unique` (OCF meta-data's `unique="1"`, or
//! `unique: true` in `types:`) may not hold the same value in two resources of that type, as
//! pcs refuses two `ocf:heartbeat:Dummy` resources with one `state` file or two IPaddr2 with
//! one `ip`. The rule is cluster-wide, as in OCF: a value a resource uses on any node (its
//! `properties`, or a node's override) clashes with any value another resource of the type
//! uses anywhere.

use nonstop_contract::{TypeDef, Value};

use super::ClusterDb;
use super::error::{Result, invalid, subject};
use super::model::ResourceSpec;

/// Each value of `name` that `spec` uses, with the field that sets it.
fn uses<'a>(spec: &'a ResourceSpec, name: &str) -> Vec<(String, &'a Value)> {
    let base = (spec.properties.get(name)).map(|v| (format!("properties.{name}"), v));
    let nodes = (spec.node_properties.iter()).filter_map(|(n, p)| {
        p.get(name)
            .map(|v| (format!("node_properties.{n}.{name}"), v))
    });
    base.into_iter().chain(nodes).collect()
}

impl ClusterDb {
    /// Refuses `spec` (already validated against `ty`) when a unique property of `ty` has a
    /// value another resource of the type uses, naming the field and that resource.
    pub(super) fn check_unique(&self, spec: &ResourceSpec, ty: &TypeDef) -> Result<()> {
        let unique = ty.schema.properties.iter().filter(|p| p.unique);
        for p in unique {
            let others = (self.resources.values())
                .map(|r| &r.spec)
                .filter(|o| o.type_name == spec.type_name && o.name != spec.name);
            for other in others {
                let theirs = uses(other, &p.name);
                for (field, v) in uses(spec, &p.name) {
                    if let Some((at, _)) = theirs.iter().find(|(_, w)| *w == v) {
                        let reason = format!(
                            "resource {:?} has the same value ({at}: {v}), and {} says no two \
                             of its resources may share \"{}\"",
                            other.name, ty.name, p.name
                        );
                        return Err(invalid(subject("resource", &spec.name), &field, reason));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use nonstop_contract::{HandlerRef, PropertyKind, PropertySpec, Schema, TypeDef, Value};

    use super::super::tests::{group, node, op, resource};
    use super::super::{ClusterDb, Op};

    /// A type whose `state` is unique, as Dummy's meta-data says; `fake` is not.
    fn unique_type() -> Op {
        let mut state = PropertySpec::new("state", PropertyKind::String);
        state.unique = true;
        Op::PutType(TypeDef {
            name: "stateful".into(),
            handler: HandlerRef::Builtin("process".into()),
            schema: Schema::new(vec![
                state,
                PropertySpec::new("command", PropertyKind::String),
                PropertySpec::new("fake", PropertyKind::String),
            ]),
            timings: Default::default(),
            description: String::new(),
            stop: Default::default(),
            reconfigures: false,
        })
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn cluster() -> ClusterDb {
        let mut db = ClusterDb::new();
        for o in [
            node("a"),
            node("b"),
            group("G", &["a", "b"]),
            group("H", &["b"]),
            unique_type(),
        ] {
            op(&mut db, o).unwrap();
        }
        let first = [("command", s("/bin/true")), ("state", s("/run/one"))];
        op(&mut db, resource("one", "G", "stateful", &first, &[])).unwrap();
        db
    }

    #[test]
    fn a_unique_value_used_by_another_resource_is_refused_naming_both() {
        let mut db = cluster();
        let before = db.clone();
        let same = [("command", s("/bin/true")), ("state", s("/run/one"))];
        // In another group, on other nodes: OCF's rule is cluster-wide.
        let e = op(&mut db, resource("two", "H", "stateful", &same, &[]));
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("resource \"two\": properties.state: resource \"one\" has the same value")
                && e.contains("stateful says no two of its resources may share \"state\""),
            "{e}"
        );
        assert_eq!(db, before, "a refused resource changes nothing");
    }

    #[test]
    fn other_values_non_unique_properties_and_the_resource_itself_pass() {
        let mut db = cluster();
        let other = [("command", s("/bin/true")), ("state", s("/run/two"))];
        op(&mut db, resource("two", "G", "stateful", &other, &[])).unwrap();
        // `fake` is not unique; and changing "one" itself does not clash with itself.
        let again = [
            ("command", s("/bin/true")),
            ("state", s("/run/one")),
            ("fake", s("x")),
        ];
        op(&mut db, resource("one", "G", "stateful", &again, &[])).unwrap();
        let fake = [
            ("command", s("/bin/true")),
            ("state", s("/run/three")),
            ("fake", s("x")),
        ];
        op(&mut db, resource("three", "G", "stateful", &fake, &[])).unwrap();
    }

    #[test]
    fn a_node_s_override_counts_as_a_value_the_resource_uses() {
        let mut db = cluster();
        let Op::PutResource(mut two) = resource(
            "two",
            "G",
            "stateful",
            &[("command", s("/bin/true")), ("state", s("/run/two"))],
            &[],
        ) else {
            unreachable!()
        };
        two.node_properties
            .insert("b".into(), [("state".to_string(), s("/run/one"))].into());
        let e = op(&mut db, Op::PutResource(two)).unwrap_err().to_string();
        assert!(
            e.contains("resource \"two\": node_properties.b.state: resource \"one\" has the same value (properties.state: \"/run/one\")"),
            "{e}"
        );
    }
}
