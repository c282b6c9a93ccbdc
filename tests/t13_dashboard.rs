//! The web dashboard in a real browser: Debian's headless Chromium, driven over WebDriver
//! (chromedriver) by fantoccini, looking at what a person sees. A three-node TLS cluster made
//! by `up`; tokens from `nonstop token create`: a viewer sees the nodes and groups with their
//! states and no Move; a move made from the CLI shows within a second; an operator's Move
//! works; a property error shows beside its field. Screenshots go to the test's folder (kept
//! with NONSTOP_TEST_KEEP=1) for a person to look at.

mod e2e;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{LocalCluster, free_ports, text};
use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    /// The browser's profile folder, its own: what names its processes.
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Kills chromedriver, and the browser it started (which a test that panicked before
    /// closing its session would otherwise leave running): every process whose command line
    /// names this driver's profile folder.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let needle = self.profile.path().to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) {
                let pid = e.file_name().to_string_lossy().into_owned();
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
    }
}

/// chromedriver and chromium, or `None` (skipped, except under CI).
fn driver() -> Option<Driver> {
    let have = |p: &str| std::path::Path::new(p).exists();
    if !(have("/usr/bin/chromedriver") && have("/usr/bin/chromium")) {
        if std::env::var_os("CI").is_some() {
            panic!("CI=true: the dashboard test needs chromium and chromium-driver");
        }
        eprintln!("!!! SKIPPED t13_dashboard: apt-get install chromium chromium-driver");
        return None;
    }
    let port = free_ports(1);
    let child = Command::new("/usr/bin/chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::Builder::new()
        .prefix("nonstop-t13-chromium-")
        .tempdir()
        .unwrap();
    Some(Driver {
        child,
        url,
        profile,
    })
}

/// A headless browser that trusts the cluster's own CA's certificates as a person would after
/// importing it (here: by accepting them).
async fn browser(d: &Driver) -> Client {
    let profile = format!("--user-data-dir={}", d.profile.path().display());
    let caps = serde_json::json!({
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [profile, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-default-apps", "--disable-sync", "--metrics-recording-only",
                     "--no-default-browser-check", "--disable-features=Translate,OptimizationHints,MediaRouter",
                     "--dns-prefetch-disable"]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("a WebDriver session")
}

/// Waits (up to `within`) until the element `css` shows text containing `want`; returns how
/// long it took.
async fn wait_text(b: &Client, css: &str, want: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.contains(want)
        {
            return start.elapsed();
        }
        if start.elapsed() > within {
            let page = b.source().await.unwrap_or_default();
            panic!("{css} never showed {want:?} within {within:?}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs in afresh with `token` (by the URL fragment) and waits until the page says who.
async fn log_in(b: &Client, url: &str, token: &str, role: &str) {
    b.execute("sessionStorage.clear()", vec![]).await.unwrap();
    b.goto(&format!("{url}#token={token}")).await.unwrap();
    wait_text(b, "#who", role, Duration::from_secs(5)).await;
}

/// On resource chat's page, types `value` as MaxUser and presses the button `button`.
async fn max_user(
    b: &Client,
    url: &str,
    value: &str,
    button: &str,
) -> fantoccini::elements::Element {
    b.goto(&format!("{url}#/resource/chat")).await.unwrap();
    let field = b
        .wait()
        .for_element(Locator::Id("prop-MaxUser"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
    b.find(Locator::Id(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    field
}

fn token(c: &LocalCluster, role: &str) -> String {
    let out = c.cli(&["token", "create", "--role", role, "--ttl", "1h"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

async fn screenshot(b: &Client, c: &LocalCluster, name: &str) {
    let png = b.screenshot().await.unwrap();
    std::fs::write(c.tmp.path().join(format!("{name}.png")), png).unwrap();
}

#[test]
fn the_dashboard_shows_the_cluster_live_and_offers_what_the_role_allows() {
    let Some(d) = driver() else { return };
    let mut c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    let url = std::fs::read_to_string(c.dir.join("dashboard")).unwrap();
    let url = url.lines().next().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let viewer = token(&c, "viewer");
    let operator = token(&c, "operator");
    let admin = token(&c, "admin");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = browser(&d).await;
        // Without a token: the login form, and no cluster data.
        b.goto(&url).await.unwrap();
        b.wait()
            .for_element(Locator::Id("login-form"))
            .await
            .unwrap();
        screenshot(&b, &c, "1-login").await;
        // A wrong token is refused, on the form.
        let field = b.find(Locator::Id("token")).await.unwrap();
        field.send_keys("nst_bogus_token").await.unwrap();
        b.find(Locator::Css("#login-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(&b, "#login-error", "token", Duration::from_secs(5)).await;

        // The viewer, by the URL fragment: nodes and groups with their states, no Move.
        b.goto(&format!("{url}#token={viewer}")).await.unwrap();
        wait_text(
            &b,
            "tr[data-group=SOCKET_GROUP] .owner",
            "osdb-serv",
            Duration::from_secs(10),
        )
        .await;
        let row = b
            .find(Locator::Css("tr[data-group=SOCKET_GROUP]"))
            .await
            .unwrap();
        assert!(row.text().await.unwrap().contains("Online"));
        for n in ["osdb-serv", "osdb-back", "osdb-third"] {
            let row = b
                .find(Locator::Css(&format!("tr[data-node={n}]")))
                .await
                .unwrap();
            assert!(row.text().await.unwrap().contains("Up"), "{n}");
        }
        assert!(
            !b.current_url().await.unwrap().as_str().contains("token="),
            "the token left the address bar"
        );
        wait_text(&b, "#who", "viewer", Duration::from_secs(5)).await;
        screenshot(&b, &c, "2-cluster").await;

        // A move made from the CLI shows on the page within a second of its commit.
        let out = c.cli(&[
            "group",
            "move",
            "SOCKET_GROUP",
            "--to",
            "osdb-third",
            "--wait",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let took = wait_text(
            &b,
            "tr[data-group=SOCKET_GROUP] .owner",
            "osdb-third",
            Duration::from_secs(5),
        )
        .await;
        eprintln!("t13_dashboard: a CLI move showed on the page {took:?} after the CLI returned");
        assert!(took < Duration::from_secs(1), "took {took:?}");

        // The group page: its resources and dependency graph; no action for a viewer.
        b.goto(&format!("{url}#/group/SOCKET_GROUP")).await.unwrap();
        wait_text(
            &b,
            "#no-actions",
            "may look, not act",
            Duration::from_secs(5),
        )
        .await;
        assert!(
            b.find(Locator::Id("move")).await.is_err(),
            "a viewer sees no Move"
        );
        b.find(Locator::Css("svg.graph")).await.unwrap();
        b.find(Locator::Css("tr[data-resource=chat]"))
            .await
            .unwrap();
        screenshot(&b, &c, "3-group-viewer").await;

        // The operator moves it home from the page.
        b.execute("sessionStorage.clear()", vec![]).await.unwrap();
        b.goto(&format!("{url}#token={operator}")).await.unwrap();
        wait_text(&b, "#who", "operator", Duration::from_secs(5)).await;
        b.goto(&format!("{url}#/group/SOCKET_GROUP")).await.unwrap();
        let select = b.wait().for_element(Locator::Id("move-to")).await.unwrap();
        select.select_by_value("osdb-serv").await.unwrap();
        b.find(Locator::Id("move"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(&b, "#action-result", "Done", Duration::from_secs(10)).await;
        wait_text(&b, "#owner", "osdb-serv", Duration::from_secs(15)).await;
        screenshot(&b, &c, "4-group-operator").await;

        // A resource's properties as a form from its type's schema: an error beside its field.
        let field = max_user(&b, &url, "500", "check").await;
        wait_text(
            &b,
            "#prop-MaxUser-error",
            "above the maximum 10",
            Duration::from_secs(5),
        )
        .await;
        let invalid = field.attr("aria-invalid").await.unwrap();
        assert_eq!(invalid.as_deref(), Some("true"));
        screenshot(&b, &c, "5-resource-error").await;
        assert!(
            b.find(Locator::Id("save")).await.is_err(),
            "an operator may check, not save"
        );

        // An admin saves a valid value: the cluster has it (the CLI says so), and every other
        // property comes back exactly as it was (a list's items with their spaces too).
        let before = c.cli(&["resource", "show", "chat", "-o", "json"]);
        let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
        log_in(&b, &url, &admin, "admin").await;
        max_user(&b, &url, "7", "save").await;
        wait_text(&b, "#check-result", "Saved", Duration::from_secs(10)).await;
        let shown = c.cli(&["resource", "show", "chat", "-o", "json"]);
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(shown["properties"]["MaxUser"], "7", "{shown}");
        let mut same = before["properties"].clone();
        same["MaxUser"] = "7".into();
        assert_eq!(shown["properties"], same, "only MaxUser changed");
        let audit = c.cli(&["audit", "-o", "json"]);
        assert!(text(&audit.stdout).contains("put resource chat"), "audited");
        // The new value restarts the chat server where its type needs it: settled before the
        // drill below checks that the group is Online.
        c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
        log_in(&b, &url, &operator, "operator").await;

        // A drill started from the page (the operator's token: the cluster checks the role),
        // followed to its verdict on the page.
        b.goto(&format!("{url}#/drills")).await.unwrap();
        let scenario = b
            .wait()
            .for_element(Locator::Id("drill-scenario"))
            .await
            .unwrap();
        scenario.select_by_value("move").await.unwrap();
        b.find(Locator::Id("drill-run"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.accept_alert().await.unwrap();
        wait_text(&b, "#drill-result", "Started", Duration::from_secs(10)).await;
        wait_text(&b, "section.drill h2", "pass", Duration::from_secs(90)).await;
        b.find(Locator::Css("section.drill svg.timeline"))
            .await
            .unwrap();
        screenshot(&b, &c, "6-drill").await;

        // The event history.
        b.goto(&format!("{url}#/events")).await.unwrap();
        wait_text(&b, "#events", "SOCKET_GROUP", Duration::from_secs(5)).await;
        screenshot(&b, &c, "7-events").await;
        b.close().await.unwrap();
    });
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(30));
    c.check();
}

/// GET `path` from `addr` with this `Host` header: the status code and body.
fn get_with_host(addr: &str, path: &str, host: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

#[test]
fn an_insecure_dashboard_answers_only_to_loopback_names() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cluster.yaml"), "nodes: [{name: solo}]\n").unwrap();
    let state = tmp.path().join(".nonstop");
    let port = free_ports(1).to_string();
    let out = Command::new(e2e::BIN)
        .args(["up", "cluster.yaml", "--insecure", "--timing", "fast"])
        .args(["--dir", state.to_str().unwrap(), "--base-port", &port])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = std::fs::read_to_string(state.join("dashboard")).unwrap();
    let addr = url
        .trim()
        .strip_prefix("http://")
        .expect("plain HTTP without TLS")
        .trim_end_matches('/')
        .to_string();
    let (code, body) = get_with_host(&addr, "/api/status", &addr);
    let (evil, refused) = get_with_host(&addr, "/api/status", "evil.example:80");
    let _ = Command::new(e2e::BIN)
        .args(["down", "--dir", state.to_str().unwrap()])
        .output();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"caller_role\":\"insecure\""), "{body}");
    // A page from a name that rebinds to 127.0.0.1 must not drive an unauthenticated cluster.
    assert_eq!(evil, 421, "{refused}");
    assert!(refused.contains("loopback"), "{refused}");
}
