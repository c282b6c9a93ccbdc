//! The library side of the `nonstop` binary: the parts that tests and benchmarks use directly.

pub mod tmax;
