//! A problem found in a file, located by line and column, printed the way compilers print them:
//! `cluster.yaml:12:7: group "SOCKET_GROUP": owners names unknown node "osdb-bak"`.
//! Shared by the `cluster.yaml` loader and the Tmax environment-file compiler.

use std::fmt;

/// One error in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// An error code (`CFL0309`), where the format has them.
    pub code: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}
