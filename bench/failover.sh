#!/usr/bin/env bash
# Fail-over time, measured the way operators measure it: `nonstop drill` (docs/drills.md) on a
# local 3-node cluster of real daemons (release build, mutual TLS on loopback), for the default
# and the fast timing profiles. Each scenario runs ROUNDS rounds; the drill reads every phase off
# the cluster's own event timestamps, watches for the group in two places, and restores the
# cluster between rounds. Prints p50/p99/max per phase and scenario, and keeps each drill's JSON,
# HTML report and JUnit XML in OUT (default: a temporary folder, printed at the end).
#
#   bash bench/failover.sh                                  # 20 rounds of each scenario, both profiles
#   ROUNDS=5 PROFILES=fast SCENARIOS="node-crash" bash bench/failover.sh
#
# Scenarios (SCENARIOS): node-crash (the daemon killed, its watchdog confirms), leader-crash
# (the same on the raft leader), node-freeze (the daemon stopped for FREEZE, 4s by default here:
# the lease path, as when a machine is lost and nothing confirms), resource-crash (the chat
# server killed: restart in place), partition (the node cut off by nftables for CUT, 4s by
# default here: the lease path over a network cut), move, drain. Uses ports 7801-7803 and 7090 on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-20}
PROFILES=${PROFILES:-"default fast"}
SCENARIOS=${SCENARIOS:-"node-crash leader-crash node-freeze resource-crash partition"}
FREEZE=${FREEZE:-4s}
CUT=${CUT:-4s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin nonstop
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/nonstop
WORK=$(mktemp -d /tmp/nonstop-failover-bench.XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
trap '"$BIN" down --dir "$WORK/.nonstop" >/dev/null 2>&1 || true' EXIT
cd "$WORK"

cat > node-freeze.yaml <<YAML
name: node-freeze
description: The group's node's daemon hangs (SIGSTOP) for $FREEZE; the group moves once its lease has run out.
fault: freeze-daemon
freeze: $FREEZE
leader: elsewhere
phases: [detected, decided, stopped, started, answering]
YAML

cat > partition.yaml <<YAML
name: partition
description: The group's node is cut off (nftables) for $CUT; the group moves once its lease has run out.
fault: partition
cut: $CUT
leader: elsewhere
phases: [detected, decided, stopped, started, answering]
YAML

for profile in $PROFILES; do
    cat > cluster.yaml <<YAML
timing: $profile
nodes: [{name: osdb-serv}, {name: osdb-back}, {name: osdb-third}]
groups:
  - name: SOCKET_GROUP
    owners: [osdb-serv, osdb-back, osdb-third]
    failover_limit: {count: 1000, window: 1h}   # drills fail over on purpose, often
    resources:
      - name: chat
        type: process
        timings: {restart: {limit: 1000, window: 1h}}   # resource-crash restarts it often
        properties: {command: $BIN, args: [example, chat-server, --listen, "127.0.0.1:7090"],
                     check_tcp: "127.0.0.1:7090"}
YAML
    "$BIN" up cluster.yaml --dir .nonstop --base-port 7801 --timing "$profile" >/dev/null
    for s in $SCENARIOS; do
        file=()
        [ "$s" = node-freeze ] && file=(--file node-freeze.yaml)
        [ "$s" = partition ] && file=(--file partition.yaml)
        # A failed round (exit 4) is still measured: its figures are in the JSON.
        "$BIN" drill run "$s" "${file[@]}" --rounds "$ROUNDS" --yes -o json \
            --report "$OUT/$profile-$s.html" --junit "$OUT/$profile-$s.xml" \
            > "$OUT/$profile-$s.json" || echo "$profile $s: exit $? (see $OUT/$profile-$s.json)" >&2
    done
    "$BIN" down --dir .nonstop >/dev/null
    rm -rf .nonstop
done

python3 - "$OUT" $PROFILES <<'PY'
import json, sys, pathlib
out, profiles = pathlib.Path(sys.argv[1]), sys.argv[2:]
print(f"{'profile':8} {'scenario':15} {'phase':10} {'n':>3} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
for profile in profiles:
    for f in sorted(out.glob(f"{profile}-*.json")):
        try:
            r = json.loads(f.read_text())
        except ValueError:
            print(f"{profile:8} {f.stem[len(profile)+1:]:15} no report")
            continue
        s = r["summary"]
        rows = [(p["name"], p["n"], p["p50_ms"], p["p99_ms"], p["max_ms"]) for p in s["phases"]]
        rows.append(("total", s["completed"], s["p50_ms"], s["p99_ms"], s["max_ms"]))
        for name, n, p50, p99, mx in rows:
            print(f"{profile:8} {r['scenario']:15} {name:10} {n:>3} {p50!s:>7} {p99!s:>7} {mx!s:>7}")
        overlap = sum(x["overlap_ms"] for x in r["rounds"])
        print(f"{profile:8} {r['scenario']:15} verdict {r['verdict']}, overlap {overlap} ms")
PY
echo "reports: $OUT"
