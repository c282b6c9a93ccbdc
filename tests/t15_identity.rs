//! Identity is the certificate: against a real cluster made by `nonstop up` (mutual TLS by
//! default), calls without a certificate, with one from another CA, with an expired one, with
//! another node's, and with a role too weak are all refused, with the code and a message that
//! says why, and change nothing. The refusals the leader sees from a caller with a certificate
//! are in the audit log with the caller; the daemon logs refused handshakes with the peer.

mod e2e;

use std::path::Path;
use std::time::Duration;

use e2e::{LocalCluster, text};
use nonstop_pki::{Ca, Links, Role, Tls, write_folder};
use nonstop_proto::agent as apb;
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use nonstop_proto::cluster as cpb;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::raft as rpb;
use nonstop_proto::raft::raft_transport_client::RaftTransportClient;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

fn links(dir: &Path) -> Links {
    Links::from(Tls::load(dir).unwrap())
}

async fn channel(links: &Links, address: &str) -> Result<Channel, String> {
    let ep = links.endpoint(address)?.timeout(Duration::from_secs(5));
    ep.connect().await.map_err(|e| format!("{e:?}"))
}

/// TLS with the folder's certificate and key as they are, unchecked (an expired certificate
/// too), trusting the CA in `ca` (the cluster's: the client accepts the server, the server
/// judges the client).
async fn unchecked(dir: &Path, ca: &Path, address: &str) -> Result<Channel, String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let root = std::fs::read_to_string(ca.join("ca.pem")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(root))
        .identity(tonic::transport::Identity::from_pem(
            read("cert.pem"),
            read("key.pem"),
        ))
        .domain_name("127.0.0.1");
    let ep = Endpoint::from_shared(format!("https://{address}")).unwrap();
    let ep = ep.tls_config(tls).map_err(|e| e.to_string())?;
    ep.connect().await.map_err(|e| format!("{e:?}"))
}

/// TLS that trusts the cluster CA but presents no certificate.
async fn anonymous(ca: &Path, address: &str) -> Channel {
    let pem = std::fs::read_to_string(ca.join("ca.pem")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem))
        .domain_name("127.0.0.1");
    Endpoint::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn assert_refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, says: &str) {
    let s = r.expect_err("refused");
    assert_eq!(s.code(), code, "{s:?}");
    assert!(
        s.message().contains(says),
        "{:?} does not say {says:?}",
        s.message()
    );
}

fn forged_report(node: &str) -> apb::ReportBatch {
    apb::ReportBatch {
        node: node.into(),
        ..Default::default()
    }
}

fn raft_batch() -> impl tonic::IntoStreamingRequest<Message = rpb::RaftBatch> {
    tokio_stream::iter(vec![rpb::RaftBatch {
        from: 2,
        to: 1,
        messages: vec![],
    }])
}

