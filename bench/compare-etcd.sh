#!/usr/bin/env bash
# Compares nonstop's raft with etcd on this machine, in the same run: 3 members on loopback,
# fsync on, single-client put latency (p50/p99) and throughput with 64 concurrent clients.
#
#   bash bench/compare-etcd.sh            # 5 s per measurement
#   SECS=10 CLIENTS=64 bash bench/compare-etcd.sh
#
# Set CARGO_TARGET_DIR as for any cargo build; the nonstop side is a release build.
#
# Installs Debian's etcd-server and etcd-client (apt) if etcd is missing. etcd is driven
# through its v3 JSON gateway by a small Python client (stdlib only, one keep-alive connection
# per client, 8 processes so the GIL does not cap it), always at the leader; nonstop is driven
# by `cargo bench -p nonstop-controller --bench raft` (clients in the same process, at the
# leader). Both share the machine's 2 cores with their clients.
set -euo pipefail

SECS=${SECS:-5}
CLIENTS=${CLIENTS:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/nonstop-etcd-bench.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    echo "installing etcd-server and etcd-client (apt)..." >&2
    apt-get update -qq
    # Do not let the package start its own etcd service on the default ports.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

CLUSTER=""
for i in 1 2 3; do CLUSTER+="e$i=http://127.0.0.1:2382$i,"; done
CLUSTER=${CLUSTER%,}
for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$WORK/e$i" \
        --listen-client-urls "http://127.0.0.1:2381$i" \
        --advertise-client-urls "http://127.0.0.1:2381$i" \
        --listen-peer-urls "http://127.0.0.1:2382$i" \
        --initial-advertise-peer-urls "http://127.0.0.1:2382$i" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new \
        --initial-cluster-token nonstop-bench >"$WORK/e$i.log" 2>&1 &
    PIDS+=($!)
done
ENDPOINTS="127.0.0.1:23811,127.0.0.1:23812,127.0.0.1:23813"
for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1; then break; fi
    sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1 || {
    echo "etcd did not become healthy; logs in $WORK" >&2; tail -5 "$WORK"/e*.log >&2; exit 1; }
LEADER=$(ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint status -w json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
        print(s["Endpoint"])')
echo "etcd $(etcd --version | head -1 | awk "{print \$3}") leader at $LEADER" >&2

ETCD_OUT=$(python3 - "$LEADER" "$SECS" "$CLIENTS" <<'PY'
import base64, http.client, json, multiprocessing as mp, sys, threading, time

host, port = sys.argv[1].split(":")
secs, clients = float(sys.argv[2]), int(sys.argv[3])
value = base64.b64encode(b"x" * 128).decode()

def put(conn, key):
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": value})
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"etcd put failed: HTTP {r.status}")

def single():
    conn = http.client.HTTPConnection(host, int(port))
    lat, i, end = [], 0, time.monotonic() + secs
    while time.monotonic() < end:
        t = time.monotonic()
        put(conn, f"s{i}")
        lat.append(time.monotonic() - t)
        i += 1
    lat.sort()
    pct = lambda p: lat[min(int(len(lat) * p), len(lat) - 1)] * 1e3
    return len(lat), pct(0.5), pct(0.99)

def worker(proc, threads, end, out):
    counts = [0] * threads
    def run(t):
        conn = http.client.HTTPConnection(host, int(port))
        while time.monotonic() < end:
            put(conn, f"p{proc}-{t}-{counts[t]}")
            counts[t] += 1
    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    out.put(sum(counts))

n, p50, p99 = single()
print(f"single {n} {p50:.3f} {p99:.3f}")
procs = 8
end = time.monotonic() + secs
start = time.monotonic()
q = mp.Queue()
ps = [mp.Process(target=worker, args=(i, clients // procs + (i < clients % procs), end, q))
      for i in range(procs)]
[p.start() for p in ps]
total = sum(q.get() for _ in ps)
[p.join() for p in ps]
print(f"many {total} {total / (time.monotonic() - start):.0f}")
PY
)
cleanup
PIDS=()
WORK=$(mktemp -d /tmp/nonstop-etcd-bench.XXXXXX)

echo "running nonstop's raft bench (cargo bench, release build)..." >&2
NONSTOP_OUT=$(cd "$ROOT" && RAFT_BENCH_SECS=$SECS RAFT_BENCH_CLIENTS=$CLIENTS RAFT_BENCH_DIR=/tmp \
    cargo bench -q -p nonstop-controller --bench raft 2>/dev/null)

read -r _ E_N E_P50 E_P99 <<<"$(grep '^single' <<<"$ETCD_OUT")"
read -r _ E_TOTAL E_RATE <<<"$(grep '^many' <<<"$ETCD_OUT")"
N_P50=$(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' <<<"$NONSTOP_OUT")
N_P99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$NONSTOP_OUT")
N_RATE=$(sed -n 's/.*commits, \([0-9]*\) commands\/s.*/\1/p' <<<"$NONSTOP_OUT")

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '\n%-28s %12s %12s %10s\n' "3 members, loopback, fsync" "nonstop" "etcd" "ratio"
printf '%-28s %12s %12s %10s\n' "single client p50 (ms)" "$N_P50" "$E_P50" "$(ratio "$N_P50" "$E_P50")"
printf '%-28s %12s %12s %10s\n' "single client p99 (ms)" "$N_P99" "$E_P99" "$(ratio "$N_P99" "$E_P99")"
printf '%-28s %12s %12s %10s\n' "$CLIENTS clients (cmd/s)" "$N_RATE" "$E_RATE" "$(ratio "$N_RATE" "$E_RATE")"
echo "(ratio = nonstop / etcd: below 1 is better for latency, above 1 for throughput)"
