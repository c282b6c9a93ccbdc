//! Making certificates: the cluster CA, and node and user certificates it signs.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::error::{PkiError, Result};
use crate::folder::Folder;
use crate::identity::{NODE_UNIT, Role, USER_UNIT, checked_name};

/// How long a CA is valid by default, in days (ten years).
pub const CA_DAYS: u32 = 3650;
/// How long a node's certificate is valid by default, in days.
pub const NODE_DAYS: u32 = 365;
/// How long a user's certificate is valid by default, in days.
pub const USER_DAYS: u32 = 365;
/// The longest validity accepted, in days.
const MAX_DAYS: u32 = 36_500;

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a private key.
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// The cluster CA: its certificate and the key that signs with it.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// `now` to `now + days`, both at the start of the current second minus a minute, so that
/// a peer whose clock is slightly behind accepts a certificate made just now.
fn validity(params: &mut CertificateParams, days: u32) -> Result<()> {
    if days == 0 || days > MAX_DAYS {
        return Err(PkiError::invalid(
            "--days",
            format!("{days}: use 1 to {MAX_DAYS}"),
        ));
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(1);
    params.not_after = now + Duration::days(i64::from(days));
    Ok(())
}

impl Ca {
    /// A new CA's certificate and key, valid for `days`: written with [`crate::write_folder`],
    /// it signs once [`Ca::load`] reads it back, as every later `nonstop cert` does.
    pub fn create(days: u32) -> Result<Issued> {
        let mut params = CertificateParams::default();
        validity(&mut params, days)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "nonstop cluster CA");
        dn.push(DnType::OrganizationName, "nonstop");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA kept in `dir` (as `nonstop cert init` wrote it: `ca.pem` and `key.pem`).
    pub fn load(dir: &Path) -> Result<Ca> {
        let folder = Folder::read(dir)?;
        let key = KeyPair::from_pem(&folder.key_pem)
            .map_err(|e| PkiError::malformed(dir.join("key.pem"), format!("no usable key: {e}")))?;
        let info = crate::CertInfo::from_pem(&folder.ca_pem, &dir.join("ca.pem"))?;
        if !info.is_ca {
            return Err(PkiError::malformed(
                dir.join("ca.pem"),
                "is not a CA certificate (made by `nonstop cert init`?)",
            ));
        }
        if !info.is_for_key(key.public_key_raw()) {
            return Err(PkiError::malformed(
                dir.join("key.pem"),
                "is not the CA's key: give the folder `nonstop cert init` made",
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(&folder.ca_pem, key).map_err(|e| {
            PkiError::malformed(dir.join("ca.pem"), format!("no usable CA certificate: {e}"))
        })?;
        Ok(Ca {
            cert_pem: folder.ca_pem,
            issuer,
        })
    }

    /// The CA's certificate, as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A node's certificate: its name, and the addresses (IP addresses or DNS names) it is
    /// reached at; it serves and it calls, so it is good for both.
    pub fn issue_node(&self, name: &str, addresses: &[String], days: u32) -> Result<Issued> {
        checked_name(name)?;
        if addresses.is_empty() {
            return Err(PkiError::invalid(
                "--address",
                "give at least one address the node is reached at",
            ));
        }
        let mut params = CertificateParams::default();
        validity(&mut params, days)?;
        params.distinguished_name = subject(name, NODE_UNIT, None);
        params.subject_alt_names = addresses.iter().map(|a| san(a)).collect::<Result<_>>()?;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params)
    }

    /// A person's or a tool's certificate, with its role; it only calls.
    pub fn issue_user(&self, name: &str, role: Role, days: u32) -> Result<Issued> {
        checked_name(name)?;
        let mut params = CertificateParams::default();
        validity(&mut params, days)?;
        params.distinguished_name = subject(name, USER_UNIT, Some(role));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    /// A user's certificate valid from `from` until `until`, as given (an expired one for a
    /// test of what refuses it; `nonstop cert` always starts a validity now).
    pub fn issue_user_between(
        &self,
        name: &str,
        role: Role,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Issued> {
        checked_name(name)?;
        if until <= from {
            return Err(PkiError::invalid("until", "must be after from"));
        }
        let mut params = CertificateParams::default();
        params.not_before = from;
        params.not_after = until;
        params.distinguished_name = subject(name, USER_UNIT, Some(role));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<Issued> {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn subject(name: &str, unit: &str, role: Option<Role>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, unit);
    if let Some(role) = role {
        dn.push(DnType::OrganizationName, role.as_str());
    }
    dn
}

/// An address as a subject alternative name: an IP address, or a DNS name (no port, no
/// scheme).
fn san(address: &str) -> Result<SanType> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !address.is_empty()
        && address.len() <= 253
        && address.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(PkiError::invalid(
            "--address",
            format!("{address:?}: give an IP address or a DNS name, without a port"),
        ));
    }
    let name = address
        .to_string()
        .try_into()
        .map_err(|e| PkiError::invalid("--address", format!("{address:?}: {e}")))?;
    Ok(SanType::DnsName(name))
}
