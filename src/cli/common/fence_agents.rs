//! Fence agents describe their own parameters (`fence_NAME -o metadata`, an XML list). Where a
//! node's fence agent is installed on the machine that checks or applies a `cluster.yaml`, each
//! parameter of its `params` must be one the agent lists; elsewhere nothing is checked (the
//! member that runs the agent reports what went wrong as fencing events).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nonstop_controller::config::positions::{self, Pos};
use nonstop_controller::config::{ClusterFile, Diagnostic};

/// How long an agent may take to print its metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks every node's fence agent that is installed here; one diagnostic per parameter the
/// agent does not list (or per agent whose metadata cannot be read).
pub fn check(file_name: &str, text: &str, file: &ClusterFile) -> Vec<Diagnostic> {
    let root = positions::parse(text);
    let mut out = Vec::new();
    for (i, node) in file.nodes.iter().enumerate() {
        let Some(method) = &node.fence else { continue };
        let Some(agent) = &method.agent else { continue };
        let Some(path) = crate::fencing::find_agent(agent) else {
            continue;
        };
        let at = |path: &str| {
            let item = root.as_ref().and_then(|r| r.get("nodes")?.at(i));
            item.map_or(Pos::START, |n| n.deepest(path).pos)
        };
        let diag = |pos: Pos, message: String| Diagnostic {
            file: file_name.to_string(),
            line: pos.line,
            column: pos.column,
            code: None,
            message,
        };
        let names = match metadata(&path).and_then(|xml| parameters(&xml)) {
            Ok(names) => names,
            Err(why) => {
                let message = format!(
                    "node {:?}: fence.agent: {agent} -o metadata: {why}",
                    node.name
                );
                out.push(diag(at("fence.agent"), message));
                continue;
            }
        };
        for key in method.params.keys().filter(|k| !names.contains(*k)) {
            let message = format!(
                "node {:?}: fence.params.{key}: {agent} takes no parameter {key:?} (its -o metadata \
                 lists: {})",
                node.name,
                names.join(", ")
            );
            out.push(diag(at(&format!("fence.params.{key}")), message));
        }
    }
    out
}

/// The agent's metadata, as it prints it.
fn metadata(agent: &Path) -> Result<String, String> {
    let mut child = Command::new(agent)
        .args(["-o", "metadata"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < METADATA_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {METADATA_TIMEOUT:?}"));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("it failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| "not UTF-8".into())
}

/// The parameter names a fence agent's metadata lists.
fn parameters(xml: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let names: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("parameter"))
        .filter(|n| n.parent().is_some_and(|p| p.has_tag_name("parameters")))
        .filter_map(|n| n.attribute("name").map(String::from))
        .collect();
    if names.is_empty() {
        return Err("it lists no parameters".into());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_come_from_the_parameters_element() {
        let xml = r#"<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="x">
<parameters>
  <parameter name="action" unique="0" required="1"><content type="string"/></parameter>
  <parameter name="ip" unique="0" required="1"><content type="string"/></parameter>
</parameters>
<actions><action name="off"/></actions>
</resource-agent>"#;
        assert_eq!(parameters(xml).unwrap(), ["action", "ip"]);
        assert!(
            parameters("<resource-agent/>")
                .unwrap_err()
                .contains("no parameters")
        );
        assert!(parameters("not xml").unwrap_err().contains("not XML"));
    }
}
