//! Per-node property values ("localized attributes", as Veritas's `Device@sysa`): a resource
//! may override some of its properties on some owners of its group, for what differs from one
//! machine to the next (a network namespace, an interface name, a path). The desired state sent
//! to a node carries the merged values; every other reader sees `properties` and the overrides
//! apart.
//!
//! The rules: `properties` alone must validate (it is what every owner without an override
//! runs), every overridden node must exist and be an owner of the group, and the merged values
//! of each node must validate against the type's schema.

use std::collections::BTreeMap;

use nonstop_contract::{Properties, PropertyError, Schema};

use super::ClusterDb;
use super::error::{Result, invalid, subject, unknown};
use super::model::{GroupSpec, ResourceSpec};

/// The overrides of each node, by node name.
pub type NodeProperties = BTreeMap<String, Properties>;

impl ResourceSpec {
    /// The properties the resource runs with on `node`: `properties` updated by the node's
    /// overrides, if any.
    pub fn properties_on(&self, node: &str) -> Properties {
        let mut merged = self.properties.clone();
        if let Some(over) = self.node_properties.get(node) {
            merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        merged
    }
}

/// Validates each node's overrides on top of `base` (already validated) against `schema`.
/// Returns the overrides in canonical form (nodes without any override left out), or the
/// node and the first property that does not fit.
pub fn validate_overrides(
    schema: &Schema,
    base: &Properties,
    overrides: &NodeProperties,
) -> std::result::Result<NodeProperties, (String, PropertyError)> {
    let mut out = NodeProperties::new();
    for (node, over) in overrides.iter().filter(|(_, o)| !o.is_empty()) {
        let mut merged = base.clone();
        merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        let valid = schema
            .validate(&merged)
            .map_err(|mut errs| (node.clone(), errs.remove(0)))?;
        let canonical = over
            .keys()
            .filter_map(|k| Some((k.clone(), valid.get(k)?.clone())));
        out.insert(node.clone(), canonical.collect());
    }
    Ok(out)
}

/// The field of a node's property, as errors name it (`node_properties.osdb-back.netns`).
pub fn field(node: &str, property: &str) -> String {
    format!("node_properties.{node}.{property}")
}

impl ClusterDb {
    /// Checks `spec`'s overrides: known owner nodes, known properties of the right kind.
    /// `base` is its validated `properties`. Returns the overrides in canonical form.
    pub(super) fn check_node_properties(
        &self,
        spec: &ResourceSpec,
        schema: &Schema,
        base: &Properties,
    ) -> Result<NodeProperties> {
        let subj = subject("resource", &spec.name);
        let owners = self.groups.get(&spec.group).map(|g| &g.spec.owners);
        for node in spec.node_properties.keys() {
            let at = format!("node_properties.{node}");
            if !self.nodes.contains_key(node) {
                return Err(unknown(subj, &at, "node", node));
            }
            if !owners.is_some_and(|o| o.contains(node)) {
                let reason = format!(
                    "node {node:?} is not an owner of group {:?}, so the resource never runs there",
                    spec.group
                );
                return Err(invalid(subj, &at, reason));
            }
        }
        validate_overrides(schema, base, &spec.node_properties)
            .map_err(|(node, e)| invalid(subj, &field(&node, &e.property), e.reason))
    }

