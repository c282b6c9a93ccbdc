//! Who a certificate names: a node (a member or an agent; the cluster's membership says which
//! nodes are members) or a user (a person or a tool) with a role.

use std::fmt;
use std::str::FromStr;

use crate::error::PkiError;

/// What a user may do on `ClusterService`; each role may do what the one before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads and watches.
    Viewer,
    /// Also moves groups, takes groups and resources online and offline, pauses and resumes
    /// nodes, runs drills.
    Operator,
    /// Also applies configuration, changes members, manages tokens and certificates.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's word, as certificates and the command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, PkiError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                PkiError::invalid("--role", format!("{s:?}: use viewer, operator or admin"))
            })
    }
}

/// The identity a certificate carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A node of the cluster, by name.
    Node(String),
    /// A person or a tool, by name, with a role.
    User {
        /// The name.
        name: String,
        /// What it may do.
        role: Role,
    },
}

/// The organizational unit of a node's certificate.
pub(crate) const NODE_UNIT: &str = "node";
/// The organizational unit of a user's certificate.
pub(crate) const USER_UNIT: &str = "user";

impl Identity {
    /// The name it carries.
    pub fn name(&self) -> &str {
        match self {
            Identity::Node(name) | Identity::User { name, .. } => name,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Node(name) => write!(f, "node {name}"),
            Identity::User { name, role } => write!(f, "user {name} ({role})"),
        }
    }
}

/// Checks a name for a certificate: the cluster's rule for names.
pub(crate) fn checked_name(name: &str) -> Result<(), PkiError> {
    if nonstop_contract::names::is_safe_name(name) {
        Ok(())
    } else {
        Err(PkiError::invalid(
            "NAME",
            format!("{name:?}: {}", nonstop_contract::names::NAME_RULE),
        ))
    }
}
