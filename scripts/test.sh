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

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets
echo "== cargo test (raft crash-safety failpoints)"
cargo test -p nonstop-controller --features failpoints --test raft_failpoints
echo "== cargo test (a daemon whose raft member dies exits)"
cargo test -p nonstop --features failpoints --test t36_member_dies
