//! Reading a certificate back: who it names, for which addresses, until when, who signed it.

use std::fmt;
use std::path::Path;

use ::time::OffsetDateTime;
use x509_parser::oid_registry::{
    OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT, Oid,
};
use x509_parser::prelude::*;

use crate::error::{PkiError, Result};
use crate::identity::{Identity, NODE_UNIT, Role, USER_UNIT};

/// What a certificate says, as nonstop reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's common name.
    pub subject: String,
    /// The identity it carries (`None`: not one nonstop made, or the CA).
    pub identity: Option<Identity>,
    /// Whether it is a CA.
    pub is_ca: bool,
    /// Its addresses (subject alternative names), IP addresses and DNS names.
    pub addresses: Vec<String>,
    /// The issuer's common name.
    pub issuer: String,
    /// Valid from.
    pub not_before: OffsetDateTime,
    /// Valid until.
    pub not_after: OffsetDateTime,
    der: Vec<u8>,
    public_key: Vec<u8>,
}

impl CertInfo {
    /// The first certificate in the PEM text `pem`, read from `path` (named in errors).
    pub fn from_pem(pem: &str, path: &Path) -> Result<CertInfo> {
        let (_, block) = parse_x509_pem(pem.as_bytes())
            .map_err(|e| PkiError::malformed(path, format!("not a PEM certificate: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(PkiError::malformed(
                path,
                format!("holds a {}, not a certificate", block.label),
            ));
        }
        CertInfo::from_der(&block.contents).map_err(|why| PkiError::malformed(path, why))
    }

    /// A certificate in DER (as a TLS peer presents it); the error says what is wrong.
    pub fn from_der(der: &[u8]) -> std::result::Result<CertInfo, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let subject = first(cert.subject(), &OID_X509_COMMON_NAME).unwrap_or_default();
        let unit = first(cert.subject(), &OID_X509_ORGANIZATIONAL_UNIT);
        let org = first(cert.subject(), &OID_X509_ORGANIZATION_NAME);
        let is_ca = cert.is_ca();
        let identity = match unit.as_deref() {
            _ if is_ca || subject.is_empty() => None,
            Some(NODE_UNIT) => Some(Identity::Node(subject.clone())),
            Some(USER_UNIT) => {
                org.and_then(|o| o.parse::<Role>().ok())
                    .map(|role| Identity::User {
                        name: subject.clone(),
                        role,
                    })
            }
            _ => None,
        };
        let mut addresses = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => addresses.push(d.to_string()),
                    GeneralName::IPAddress(b) => addresses.push(ip_text(b)),
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        Ok(CertInfo {
            subject,
            identity,
            is_ca,
            addresses,
            issuer: first(cert.issuer(), &OID_X509_COMMON_NAME).unwrap_or_default(),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            der: der.to_vec(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }

    /// Whether the CA whose certificate is `ca_pem` signed this certificate.
    pub fn signed_by(&self, ca_pem: &str) -> bool {
        let Ok((_, block)) = parse_x509_pem(ca_pem.as_bytes()) else {
            return false;
        };
        let (Ok((_, ca)), Ok((_, cert))) = (
            X509Certificate::from_der(&block.contents),
            X509Certificate::from_der(&self.der),
        ) else {
            return false;
        };
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether `raw` (a key pair's public key bits) is the key this certificate is for.
    pub fn is_for_key(&self, raw: &[u8]) -> bool {
        self.public_key == raw
    }

    /// Whole days from `now` until it expires (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// When it expires, in milliseconds since the Unix epoch (0 for a date before it).
    pub fn expires_ms(&self) -> u64 {
        u64::try_from(self.not_after.unix_timestamp()).unwrap_or(0) * 1000
    }

    /// Whether it is valid at `now`.
    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The first value of `oid` in `name`, as text.
fn first(name: &X509Name<'_>, oid: &Oid<'_>) -> Option<String> {
    name.iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("{bytes:?}"),
    }
}

impl fmt::Display for CertInfo {
    /// What `nonstop cert show` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = OffsetDateTime::now_utc();
        let what = match (&self.identity, self.is_ca) {
            (_, true) => "cluster CA".to_string(),
            (Some(i), _) => i.to_string(),
            (None, false) => "not a nonstop identity".to_string(),
        };
        let date = |t: OffsetDateTime| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        writeln!(f, "subject:    {}", self.subject)?;
        writeln!(f, "identity:   {what}")?;
        if let Some(Identity::User { role, .. }) = &self.identity {
            writeln!(f, "role:       {role}")?;
        }
        if !self.addresses.is_empty() {
            writeln!(f, "addresses:  {}", self.addresses.join(", "))?;
        }
        writeln!(f, "issuer:     {}", self.issuer)?;
        writeln!(f, "valid from: {}", date(self.not_before))?;
        let left = self.days_left(now);
        let state = if now > self.not_after {
            "EXPIRED".to_string()
        } else if now < self.not_before {
            "not valid yet".to_string()
        } else {
            format!("{left} days left")
        };
        write!(f, "expires:    {} ({state})", date(self.not_after))
    }
}