    /// A group may drop an owner only once no resource of it overrides properties there.
    pub(super) fn check_owners_keep_overrides(&self, spec: &GroupSpec) -> Result<()> {
        for r in self.group_resources(&spec.name) {
            if let Some(node) = r
                .spec
                .node_properties
                .keys()
                .find(|n| !spec.owners.contains(n))
            {
                let reason = format!(
                    "node {node:?} is left out, but resource {:?} has node_properties for it: \
                     remove them first (or in the same apply)",
                    r.spec.name
                );
                return Err(invalid(subject("group", &spec.name), "owners", reason));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use nonstop_contract::{PropertyKind, PropertySpec, Value};

    use super::super::model::ResourceSpec;
    use super::super::tests::{chat_type, group, live, node, op, paper, place, rejected};
    use super::super::{ClusterDb, Op};

    /// `chat` of the paper's cluster with `prop` overridden on `node` by `value`.
    fn chat_with(node: &str, prop: &str, value: Value) -> Op {
        let mut over = nonstop_contract::Properties::new();
        over.insert(prop.into(), value);
        let Op::PutResource(spec) = super::super::tests::resource(
            "chat",
            "SOCKET_GROUP",
            "chat-server",
            &[super::super::tests::cmd("chat")],
            &["disk"],
        ) else {
            unreachable!("resource() builds a PutResource")
        };
        Op::PutResource(ResourceSpec {
            node_properties: [(node.to_string(), over)].into(),
            ..spec
        })
    }

    fn max_user_on(db: &ClusterDb, n: &str) -> Option<Value> {
        let desired = db.desired_for(n);
        let chat = desired.groups.iter().flat_map(|g| &g.resources);
        let chat = chat.into_iter().find(|r| r.name == "chat")?;
        chat.properties.get("MaxUser").cloned()
    }

    #[test]
    fn bad_node_properties_are_rejected_naming_the_field_and_change_nothing() {
        let mut db = paper();
        let cases = [
            (
                chat_with("osdb-bak", "MaxUser", Value::Int(5)),
                r#"resource "chat": node_properties.osdb-bak names unknown node "osdb-bak""#,
            ),
            (chat_with("osdb-third", "MaxUser", Value::Int(5)), ""),
            (
                chat_with("osdb-back", "MaxUser", Value::Int(11)),
                r#"resource "chat": node_properties.osdb-back.MaxUser: "#,
            ),
            (
                chat_with("osdb-back", "MaxUsers", Value::Int(5)),
                r#"resource "chat": node_properties.osdb-back.MaxUsers: "#,
            ),
            (
                chat_with("osdb-back", "MaxUser", Value::Str("many".into())),
                r#"resource "chat": node_properties.osdb-back.MaxUser: "#,
            ),
        ];
        op(&mut db, node("osdb-third")).unwrap();
        for (bad, want) in cases {
            let want = if want.is_empty() {
                r#"node_properties.osdb-third: node "osdb-third" is not an owner of group "SOCKET_GROUP""#
            } else {
                want
            };
            rejected(&mut db, bad, want);
        }
    }

    #[test]
    fn the_node_that_runs_the_resource_gets_its_own_values() {
        let mut db = paper();
        op(
            &mut db,
            chat_with("osdb-back", "MaxUser", Value::Str("5".into())),
        )
        .unwrap();
        let stored = &db.resources["chat"].spec.node_properties["osdb-back"];
        assert_eq!(stored["MaxUser"], Value::Int(5), "stored in canonical form");
        assert_eq!(
            db.resources["chat"].spec.properties["MaxUser"],
            Value::Int(10)
        );
        for n in ["osdb-serv", "osdb-back"] {
            live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
        }
        live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
        assert_eq!(max_user_on(&db, "osdb-serv"), Some(Value::Int(10)));
        assert_eq!(max_user_on(&db, "osdb-back"), None, "it runs on one node");
        let down = Op::NodeDown {
            node: "osdb-serv".into(),
            reason: "test".into(),
        };
        live(&mut db, down).unwrap();
        live(&mut db, place("SOCKET_GROUP", "osdb-back")).unwrap();
        assert_eq!(max_user_on(&db, "osdb-back"), Some(Value::Int(5)));
    }

    #[test]
    fn an_owner_with_overrides_is_dropped_only_with_them() {
        let mut db = paper();
        op(&mut db, chat_with("osdb-back", "MaxUser", Value::Int(5))).unwrap();
        let shrink = group("SOCKET_GROUP", &["osdb-serv"]);
        rejected(
            &mut db,
            shrink.clone(),
            r#"group "SOCKET_GROUP": owners: node "osdb-back" is left out, but resource "chat" has node_properties for it"#,
        );
        let Op::PutResource(mut plain) = chat_with("osdb-back", "MaxUser", Value::Int(5)) else {
            unreachable!()
        };
        plain.node_properties.clear();
        op(&mut db, Op::Batch(vec![Op::PutResource(plain), shrink])).unwrap();
        assert_eq!(db.groups["SOCKET_GROUP"].spec.owners, ["osdb-serv"]);
    }

    #[test]
    fn a_type_change_must_keep_every_override_valid() {
        let mut db = paper();
        let Op::PutResource(mut chat) = chat_with("osdb-back", "MaxUser", Value::Int(9)) else {
            unreachable!()
        };
        chat.properties.insert("MaxUser".into(), Value::Int(5));
        op(&mut db, Op::PutResource(chat)).unwrap();
        let Op::PutType(mut t) = chat_type() else {
            unreachable!()
        };
        t.schema.properties[1] = PropertySpec::new("MaxUser", PropertyKind::Int)
            .range(Some(1), Some(8))
            .default_value(Value::Int(8));
        rejected(
            &mut db,
            Op::PutType(t),
            r#"resource "chat" would not validate: node_properties.osdb-back.MaxUser: "#,
        );
    }
}
