"""The table bench/compare-etcd.sh prints: its load client's JSON lines on standard input."""
import json
import os
import sys

r = {(d["target"], d["tls"]): d for d in map(json.loads, sys.stdin)}
clients = os.environ.get("CLIENTS", "64")
rows = [("single client p50 (ms)", "p50_ms"), ("single client p99 (ms)", "p99_ms"),
        (f"{clients} clients (writes/s)", "throughput_per_s")]
head = ("3 members, loopback, fsync", "nonstop", "etcd", "ratio", "nonstop TLS", "etcd TLS",
        "ratio", "TLS cost: nonstop", "etcd")
print("\n%-28s %9s %9s %6s  %11s %9s %6s  %17s %6s" % head)
for name, k in rows:
    n, e = r[("nonstop", False)][k], r[("etcd", False)][k]
    nt, et = r[("nonstop", True)][k], r[("etcd", True)][k]
    print("%-28s %9.2f %9.2f %6.2f  %11.2f %9.2f %6.2f  %17.2f %6.2f"
          % (name, n, e, n / e, nt, et, nt / et, nt / n, et / e))
print("(ratio = nonstop / etcd; TLS cost = with TLS / without. For latency below 1 is better, "
      "for throughput above 1.)")
