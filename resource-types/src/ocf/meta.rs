//! OCF meta-data XML -> nonstop's schema and timings.

use nonstop_contract::millis::Millis;
use nonstop_contract::schema::{PropertyKind, PropertySpec, Schema};
use nonstop_contract::timing::Timings;
use roxmltree::{Document, Node, ParsingOptions};

use super::{Meta, spec};

/// Parses an agent's meta-data.
pub(super) fn parse(xml: &str) -> Result<Meta, String> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, opts)
        .map_err(|e| format!("meta-data is not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "resource-agent" {
        return Err(format!(
            "meta-data root is <{}>, not <resource-agent>",
            root.tag_name().name()
        ));
    }
    let properties = child(root, "parameters")
        .map(|ps| {
            ps.children()
                .filter(|n| n.has_tag_name("parameter"))
                .map(parameter)
                .collect()
        })
        .transpose()?
        .unwrap_or_default();
    let schema = Schema::new(properties);
    schema.check().map_err(|errs| format!("{errs:?}"))?;
    Ok(Meta {
        description: text(child(root, "shortdesc")),
        schema,
        timings: timings(child(root, "actions")),
    })
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn text(node: Option<Node<'_, '_>>) -> String {
    let raw = node.and_then(|n| n.text()).unwrap_or_default();
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parameter(p: Node<'_, '_>) -> Result<PropertySpec, String> {
    let name = p.attribute("name").ok_or("a <parameter> has no name")?;
    let content = child(p, "content");
    let kind = match content
        .and_then(|c| c.attribute("type"))
        .unwrap_or("string")
    {
        "integer" => PropertyKind::Int,
        "boolean" => PropertyKind::Bool,
        "select" => PropertyKind::Enum,
        _ => PropertyKind::String,
    };
    let mut s = spec(name, kind);
    if kind == PropertyKind::Enum {
        let options = content.into_iter().flat_map(|c| c.children());
        s.values = options
            .filter(|o| o.has_tag_name("option"))
            .filter_map(|o| o.attribute("value").map(String::from))
            .collect();
        if s.values.is_empty() {
            s.kind = PropertyKind::String;
        }
    }
    s.required = p.attribute("required") == Some("1");
    s.unique = p.attribute("unique") == Some("1");
    s.description = text(child(p, "shortdesc"));
    if let Some(d) = content
        .and_then(|c| c.attribute("default"))
        .filter(|d| !d.is_empty())
    {
        s.description = format!("{} (agent default: {d})", s.description)
            .trim()
            .to_string();
    }
    Ok(s)
}

/// start/stop timeouts -> pending timeout; monitor interval -> looks_alive.
fn timings(actions: Option<Node<'_, '_>>) -> Timings {
    let mut t = Timings::default();
    let Some(actions) = actions else { return t };
    let attr = |action: &str, a: &str| -> Option<Millis> {
        actions
            .children()
            .filter(|n| n.has_tag_name("action") && n.attribute("name") == Some(action))
            .find_map(|n| n.attribute(a)?.parse::<Millis>().ok())
    };
    let pending = [attr("start", "timeout"), attr("stop", "timeout")]
        .into_iter()
        .flatten()
        .max();
    if let Some(p) = pending {
        t.pending_timeout = p;
    }
    if let Some(i) = attr("monitor", "interval").filter(|i| i.0 > 0) {
        t.looks_alive = i;
        t.is_alive = t.is_alive.max(i);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMMY: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Dummy" version="1.0">
<shortdesc lang="en">Example stateless
  resource agent</shortdesc>
<parameters>
<parameter name="state" unique="1">
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/run/Dummy-RESOURCE_ID.state" />
</parameter>
<parameter name="count" required="1"><content type="integer"/></parameter>
<parameter name="mode"><content type="select"><option value="a"/><option value="b"/></content>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s" />
<action name="stop" timeout="25s" />
<action name="monitor" timeout="20s" interval="10s" depth="0" />
</actions>
</resource-agent>"#;

    #[test]
    fn dummy_meta_data_becomes_a_schema() {
        let m = parse(DUMMY).unwrap();
        assert_eq!(m.description, "Example stateless resource agent");
        let state = m.schema.get("state").unwrap();
        assert_eq!(state.kind, PropertyKind::String);
        assert_eq!(state.default, None, "agent defaults must stay the agent's");
        assert!(state.description.contains("/run/Dummy-RESOURCE_ID.state"));
        assert!(state.unique, "unique=\"1\"");
        assert!(m.schema.get("count").unwrap().required);
        assert!(!m.schema.get("count").unwrap().unique);
        assert_eq!(m.schema.get("mode").unwrap().values, ["a", "b"]);
        assert_eq!(m.timings.pending_timeout, Millis::secs(25));
        assert_eq!(m.timings.looks_alive, Millis::secs(10));
    }

    #[test]
    fn broken_meta_data_is_a_clear_error() {
        assert!(parse("<nope").unwrap_err().contains("not XML"));
        assert!(parse("<x/>").unwrap_err().contains("not <resource-agent>"));
    }
}
