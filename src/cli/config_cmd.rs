//! `nonstop config check FILE`: reads a `cluster.yaml` and reports every error as
//! `FILE:LINE:COL: message`, or a one-line summary when it is valid. Writes nothing.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use nonstop_contract::TypeDef;
use nonstop_controller::config;
use nonstop_resource_types::{Registry, RegistryConfig};

use super::output::{say, tell};

/// `nonstop config ...`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    cmd: ConfigCmd,
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check a cluster.yaml: exit 0 when valid, 1 with every error otherwise.
    Check {
        /// The file to check.
        file: PathBuf,
        /// Where exec plug-ins are looked for, for types `types:` does not declare (default
        /// /usr/lib/nonstop/plugins).
        #[arg(long = "plugin-dir", env = "NONSTOP_PLUGIN_DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// The OCF root, for `ocf:` types `types:` does not declare.
        #[arg(long, env = "OCF_ROOT", default_value = nonstop_resource_types::ocf::DEFAULT_ROOT)]
        ocf_root: PathBuf,
    },
}

/// Runs a `config` subcommand.
pub fn run(args: ConfigArgs) -> ExitCode {
    match args.cmd {
        ConfigCmd::Check {
            file,
            plugin_dirs,
            ocf_root,
        } => {
            let mut registry = RegistryConfig {
                ocf_root,
                ..RegistryConfig::default()
            };
            if !plugin_dirs.is_empty() {
                registry.plugin_dirs = plugin_dirs;
            }
            check(&file, registry)
        }
    }
}

/// The types the file's resources use that `types:` does not declare, as this machine's OCF
/// agents and plug-ins describe them (their meta-data); those not installed here are left out
/// (the check then names them as unknown).
fn installed_here(file: &config::ClusterFile, registry: RegistryConfig) -> Vec<TypeDef> {
    let builtin = nonstop_contract::builtin::builtin_types();
    let mut names: Vec<&str> = (file.groups.iter())
        .flat_map(|g| g.resources.iter().map(|r| r.type_name.as_str()))
        .filter(|t| !file.types.iter().any(|d| d.name == *t))
        .filter(|t| !builtin.iter().any(|b| b.name == *t))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Vec::new();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let registry = Registry::new(registry);
    rt.block_on(async {
        let mut out = Vec::new();
        for name in names {
            if let Ok(def) = registry.type_def(name).await {
                out.push(def);
            }
        }
        out
    })
}

fn check(path: &std::path::Path, registry: RegistryConfig) -> ExitCode {
    let name = path.display().to_string();
    let result = config::read(path).and_then(|text| {
        let file = config::load_str(&name, &text)?;
        let here = installed_here(&file, registry);
        let c = config::check_with(&name, &text, &config::discovered_here(&file, &here))?;
        // Fence agents installed here are asked for their parameters.
        let agents = super::fence_agents::check(&name, &text, &c.file);
        if agents.is_empty() {
            Ok(c)
        } else {
            Err(agents)
        }
    });
    match result {
        Ok(c) => {
            say!("ok: {}", summary(&c.file));
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in &diags {
                tell!("{d}");
            }
            let n = diags.len();
            tell!("{n} error{}", if n == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}

fn summary(f: &config::ClusterFile) -> String {
    let resources: usize = f.groups.iter().map(|g| g.resources.len()).sum();
    let mut parts = vec![
        count(f.nodes.len(), "node"),
        count(f.groups.len(), "group"),
        count(resources, "resource"),
    ];
    if !f.cousins.is_empty() {
        parts.push(count(f.cousins.len(), "cousin set"));
    }
    if !f.services.is_empty() {
        parts.push(count(f.services.len(), "service"));
    }
    if !f.alerts.is_empty() {
        parts.push(count(f.alerts.len(), "alert"));
    }
    parts.join(", ")
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
