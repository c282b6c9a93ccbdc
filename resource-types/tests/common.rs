//! Helpers shared by the integration tests of the resource types.
#![allow(dead_code)]

use nonstop_contract::{Properties, Value};
use nonstop_resource_types::conformance::Report;
use nonstop_resource_types::{FailureSink, OpenContext};
use std::path::Path;
use tokio::sync::mpsc;

/// Properties from `(name, value)` pairs of text.
pub fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
        .collect()
}

/// An open context for `resource` in `dir`, with the receiving end of its failure sink.
pub fn context(
    resource: &str,
    properties: Properties,
    dir: &Path,
) -> (
    OpenContext,
    mpsc::UnboundedReceiver<nonstop_resource_types::handler::Failure>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = OpenContext {
        resource: resource.into(),
        properties,
        data_dir: dir.to_path_buf(),
        failures: FailureSink::new(resource, tx),
        marker: nonstop_resource_types::procs::new_marker(),
    };
    (ctx, rx)
}

/// Prints every check and fails the test with the failed ones.
pub fn assert_passed(report: &Report, min_checks: usize) {
    for check in &report.checks {
        println!("{check}");
    }
    assert!(report.passed(), "failed checks: {:#?}", report.failures());
    assert!(
        report.checks.len() >= min_checks,
        "only {} checks ran",
        report.checks.len()
    );
}
