#!/usr/bin/env bash
# Scale (issue 11): NODES agent-only nodes against 3 controller members on one machine. The
# members are real daemons (`nonstop run`, members only, no agent: `witness: true` nodes; the
# default timing profile); the nodes are the agents of one harness process
# (bench/scale, nonstop-scale-harness: real agents over real gRPC, each with one in-memory
# resource). Once every node is Up and every group Online it measures for SECONDS, then stops
# one node's agent abruptly (no more heartbeats, as a dead machine) and times its group's
# fail-over. The last line of stdout is one JSON object:
#
#   {"nodes": N, "leader_cpu_cores": x, "leader_rss_mb": y, "heartbeat_rtt_p99_ms": z, "failover_ms": w}
#
#   leader_cpu_cores      the leader's utime+stime (/proc/PID/stat) over the SECONDS, / SECONDS
#   leader_rss_mb         the leader's VmRSS at the end of the SECONDS
#   heartbeat_rtt_p99_ms  p99 of every agent's heartbeat round trips to every member during the
#                         SECONDS (the call that sends it -> the acknowledgement, in the harness)
#   failover_ms           the agent of n0001 stopped -> the event "* Start r0001 ( n0002 )", by
#                         its own time (the leader's clock, whole ms, as bench/failover.sh counts),
#                         watched on the leader's WatchEvents stream (pushed, not polled)
#
#   bash bench/scale.sh 300 60
#   READY_TIMEOUT=1800 bash bench/scale.sh 1000 60     # seconds to wait for every node and group
#   START_BATCH=50 bash bench/scale.sh 300 60          # nodes join 50 at a time (default: all)
#   KEEP=1 bash bench/scale.sh 100 60                  # keep the folder (logs, raft data)
#
# Builds the release binaries first. Listens on free ports of 127.0.0.1 only. Everything lives
# in a temporary folder, removed at the end with every process it started.
set -euo pipefail

NODES=${1:?usage: bash bench/scale.sh NODES SECONDS}
RUN_SECS=${2:?usage: bash bench/scale.sh NODES SECONDS}
READY_TIMEOUT=${READY_TIMEOUT:-$((120 + NODES))}
START_BATCH=${START_BATCH:-$NODES}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" \
    -p nonstop -p nonstop-scale-harness --bins
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/nonstop
HARNESS=$TARGET/release/nonstop-scale-harness
WORK=$(mktemp -d /tmp/nonstop-scale-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "scale: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" # each agent holds a connection to every member, and one more

now_ms() { date +%s%3N; }
say() { echo "scale: $*"; }
# Stops with the end of every log, so that a failed run says why.
fail() {
    echo "scale: $*" >&2
    for log in "$WORK"/m*/daemon.log "$WORK/harness.log"; do
        echo "--- $log" >&2
        grep -v slog "$log" | tail -n 15 >&2 || true
    done
    exit 1
}

# Three free ports on 127.0.0.1, held together while they are chosen.
read -r -a PORTS < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
MEMBERS="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
export NONSTOP_ENDPOINT="http://${MEMBERS//,/,http://}"

"$HARNESS" config "$NODES" "$MEMBERS" >"$WORK/cluster.yaml"
"$BIN" config check "$WORK/cluster.yaml" >/dev/null
declare -A MEMBER_PID MEMBER_NAME
for i in 1 2 3; do
    mkdir "$WORK/m$i"
    cat >"$WORK/m$i/node.yaml" <<YAML
node: m$i
data_dir: .
# The benchmark measures plain gRPC on loopback (a TLS cluster: bench/failover.sh, t50).
insecure: true
listen: 127.0.0.1:${PORTS[$((i - 1))]}
timing: default
controller:
  id: $i
  members: {1: 127.0.0.1:${PORTS[0]}, 2: 127.0.0.1:${PORTS[1]}, 3: 127.0.0.1:${PORTS[2]}}
  cluster: ../cluster.yaml
YAML
    (cd "$WORK/m$i" && exec "$BIN" run --config node.yaml >daemon.log 2>&1) &
    PIDS+=("$!")
    MEMBER_PID["127.0.0.1:${PORTS[$((i - 1))]}"]=$!
    MEMBER_NAME["127.0.0.1:${PORTS[$((i - 1))]}"]=m$i
done

# The harness answers one JSON line per command (see its header).
started=$(now_ms)
coproc HARNESS_IO { exec "$HARNESS" run "$NODES" "$MEMBERS" "$WORK/agents" 2>"$WORK/harness.log"; }
HARNESS_PID=$HARNESS_IO_PID
PIDS+=("$HARNESS_PID")
ask() { # COMMAND TIMEOUT_SECS [may-fail]: the answer in $ANSWER
    echo "$1" >&"${HARNESS_IO[1]}"
    IFS= read -r -t "$2" ANSWER <&"${HARNESS_IO[0]}" ||
        fail "the harness did not answer '$1' within $2 s"
    case $ANSWER in *'"error"'*) [ -n "${3:-}" ] || fail "harness: $1: $ANSWER" ;; esac
}

