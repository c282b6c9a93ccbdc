#!/usr/bin/env bash
# Compares nonstop's raft with etcd's on this machine, like for like: 3 members of each on
# loopback, fsync on, written to at the leader from a process of its own (bench/load) through
# each system's own gRPC client path: nonstop's ClusterService.SetGroupTarget (an operator
# command through raft: proposed, replicated, fsynced, applied, audited; it changes nothing
# else), etcd's KV.Put of 128 bytes. Each plain and with mutual TLS (certificates from
# `nonstop cert`, for etcd's peers and clients too). One client writing call after call gives the
# latency (p50, p99); CLIENTS clients over 8 connections give the throughput.
#
#   bash bench/compare-etcd.sh                 # 5 s per measurement, 64 clients
#   SECS=10 CLIENTS=64 bash bench/compare-etcd.sh
#
# The nonstop cluster is `nonstop up`'s (the chat example: three agents heartbeat the members
# meanwhile, as in any real cluster; etcd has no such work). Installs Debian's etcd-server and
# etcd-client (apt) if etcd is missing. Both share the machine's cores with the load client.
set -euo pipefail

SECS=${SECS:-5}
CLIENTS=${CLIENTS:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin nonstop --bin nonstop-load -p nonstop -p nonstop-load
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
BIN=$TARGET/nonstop
LOAD=$TARGET/nonstop-load
WORK=$(mktemp -d /tmp/nonstop-etcd-bench.XXXXXX)
PIDS=()

stop_etcd() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
cleanup() {
    stop_etcd
    for d in "$WORK"/ns-*; do [ -d "$d" ] && "$BIN" down --dir "$d" >/dev/null 2>&1 || true; done
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

# Certificates for etcd's members (peer and client TLS) and the load client.
"$BIN" cert init --out "$WORK/ca" >/dev/null
for i in 1 2 3; do
    "$BIN" cert node "e$i" --ca "$WORK/ca" --address 127.0.0.1 --out "$WORK/e$i-tls" >/dev/null
done
"$BIN" cert user bench --role operator --ca "$WORK/ca" --out "$WORK/etcd-client" >/dev/null

# etcd, plain or TLS: prints the load client's JSON line.
run_etcd() {
    local tls=$1 scheme=http tlsflags=() ctl=()
    if [ "$tls" = 1 ]; then
        scheme=https
        ctl=(--cacert "$WORK/ca/ca.pem" --cert "$WORK/etcd-client/cert.pem" --key "$WORK/etcd-client/key.pem")
    fi
    local cluster=""
    for i in 1 2 3; do cluster+="e$i=$scheme://127.0.0.1:2382$i,"; done
    for i in 1 2 3; do
        tlsflags=()
        if [ "$tls" = 1 ]; then
            local d="$WORK/e$i-tls"
            tlsflags=(--cert-file "$d/cert.pem" --key-file "$d/key.pem" --trusted-ca-file "$d/ca.pem"
                --client-cert-auth --peer-cert-file "$d/cert.pem" --peer-key-file "$d/key.pem"
                --peer-trusted-ca-file "$d/ca.pem" --peer-client-cert-auth)
        fi
        rm -rf "$WORK/e$i"
        etcd --name "e$i" --data-dir "$WORK/e$i" \
            --listen-client-urls "$scheme://127.0.0.1:2381$i" \
            --advertise-client-urls "$scheme://127.0.0.1:2381$i" \
            --listen-peer-urls "$scheme://127.0.0.1:2382$i" \
            --initial-advertise-peer-urls "$scheme://127.0.0.1:2382$i" \
            --initial-cluster "${cluster%,}" --initial-cluster-state new \
            --initial-cluster-token "nonstop-bench-$tls" "${tlsflags[@]}" >"$WORK/e$i.log" 2>&1 &
        PIDS+=($!)
    done
    local endpoints="$scheme://127.0.0.1:23811,$scheme://127.0.0.1:23812,$scheme://127.0.0.1:23813"
    for _ in $(seq 1 100); do
        ETCDCTL_API=3 etcdctl "${ctl[@]}" --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break
        sleep 0.1
    done
    local leader
    leader=$(ETCDCTL_API=3 etcdctl "${ctl[@]}" --endpoints "$endpoints" endpoint status -w json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
        print(s["Endpoint"].split("://")[-1])')
    [ -n "$leader" ] || { echo "etcd did not elect a leader; logs in $WORK" >&2; exit 1; }
    local identity=()
    [ "$tls" = 1 ] && identity=(--identity "$WORK/etcd-client")
    "$LOAD" --target etcd --address "$leader" "${identity[@]}" --secs "$SECS" --clients "$CLIENTS"
    stop_etcd
}

# nonstop, plain (`up --insecure`) or TLS (`up`'s own certificates, the admin identity).
run_nonstop() {
    local tls=$1 dir="$WORK/ns-$1" insecure=() identity=()
    [ "$tls" = 1 ] || insecure=(--insecure)
    "$BIN" up --dir "$dir" --base-port 7911 --timing default "${insecure[@]}" >/dev/null
    local scheme=http
    if [ "$tls" = 1 ]; then scheme=https; identity=(--identity "$dir/admin"); fi
    local leader
    leader=$(NONSTOP_ENDPOINT=$scheme://127.0.0.1:7911 "$BIN" status -o json "${identity[@]}" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["leader"])')
    "$LOAD" --target nonstop --address "$leader" "${identity[@]}" --secs "$SECS" --clients "$CLIENTS"
    "$BIN" down --dir "$dir" >/dev/null
}

RESULTS=()
for tls in 0 1; do
    echo "nonstop, tls=$tls..." >&2
    RESULTS+=("$(run_nonstop "$tls")")
    echo "etcd $(etcd --version | head -1 | awk '{print $3}'), tls=$tls..." >&2
    RESULTS+=("$(run_etcd "$tls")")
done
printf '%s\n' "${RESULTS[@]}"
printf '%s\n' "${RESULTS[@]}" | CLIENTS=$CLIENTS python3 "$ROOT/bench/compare-etcd-table.py"
