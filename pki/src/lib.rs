//! nonstop's certificates. One cluster CA signs every certificate; a certificate *is* an
//! identity, never a field of a request:
//!
//! ```text
//!  nonstop cert init ─▶ CA folder (ca.pem = cert.pem, key.pem)
//!        │ signs
//!        ├─▶ nonstop cert node NAME --address A... ─▶ CN=NAME, OU=node, SAN=addresses,
//!        │                                             server and client authentication
//!        └─▶ nonstop cert user NAME --role R      ─▶ CN=NAME, OU=user, O=R (viewer, operator,
//!                                                     admin), client authentication only
//! ```
//!
//! Each folder holds `ca.pem` (the cluster CA), `cert.pem` and `key.pem` (mode 0600), written
//! atomically; an existing folder's files are never overwritten. [`CertInfo`] reads a
//! certificate back: who it names, with which role, for which addresses, until when, and
//! whether the cluster CA signed it.

mod connect;
mod error;
mod folder;
mod identity;
mod inspect;
mod issue;
mod tls;

pub use error::{PkiError, Result};
pub use folder::{Folder, write_folder};
pub use identity::{Identity, Role};
pub use inspect::CertInfo;
pub use issue::{CA_DAYS, Ca, Issued, NODE_DAYS, USER_DAYS};
pub use tls::{Dial, Links, Tls, TlsCell, accept, accept_with, covers, host_of};