# "UP ONLINE LEADER" as the cluster's status says (nodes n*, groups; the leader's address).
counts() {
    "$BIN" status --output json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
up = sum(n["state"] == "Up" for n in s["nodes"] if not n["witness"])
online = sum(g["state"] == "Online" for g in s["groups"])
print(up, online, s["leader"] or "-")' 2>/dev/null
}
# utime + stime of process $1, in clock ticks (/proc/PID/stat).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)
# CPU="cores each process ran since the last call (the first: since the harness started), and in
# brackets how many of its threads waited for a CPU meanwhile, on average (from each thread's
# /proc/PID/task/TID/schedstat; a machine short of CPU shows there, and then every figure says
# more about the machine than about nonstop)".
declare -A LAST_TICKS
LAST_MS=$started
cpu_since() {
    local now out="" i p t waited
    now=$(now_ms)
    for i in 1 2 3 0; do
        p=$HARNESS_PID
        [ "$i" = 0 ] || p=${MEMBER_PID["127.0.0.1:${PORTS[$((i - 1))]}"]}
        t=$(cpu_ticks "$p" 2>/dev/null || echo 0)
        for task in /proc/"$p"/task/*; do
            echo "${task##*/} $(cut -d' ' -f2 "$task/schedstat" 2>/dev/null || echo 0)"
        done >"$WORK/waits.$p.new"
        touch "$WORK/waits.$p"
        waited=$(awk 'FILENAME == ARGV[1] { was[$1] = $2; next } { w += $2 - was[$1] } END { print w + 0 }' \
            "$WORK/waits.$p" "$WORK/waits.$p.new")
        mv "$WORK/waits.$p.new" "$WORK/waits.$p"
        out+=$(awk -v d=$((t - ${LAST_TICKS[$p]:-0})) -v w="$waited" -v hz="$HZ" \
            -v ms=$((now - LAST_MS + 1)) -v who="$([ "$i" = 0 ] && echo harness || echo "m$i")" \
            'BEGIN { printf "%s %.2f (%.2f), ", who, d / hz / ms * 1000, w / ms / 1e6 }')
        LAST_TICKS[$p]=$t
    done
    LAST_MS=$now
    CPU="CPU in cores (threads waiting for one): ${out%, }; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
# Field $2 of the harness's JSON answer $1.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# HB="heartbeats since the last call: round trips, lease losses, the harness's own lag" (and
# counts afresh).
hb_since() {
    ask stats 60
    HB=$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
by = " ".join(f"{k.split()[1]}:{v}" for k, v in s["rtt_p99_ms_by_member"].items())
keys = "rtt_p99_ms", "errors", "unanswered", "lease_lost", "harness_timer_lag_p99_ms"
p99, errors, unanswered, lost, lag = (s[k] for k in keys)
print(f"heartbeat round trip p99 {p99} ms (by member {by}), errors {errors}, unanswered"
      f" {unanswered}, leases lost {lost}; harness timer lag p99 {lag} ms")' "$ANSWER")
    ask measure 30
}

