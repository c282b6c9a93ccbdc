//! `nonstop cert init|node|user|show`: the cluster CA and the certificates it signs (one folder
//! each: `ca.pem`, `cert.pem`, `key.pem` with mode 0600). The certificate is the identity: a
//! node's names the node and the addresses it is reached at, a user's names the user and its
//! role. Nothing is ever overwritten; a refusal names the argument and writes nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_pki::{CA_DAYS, Ca, CertInfo, NODE_DAYS, Role, USER_DAYS, write_folder};

use super::output::say;

/// `nonstop cert ...`
#[derive(Debug, Args)]
pub struct CertArgs {
    #[command(subcommand)]
    cmd: CertCmd,
}

#[derive(Debug, Subcommand)]
enum CertCmd {
    /// Make the cluster CA in a new folder.
    Init {
        /// The folder to write (it must not hold a CA already).
        #[arg(long)]
        out: PathBuf,
        /// Days the CA is valid.
        #[arg(long, default_value_t = CA_DAYS)]
        days: u32,
    },
    /// Make a node's certificate: its name and every address it is reached at.
    Node {
        /// The node's name, as in cluster.yaml.
        name: String,
        /// The CA's folder (from `cert init`).
        #[arg(long)]
        ca: PathBuf,
        /// An IP address or DNS name the node is reached at (repeat for each).
        #[arg(long = "address", required = true)]
        addresses: Vec<String>,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = NODE_DAYS)]
        days: u32,
    },
    /// Make a person's or a tool's certificate, with its role.
    User {
        /// The user's name (recorded in the audit log).
        name: String,
        /// viewer (reads), operator (also moves, online/offline, pause), admin (everything).
        #[arg(long)]
        role: String,
        /// The CA's folder (from `cert init`).
        #[arg(long)]
        ca: PathBuf,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = USER_DAYS)]
        days: u32,
    },
    /// Print a certificate's subject, identity, role, addresses and expiry.
    Show {
        /// A PEM certificate (cert.pem or ca.pem).
        file: PathBuf,
    },
}

/// Runs a `cert` subcommand.
pub fn run(args: CertArgs) -> ExitCode {
    let result = match args.cmd {
        CertCmd::Init { out, days } => init(&out, days),
        CertCmd::Node {
            name,
            ca,
            addresses,
            out,
            days,
        } => Ca::load(&ca)
            .and_then(|ca| {
                let issued = ca.issue_node(&name, &addresses, days)?;
                write_folder(&out, ca.cert_pem(), &issued)
            })
            .map(|()| written(&out, &format!("node {name}"))),
        CertCmd::User {
            name,
            role,
            ca,
            out,
            days,
        } => role
            .parse::<Role>()
            .and_then(|role| {
                let ca = Ca::load(&ca)?;
                let issued = ca.issue_user(&name, role, days)?;
                write_folder(&out, ca.cert_pem(), &issued)?;
                Ok(role)
            })
            .map(|role| written(&out, &format!("user {name} ({role})"))),
        CertCmd::Show { file } => show(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e.to_string()),
    }
}

fn init(out: &Path, days: u32) -> nonstop_pki::Result<()> {
    let issued = Ca::create(days)?;
    // The CA's folder holds its certificate twice: as the CA every identity trusts, and as
    // its own.
    write_folder(out, &issued.cert_pem, &issued)?;
    written(out, "the cluster CA");
    Ok(())
}

fn written(out: &Path, what: &str) {
    say!(
        "wrote {what} to {}/ (ca.pem, cert.pem, key.pem: keep key.pem secret)",
        out.display()
    );
}

fn show(file: &Path) -> nonstop_pki::Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| nonstop_pki::PkiError::File {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let info = CertInfo::from_pem(&text, file)?;
    say!("{info}");
    Ok(())
}
