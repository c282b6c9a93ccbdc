//! The library side of the `nonstop` binary: the Tmax importer ([`tmax`]), which reads a Tmax
//! environment file, checks it the way `cfl` does and imports it as a `cluster.yaml`. The CLI
//! (`tmax check`, `tmax import`, and commands given a Tmax file where a cluster.yaml is
//! expected), the tests and the import benchmark use it. The rest of the binary (daemon,
//! watchdog, commands) is private to `src/main.rs`.

pub mod tmax;
