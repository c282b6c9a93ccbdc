//! Certificates as `nonstop cert` makes them: what goes in comes back out, a certificate of
//! another CA is told apart, and bad input is refused naming the field, writing nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nonstop_pki::{Ca, CertInfo, Folder, Identity, PkiError, Role, write_folder};
use time::OffsetDateTime;

fn ca_in(dir: &Path) -> Ca {
    let issued = Ca::create(30).unwrap();
    write_folder(dir, &issued.cert_pem, &issued).unwrap();
    Ca::load(dir).unwrap()
}

fn info(dir: &Path) -> CertInfo {
    let f = Folder::read(dir).unwrap();
    CertInfo::from_pem(&f.cert_pem, &dir.join("cert.pem")).unwrap()
}

#[test]
fn a_node_certificate_names_the_node_and_its_addresses_and_the_ca_signed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(&tmp.path().join("ca"));
    let addresses = vec!["198.18.0.1".to_string(), "node-a.example".to_string()];
    let issued = ca.issue_node("node-a", &addresses, 7).unwrap();
    let out = tmp.path().join("node-a");
    write_folder(&out, ca.cert_pem(), &issued).unwrap();
    let cert = info(&out);
    assert_eq!(cert.identity, Some(Identity::Node("node-a".into())));
    assert_eq!(cert.addresses, addresses);
    assert!(!cert.is_ca);
    assert_eq!(cert.issuer, "nonstop cluster CA");
    let now = OffsetDateTime::now_utc();
    assert!(cert.valid_at(now));
    assert!(
        (6..=7).contains(&cert.days_left(now)),
        "{}",
        cert.days_left(now)
    );
    assert!(cert.signed_by(ca.cert_pem()));
    // The folder's CA is the CA's own certificate.
    assert_eq!(Folder::read(&out).unwrap().ca_pem, ca.cert_pem());
    let shown = cert.to_string();
    for line in [
        "identity:   node node-a",
        "198.18.0.1, node-a.example",
        "days left",
    ] {
        assert!(shown.contains(line), "{line:?} not in:\n{shown}");
    }
}

#[test]
fn a_user_certificate_carries_its_role() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(&tmp.path().join("ca"));
    for role in Role::ALL {
        let out = tmp.path().join(role.as_str());
        let issued = ca.issue_user("alice", role, 1).unwrap();
        write_folder(&out, ca.cert_pem(), &issued).unwrap();
        let cert = info(&out);
        assert_eq!(
            cert.identity,
            Some(Identity::User {
                name: "alice".into(),
                role
            })
        );
        assert!(cert.to_string().contains(&format!("role:       {role}")));
    }
}

#[test]
fn a_certificate_of_another_ca_is_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = ca_in(&tmp.path().join("ours"));
    let theirs = ca_in(&tmp.path().join("theirs"));
    let issued = theirs
        .issue_node("node-a", &["127.0.0.1".into()], 1)
        .unwrap();
    let cert = CertInfo::from_pem(&issued.cert_pem, Path::new("cert.pem")).unwrap();
    assert!(!cert.signed_by(ours.cert_pem()));
    assert!(cert.signed_by(theirs.cert_pem()));
}

#[test]
fn keys_are_readable_by_their_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    ca_in(&dir);
    let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("key.pem"), 0o600);
    assert_eq!(mode("cert.pem"), 0o644);
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}

fn field(e: PkiError) -> String {
    match e {
        PkiError::Invalid { field, .. } => field,
        other => panic!("expected a refused field, got {other}"),
    }
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(&tmp.path().join("ca"));
    let addr = vec!["127.0.0.1".to_string()];
    for name in ["", "-rf", "../x", "a b"] {
        assert_eq!(field(ca.issue_node(name, &addr, 1).unwrap_err()), "NAME");
        assert_eq!(
            field(ca.issue_user(name, Role::Admin, 1).unwrap_err()),
            "NAME"
        );
    }
    for bad in ["127.0.0.1:7701", "https://a", "a..b", "-a.b", "", "a b"] {
        let e = ca.issue_node("n", &[bad.to_string()], 1).unwrap_err();
        assert_eq!(field(e), "--address", "{bad:?}");
    }
    assert_eq!(field(ca.issue_node("n", &[], 1).unwrap_err()), "--address");
    for days in [0, 36_501] {
        assert_eq!(
            field(ca.issue_node("n", &addr, days).unwrap_err()),
            "--days"
        );
        assert_eq!(field(Ca::create(days).unwrap_err()), "--days");
    }
    let e = "root".parse::<Role>().unwrap_err();
    assert_eq!(field(e), "--role");
}

#[test]
fn an_existing_folder_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(&tmp.path().join("ca"));
    let out = tmp.path().join("n");
    let first = ca.issue_node("n", &["127.0.0.1".into()], 1).unwrap();
    write_folder(&out, ca.cert_pem(), &first).unwrap();
    let before = Folder::read(&out).unwrap().key_pem;
    let second = ca.issue_node("n", &["127.0.0.1".into()], 1).unwrap();
    let e = write_folder(&out, ca.cert_pem(), &second).unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    assert_eq!(Folder::read(&out).unwrap().key_pem, before);
    // Only the three files: no temporary file left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
}

#[test]
fn a_folder_that_is_not_a_ca_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(&tmp.path().join("ca"));
    let node = tmp.path().join("n");
    let issued = ca.issue_node("n", &["127.0.0.1".into()], 1).unwrap();
    write_folder(&node, ca.cert_pem(), &issued).unwrap();
    // A node's folder holds the CA's certificate but not its key.
    let e = Ca::load(&node).unwrap_err();
    assert!(e.to_string().contains("is not the CA's key"), "{e}");
    let missing = Ca::load(&tmp.path().join("nowhere")).unwrap_err();
    assert!(missing.to_string().contains("nowhere/ca.pem"), "{missing}");
    std::fs::write(node.join("junk.pem"), "not pem").unwrap();
    let junk = CertInfo::from_pem("not pem", &node.join("junk.pem")).unwrap_err();
    assert!(junk.to_string().contains("junk.pem"), "{junk}");
}
