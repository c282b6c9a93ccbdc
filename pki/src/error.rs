//! What can go wrong with certificates: each error names the field or the file, and the reason.

use std::path::PathBuf;

/// A certificate operation that failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// An argument that cannot go into a certificate.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument (`NAME`, `--address`, `--role`, `--days`).
        field: String,
        /// Why.
        reason: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A PEM file that holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rcgen could not make or sign a certificate.
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

impl PkiError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        PkiError::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        PkiError::File {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        PkiError::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, PkiError>;
