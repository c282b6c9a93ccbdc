#!/usr/bin/env bash
# Fail-over time on a local 3-node cluster of real daemons: kill -9 the home node's daemon
# N times and measure "kill -> group Online on the backup" from the cluster's own event
# timestamps (the chat resource's Online report on osdb-back, sent once the chat server answers
# on its port), for the default and the fast timing profiles. Between rounds `nonstop up`
# restarts the home node and the group fails back.
#
# Two ways to lose the node, measured apart (KILLS, default both):
#   daemon   kill -9 of the daemon only: its watchdog sees it at once, stops what the agent had
#            started and tells the members, who declare the node Down on that word;
#   machine  kill -9 of the daemon, its watchdog and the group's processes at once, as when the
#            machine loses power: nothing confirms anything, the node is Down after node_timeout.
#
# Rounds alternate between two cases reported apart (the leader lost with the node, or not):
# before the kill, `nonstop member transfer` makes the home node the raft leader (odd rounds: fail-over pays an
# election too), or moves the leadership to osdb-third (even rounds). Each round is counted
# under the case the cluster's status shows just before the kill.
#
#   bash bench/failover.sh            # 20 rounds per profile and way
#   ROUNDS=5 PROFILES=fast KILLS=daemon bash bench/failover.sh
#
# Builds the release binary first. Uses ports 7801-7803 and 7090 on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-20}
PROFILES=${PROFILES:-"default fast"}
KILLS=${KILLS:-"daemon machine"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin nonstop
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/nonstop
WORK=$(mktemp -d /tmp/nonstop-failover-bench.XXXXXX)
# KEEP=1 keeps the folder (the last profile's daemon logs) for a look afterwards.
trap '"$BIN" down --dir "$WORK/.nonstop" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
cd "$WORK"
export NONSTOP_ENDPOINT=https://127.0.0.1:7801,https://127.0.0.1:7802,https://127.0.0.1:7803

now_ms() { date +%s%3N; }

# Waits until SOCKET_GROUP is Online on $1.
wait_online() {
    for _ in $(seq 1 600); do
        # During an election nobody answers: the check just fails and is tried again.
        if "$BIN" group show SOCKET_GROUP --output json 2>/dev/null |
            python3 -c "import json,sys; g=json.load(sys.stdin); sys.exit(0 if (g['state'],g['owner'])==('Online','$1') else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "SOCKET_GROUP not Online on $1" >&2
    "$BIN" status >&2 || true
    for n in osdb-serv osdb-back osdb-third; do
        echo "--- $n" >&2
        grep -v slog "$WORK/.nonstop/$n/daemon.log" | tail -n 15 >&2 || true
    done
    return 1
}

# The at_ms of the newest event "* Start chat ( $1 )".
started_at() {
    "$BIN" events --from 0 --output json | python3 -c "
import json,sys
last=None
for e in json.load(sys.stdin):
    if e.get('summary')=='* Start chat ( $1 )': last=e['at_ms']
print(last)"
}

# The pids of osdb-serv's watchdogs and of the chat server (for KILLS=machine).
machine_pids() {
    for d in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null) || continue
        case "$cmd" in
        *" watchdog --state $WORK/.nonstop/osdb-serv/"* | *"chat-server --listen 127.0.0.1:7090"*)
            echo "${d#/proc/}" ;;
        esac
    done
}

for kill_what in $KILLS; do
for profile in $PROFILES; do
    cat > cluster.yaml <<YAML
timing: $profile
nodes: [{name: osdb-serv}, {name: osdb-back}, {name: osdb-third}]
groups:
  - name: SOCKET_GROUP
    owners: [osdb-serv, osdb-back, osdb-third]
    failover_limit: {count: 1000, window: 1h}   # the bench fails over on purpose, often
    resources:
      - name: chat
        type: process
        # check_tcp: online returns (and Online is reported) once the server answers there.
        properties: {command: $BIN, args: [example, chat-server, --listen, "127.0.0.1:7090"],
                     check_tcp: "127.0.0.1:7090"}
YAML
    "$BIN" up cluster.yaml --dir .nonstop --base-port 7801 --timing "$profile" >/dev/null
    wait_online osdb-serv
    : > "times-$kill_what-$profile"
    : > "times-$kill_what-$profile-leader"
    for r in $(seq 1 "$ROUNDS"); do
        pid=$(cat .nonstop/osdb-serv/daemon.pid)
        # Odd rounds: the home node leads raft; even rounds: another member does.
        target=osdb-third
        [ $((r % 2)) -eq 1 ] && target=osdb-serv
        "$BIN" member transfer --to "$target" --timeout 20s >/dev/null
        # Let the transfer settle (every agent heartbeats every member, so nothing else waits on
        # the new leader: see docs/daemon.md, leases from a quorum).
        sleep 1
        leader=$("$BIN" status --output json | python3 -c "import json,sys; print(json.load(sys.stdin)['leader'])")
        out="times-$kill_what-$profile"
        [ "$leader" = "127.0.0.1:7801" ] && out="times-$kill_what-$profile-leader"
        others=""
        [ "$kill_what" = machine ] && others=$(machine_pids)
        t0=$(now_ms)
        # shellcheck disable=SC2086
        kill -9 "$pid" $others
        wait_online osdb-back
        t1=$(started_at osdb-back)
        echo $((t1 - t0)) >> "$out"
        # Bring the home node back and let the group fail back before the next round.
        "$BIN" up --dir .nonstop >/dev/null
        wait_online osdb-serv
        sleep 1
    done
    "$BIN" down --dir .nonstop >/dev/null
    if [ -n "${KEEP:-}" ]; then rm -rf ".nonstop-$kill_what-$profile"; mv .nonstop ".nonstop-$kill_what-$profile"; else rm -rf .nonstop; fi
done
done

for kill_what in $KILLS; do
for profile in $PROFILES; do
    for kind in "" "-leader"; do
        python3 - "$kill_what" "$profile" "$kind" "times-$kill_what-$profile$kind" <<'PY'
import sys
way, name, kind, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t = sorted(int(x) for x in open(path))
what = "home node was also the raft leader" if kind else "home node was a follower"
if not t:
    print(f"{way:8} {name:8} {what}: no round")
    sys.exit(0)
q = lambda p: t[min(len(t) - 1, int(round(p * (len(t) - 1))))]
print(f"{way:8} {name:8} {what}: kill -> Online on backup: n={len(t)} p50={q(0.5)} ms p99={q(0.99)} ms max={t[-1]} ms")
PY
    done
done
done