#[test]
fn forged_and_unauthorized_calls_are_refused_and_change_nothing() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    let status = c.cli(&["status", "--output", "json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let leader = s["leader"].as_str().unwrap().to_string();

    // Identities: the cluster's own (made by `up`), and some made for the test.
    let ca_dir = c.dir.join("ca");
    let ca = Ca::load(&ca_dir).unwrap();
    let ids = c.tmp.path().join("ids");
    for (name, role) in [("vic", Role::Viewer), ("olga", Role::Operator)] {
        let issued = ca.issue_user(name, role, 1).unwrap();
        write_folder(&ids.join(name), ca.cert_pem(), &issued).unwrap();
    }
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_user_between(
            "eve",
            Role::Admin,
            now - time::Duration::days(10),
            now - time::Duration::days(1),
        )
        .unwrap();
    write_folder(&ids.join("eve"), ca.cert_pem(), &expired).unwrap();
    let other = Ca::create(1).unwrap();
    write_folder(&ids.join("other-ca"), &other.cert_pem, &other).unwrap();
    let other = Ca::load(&ids.join("other-ca")).unwrap();
    let mallory = other.issue_user("mallory", Role::Admin, 1).unwrap();
    write_folder(&ids.join("mallory"), other.cert_pem(), &mallory).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // No certificate: UNAUTHENTICATED on every service.
        let ch = anonymous(&ca_dir, &leader).await;
        assert_refused(
            ClusterServiceClient::new(ch.clone())
                .apply_config(cpb::ApplyConfigRequest::default())
                .await,
            Code::Unauthenticated,
            "no client certificate",
        );
        assert_refused(
            AgentServiceClient::new(ch.clone())
                .report(forged_report("osdb-serv"))
                .await,
            Code::Unauthenticated,
            "no client certificate",
        );
        assert_refused(
            RaftTransportClient::new(ch.clone())
                .send(raft_batch())
                .await,
            Code::Unauthenticated,
            "no client certificate",
        );

        // Plain gRPC to a TLS member: no answer at all.
        let plain = Links::Plain
            .endpoint(&leader)
            .unwrap()
            .timeout(Duration::from_secs(3));
        if let Ok(ch) = plain.connect().await {
            let r = ClusterServiceClient::new(ch)
                .status(cpb::StatusRequest {})
                .await;
            assert!(r.is_err(), "plain gRPC answered: {r:?}");
        }

        // Another CA's certificate, and an expired one: the handshake fails. (The CLI would
        // not even present the expired one: Tls::load refuses it, naming the date.)
        let err = Tls::load(&ids.join("eve")).unwrap_err().to_string();
        assert!(err.contains("expired on"), "{err}");
        for who in ["mallory", "eve"] {
            let r = match unchecked(&ids.join(who), &ca_dir, &leader).await {
                Ok(ch) => ClusterServiceClient::new(ch)
                    .status(cpb::StatusRequest {})
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string()),
                Err(e) => Err(e),
            };
            assert!(r.is_err(), "{who} got through");
        }

        // Another node's certificate: it may not speak for osdb-serv, nor apply.
        let back = channel(&links(&c.dir.join("osdb-back").join("tls")), &leader)
            .await
            .unwrap();
        let mut agent = AgentServiceClient::new(back.clone());
        assert_refused(
            agent.report(forged_report("osdb-serv")).await,
            Code::PermissionDenied,
            "may not act for node \"osdb-serv\"",
        );
        let hb = apb::HeartbeatRequest {
            node: "osdb-serv".into(),
            ..Default::default()
        };
        assert_refused(
            agent.heartbeat(hb).await,
            Code::PermissionDenied,
            "may not act for node",
        );
        let mut cluster = ClusterServiceClient::new(back);
        assert_refused(
            cluster
                .pause_node(cpb::NameRequest {
                    name: "osdb-serv".into(),
                })
                .await,
            Code::PermissionDenied,
            "a node may only pause and resume itself",
        );
        assert_refused(
            cluster
                .apply_config(cpb::ApplyConfigRequest::default())
                .await,
            Code::PermissionDenied,
            "it needs the admin role",
        );

        // Roles: a viewer reads but cannot move; an operator cannot apply; a user is no member.
        let vic = channel(&links(&ids.join("vic")), &leader).await.unwrap();
        let mut viewer = ClusterServiceClient::new(vic);
        viewer.status(cpb::StatusRequest {}).await.unwrap();
        let mv = cpb::MoveGroupRequest {
            group: "SOCKET_GROUP".into(),
            to: "osdb-back".into(),
        };
        assert_refused(
            viewer.move_group(mv).await,
            Code::PermissionDenied,
            "user vic (viewer)",
        );
        let olga = channel(&links(&ids.join("olga")), &leader).await.unwrap();
        assert_refused(
            ClusterServiceClient::new(olga.clone())
                .apply_config(cpb::ApplyConfigRequest::default())
                .await,
            Code::PermissionDenied,
            "it needs the admin role",
        );
        assert_refused(
            RaftTransportClient::new(olga).send(raft_batch()).await,
            Code::PermissionDenied,
            "a controller member's certificate",
        );
    });

    // Nothing changed: the group is where it was, and the leader recorded the refusals of
    // callers with a certificate, with who they were.
    let g = c.group("SOCKET_GROUP").unwrap();
    assert_eq!(g["owner"], "osdb-serv", "{g}");
    assert_eq!(g["state"], "Online", "{g}");
    let start = std::time::Instant::now();
    loop {
        let audit = c.cli(&["audit", "--output", "json"]);
        let a = text(&audit.stdout);
        if a.contains("user vic (viewer) from 127.0.0.1:")
            && a.contains("refused: /nonstop.cluster.v1.ClusterService/MoveGroup")
        {
            assert!(!a.contains("move group SOCKET_GROUP"), "{a}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{a}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The daemon logged the refused handshakes with the peer's address and the reason.
    let logs = c.logs();
    assert!(logs.contains("TLS handshake refused"), "{logs}");
    assert!(
        logs.contains("Expired") || logs.contains("expired"),
        "{logs}"
    );
    assert!(
        // Another CA with the same name: the signature does not verify.
        logs.contains("BadSignature") || logs.contains("UnknownIssuer"),
        "{logs}"
    );
}

/// Puts `issued` in place of the identity in `dir`, file by file (each rename is atomic).
fn replace_identity(dir: &Path, ca_pem: &str, issued: &nonstop_pki::Issued) {
    let staged = dir.with_extension("new");
    write_folder(&staged, ca_pem, issued).unwrap();
    for f in ["ca.pem", "key.pem", "cert.pem"] {
        std::fs::rename(staged.join(f), dir.join(f)).unwrap();
    }
}

/// The expiry `node show` gives for `node`, asking that node's own member.
fn expiry_seen_by_itself(c: &LocalCluster, node: &str) -> serde_json::Value {
    let out = c.cli_via(&[node], &["node", "show", node, "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["certificate_expires"].clone()
}

/// A renewed certificate is picked up on SIGHUP without a restart, a wrong one is refused and
/// the one in use stays, and a certificate close to its end is warned about in `status`.
#[test]
fn a_renewed_certificate_is_picked_up_on_sighup_and_a_wrong_one_is_refused() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    let before = expiry_seen_by_itself(&c, "osdb-serv");
    assert!(before.is_string(), "{before}");
    let status = c.cli(&["status"]);
    assert!(
        !text(&status.stdout).contains("WARNING"),
        "{}",
        text(&status.stdout)
    );
    let pid = c.pid("osdb-serv");

    // A certificate for another node: refused, the old one stays.
    let ca = Ca::load(&c.dir.join("ca")).unwrap();
    let tls = c.dir.join("osdb-serv").join("tls");
    let wrong = ca
        .issue_node("osdb-back", &["127.0.0.1".into()], 2)
        .unwrap();
    replace_identity(&tls, ca.cert_pem(), &wrong);
    c.signal("osdb-serv", "HUP");
    let start = std::time::Instant::now();
    while !c.log("osdb-serv").contains("the identity in use stays") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            c.log("osdb-serv")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        c.log("osdb-serv")
            .contains("names node osdb-back, not node \"osdb-serv\"")
    );
    assert_eq!(expiry_seen_by_itself(&c, "osdb-serv"), before);

    // The right node, two days left: taken, and warned about.
    let renewed = ca
        .issue_node("osdb-serv", &["127.0.0.1".into()], 2)
        .unwrap();
    replace_identity(&tls, ca.cert_pem(), &renewed);
    c.signal("osdb-serv", "HUP");
    let start = std::time::Instant::now();
    loop {
        let now = expiry_seen_by_itself(&c, "osdb-serv");
        if now != before {
            let days = now
                .as_str()
                .and_then(|s| s.get(..10))
                .unwrap_or_default()
                .to_string();
            let in_two = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).date();
            assert_eq!(days, in_two.to_string(), "{now}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{now}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = c.log("osdb-serv");
    assert!(log.contains("identity reloaded"), "{log}");
    assert!(
        log.contains("expires on") && (log.contains("in 1 day(s)") || log.contains("in 2 day(s)")),
        "{log}"
    );
    assert_eq!(c.pid("osdb-serv"), pid, "no restart");
    let status = c.cli_via(&["osdb-serv"], &["status"]);
    assert!(
        text(&status.stdout).contains("WARNING: the certificate of node osdb-serv expires in"),
        "{}",
        text(&status.stdout)
    );
    // It still serves, with the new certificate, and the cluster still works.
    c.move_and_wait("osdb-back");
}

/// `nonstop ARGS` in the cluster's folder with a bearer token and the CA, no identity.
fn with_token(c: &LocalCluster, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(e2e::BIN)
        .args(args)
        .arg("--ca")
        .arg(c.dir.join("ca").join("ca.pem"))
        .env("NONSTOP_TOKEN", token)
        .current_dir(c.tmp.path())
        .output()
        .unwrap()
}

/// Bearer tokens: made by an admin (printed alone, once), they work over TLS with their role,
/// until revoked or expired; the audit log says who made them and who used them.
#[test]
fn a_token_works_with_its_role_until_it_is_revoked_or_expires() {
    let c = LocalCluster::start("fast");
    c.wait_online("SOCKET_GROUP", "osdb-serv", Duration::from_secs(20));
    let out = c.cli(&[
        "token", "create", "--role", "viewer", "--ttl", "1h", "--name", "dash",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "the token alone: {stdout}");
    let token = stdout.trim().to_string();
    assert!(token.starts_with("nst_"), "{token}");
    let id = token.split('_').nth(1).unwrap().to_string();

    let status = with_token(&c, &token, &["status", "--output", "json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let mv = with_token(
        &c,
        &token,
        &["group", "move", "SOCKET_GROUP", "--to", "osdb-back"],
    );
    assert_eq!(mv.status.code(), Some(1));
    let err = text(&mv.stderr);
    assert!(
        err.contains(&format!("token {id} dash (viewer)")) && err.contains("the operator role"),
        "{err}"
    );
    // Only an admin manages tokens, and a list never shows a secret.
    let list = with_token(&c, &token, &["token", "list"]);
    assert_eq!(list.status.code(), Some(1), "{}", text(&list.stderr));
    let list = c.cli(&["token", "list", "--output", "json"]);
    let l = text(&list.stdout);
    assert!(
        l.contains(&id) && l.contains("\"viewer\"") && !l.contains(&token[20..]),
        "{l}"
    );
    // A wrong secret for a real id is refused like an unknown token.
    let forged = format!("nst_{id}_{}", "0".repeat(64));
    let r = with_token(&c, &forged, &["status"]);
    assert!(
        text(&r.stderr).contains("unknown or revoked token"),
        "{}",
        text(&r.stderr)
    );
    // Over plain gRPC the CLI will not send it.
    let plain = with_token(&c, &token, &["status", "--endpoint", "http://127.0.0.1:1"]);
    assert!(
        text(&plain.stderr).contains("works only over TLS"),
        "{}",
        text(&plain.stderr)
    );

    let revoke = c.cli(&["token", "revoke", &id]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let start = std::time::Instant::now();
    loop {
        let r = with_token(&c, &token, &["status"]);
        if !r.status.success() {
            assert!(
                text(&r.stderr).contains("unknown or revoked token"),
                "{}",
                text(&r.stderr)
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still works after revoke"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = c.cli(&["token", "create", "--role", "admin", "--ttl", "1s"]);
    let short = text(&out.stdout).trim().to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let r = with_token(&c, &short, &["status"]);
    assert!(
        text(&r.stderr).contains("has expired"),
        "{}",
        text(&r.stderr)
    );

    let audit = text(&c.cli(&["audit"]).stdout);
    assert!(
        audit.contains(&format!("create token {id} for dash (viewer)")),
        "{audit}"
    );
    assert!(audit.contains(&format!("revoke token {id}")), "{audit}");
}