# Starts the nodes, START_BATCH at a time: each batch waits until every started node is Up and
# as many groups are Online (the last: all of them).
up=0 online=0 leader=- running=0
next_report=$((started + 10000))
while [ "$running" -lt "$NODES" ] || [ "$up" != "$NODES" ] || [ "$online" != "$NODES" ] ||
    [ -z "${MEMBER_PID[$leader]:-}" ]; do
    if [ "$running" -lt "$NODES" ] && [ "$up" = "$running" ] && [ "$online" -ge "$running" ]; then
        ask "start $START_BATCH" 60
        running=$(field "$ANSWER" started)
    fi
    sleep 1
    read -r up online leader < <(counts || echo "$up $online -")
    if [ "$(now_ms)" -gt "$next_report" ]; then
        cpu_since
        hb_since
        say "$((($(now_ms) - started) / 1000)) s: $up/$running nodes Up, $online/$NODES groups" \
            "Online, leader ${MEMBER_NAME[$leader]:-none}; $CPU; $HB"
        next_report=$((next_report + 10000))
    fi
    if [ $(($(now_ms) - started)) -gt $((READY_TIMEOUT * 1000)) ]; then
        fail "not ready after $READY_TIMEOUT s: $running nodes started, $up Up, $online/$NODES" \
            "groups Online (READY_TIMEOUT=SECS waits longer)"
    fi
    kill -0 "$HARNESS_PID" 2>/dev/null || fail "the harness exited"
done
say "$NODES nodes Up and $NODES groups Online $(($(now_ms) - started)) ms after the harness started"

LEADER_PID=${MEMBER_PID[$leader]}
ask measure 30
cpu_since
t0=$(now_ms)
l0=$(cpu_ticks "$LEADER_PID")
sleep "$RUN_SECS"
l1=$(cpu_ticks "$LEADER_PID")
t1=$(now_ms)
cpu_since
say "$(((t1 - t0) / 1000)) s measured, leader ${MEMBER_NAME[$leader]}; $CPU"
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$LEADER_PID/status")
say "VmRSS: leader $((rss_kb / 1024)) MB, harness" \
    "$(($(awk '/^VmRSS/ {print $2}' "/proc/$HARNESS_PID/status") / 1024)) MB"
ask stats 60
stats=$ANSWER
say "heartbeats $stats"
lost=$(field "$stats" lease_lost)
[ "$lost" = 0 ] || echo "scale: warning: $lost leases lost during the run: not a steady state" \
    "(the harness's own timers were $(field "$stats" harness_timer_lag_p99_ms) ms late at p99)" >&2
read -r _ _ leader_after < <(counts || echo "- - -")
[ "$leader_after" = "$leader" ] ||
    echo "scale: warning: the leader changed during the run ($leader -> $leader_after)" >&2
ask "drop n0001" 180 may-fail
say "fail-over $ANSWER"

# The figures; a fail-over that did not happen is null, and the exit status 1.
python3 - "$NODES" "$((t1 - t0))" "$HZ" "$l0" "$l1" "$rss_kb" "$stats" "$ANSWER" <<'PY'
import json, sys
nodes, ms, hz, l0, l1, rss, stats, drop = sys.argv[1:]
print(json.dumps({
    "nodes": int(nodes),
    "leader_cpu_cores": round((int(l1) - int(l0)) / int(hz) / (int(ms) / 1000), 3),
    "leader_rss_mb": round(int(rss) / 1024, 1),
    "heartbeat_rtt_p99_ms": json.loads(stats)["rtt_p99_ms"],
    "failover_ms": json.loads(drop).get("failover_ms"),
}))
PY
case $ANSWER in *'"error"'*) exit 1 ;; esac
