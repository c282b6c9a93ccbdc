#!/usr/bin/env bash
# The fault campaign of tests/t66_campaign.rs: RUNS faults (kill -9 of the owner, of the leader,
# of two members; SIGSTOP past the lease; every node at once; a damaged raft log; a full disk;
# concurrent moves and applies) against one local cluster, with the outside checker on.
#
#   bash bench/campaign.sh [RUNS] [SEED]      # default 200 runs, seed 7
#
# Needs root (for the full-disk case's tmpfs). Exit 0: no violation.
# The whole output goes to $LOG (default /tmp/nonstop-campaign.log).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
seed=${2:-7}
NONSTOP_CAMPAIGN_RUNS=$runs NONSTOP_CAMPAIGN_SEED=$seed \
  cargo test --release -p nonstop --test t66_campaign -- --ignored --nocapture 2>&1 \
  | tee "${LOG:-/tmp/nonstop-campaign.log}" \
  | grep --line-buffered -E '^( *[0-9]+ +[0-9.]+ s |campaign|  +[0-9]+  |the outside checker|  VIOLATION|test |thread .* panicked)'
