//! Which controller members to ask: `--endpoint`, else `$NONSTOP_ENDPOINT`, else the lines of
//! `./.nonstop/endpoints` (written by `nonstop up`), else the local default.

use std::path::Path;

use tonic::transport::Endpoint;

use super::client::CliError;

/// Where the local cluster (`nonstop up`) writes its members' addresses, one URL a line.
const ENDPOINTS_FILE: &str = ".nonstop/endpoints";
/// The default member address of a local node.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7701";

/// The URLs to try, in order; a bad one is an error naming where it came from.
pub fn resolve(given: &[String]) -> Result<Vec<String>, CliError> {
    let given = clean(given.iter().map(String::as_str));
    if !given.is_empty() {
        return normalize_all("--endpoint", &given);
    }
    if let Ok(env) = std::env::var("NONSTOP_ENDPOINT") {
        let env = clean(env.split(','));
        if !env.is_empty() {
            return normalize_all("NONSTOP_ENDPOINT", &env);
        }
    }
    if let Ok(text) = std::fs::read_to_string(Path::new(ENDPOINTS_FILE)) {
        let file = clean(text.lines());
        if !file.is_empty() {
            return normalize_all(ENDPOINTS_FILE, &file);
        }
    }
    Ok(vec![DEFAULT_ENDPOINT.to_string()])
}

/// The non-blank entries, trimmed; `#` starts a comment line.
fn clean<'a>(raw: impl Iterator<Item = &'a str>) -> Vec<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .map(String::from)
        .collect()
}

fn normalize_all(source: &str, raw: &[String]) -> Result<Vec<String>, CliError> {
    raw.iter().map(|r| normalize(source, r)).collect()
}

/// `host:port` becomes `http://host:port`; anything but an http(s) URL is refused.
fn normalize(source: &str, raw: &str) -> Result<String, CliError> {
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let bad = |why: String| CliError::Refused(format!("{source}: {raw:?} {why}"));
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("is not an http:// or https:// URL".into()));
    }
    Endpoint::from_shared(url.clone()).map_err(|e| bad(format!("is not a URL: {e}")))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_endpoints_are_trimmed_and_completed() {
        let e = resolve(&[" http://a:1 ".into(), "".into(), "b:2".into()]).unwrap();
        assert_eq!(e, vec!["http://a:1", "http://b:2"]);
    }

    #[test]
    fn a_bad_endpoint_is_named_with_its_source() {
        let e = resolve(&["ftp://a:1".into()]).unwrap_err().to_string();
        assert_eq!(
            e,
            "--endpoint: \"ftp://a:1\" is not an http:// or https:// URL"
        );
        let e = resolve(&["a b:1".into()]).unwrap_err().to_string();
        assert!(e.starts_with("--endpoint: \"a b:1\" is not a URL"), "{e}");
    }
}
