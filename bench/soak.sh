#!/usr/bin/env bash
# The soak of tests/t65_soak.rs for as long as you like: a local cluster of real daemons running
# a process, a marker, an exec plug-in, an OCF agent and a Tmax stand-in, under random moves,
# applies, kills, restarts, stops and drains, watched by the outside checker (never two copies,
# no exit nobody caused, nothing killed that the cluster did not start).
#
#   bash bench/soak.sh [SECONDS] [SEED]      # default 600 s, seed from the clock
#
# Needs root for nothing; needs resource-agents and python3 (scripts/apt-packages.txt).
# Exit 0: no violation. The actions and what the checker saw are printed as it goes.
# The whole output goes to $LOG (default /tmp/nonstop-soak.log).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
seed=${2:-$(date +%s)}
echo "soak: $secs s, seed $seed (run again with: bash bench/soak.sh $secs $seed)"
NONSTOP_SOAK_SECS=$secs NONSTOP_SOAK_SEED=$seed \
  cargo test --release -p nonstop --test t65_soak -- --nocapture 2>&1 \
  | tee "${LOG:-/tmp/nonstop-soak.log}" \
  | grep --line-buffered -E '^(soak|running|test |  +[0-9.]+ s |the outside checker|  VIOLATION|  +[0-9]+ ms |thread .* panicked)'
