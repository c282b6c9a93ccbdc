#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the system packages the tests need, then
# checks formatting and lints and runs every test. This is the README's test command and what
# CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=$(grep -v '^#' scripts/apt-packages.txt | tr '\n' ' ')
missing=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# A fresh clone (CI) gains nothing from incremental compilation and pays for writing its caches.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# cargo-nextest runs every test as its own process, as many at a time as there are cores, across
# test binaries (cargo test runs one binary after another, so one long end-to-end test held a core
# idle). Its settings: .config/nextest.toml. Without it, cargo test runs the same tests.
if cargo nextest --version >/dev/null 2>&1; then
  run_tests() { cargo nextest run "$@"; }
else
  run_tests() { cargo test "$@"; }
fi
echo "== tests"
run_tests --workspace --all-targets
# Failpoints are compiled in only here (never in a release): the raft crash-safety cases, and a
# daemon whose raft member dies must exit. One build for both.
echo "== tests (failpoints)"
run_tests -p nonstop-controller -p nonstop --features nonstop/failpoints \
  --test raft_failpoints --test t36_member_dies
