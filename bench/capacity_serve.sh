#!/usr/bin/env bash
# The capacity of `wschaos serve` itself on this machine: `wschaos capacity` raises clients with
# a 1 s heartbeat against `wschaos serve` started as the scenario's target.command (so its CPU
# and RSS are sampled from /proc each second), and prints the step table, the capacity (or what
# stopped the search) and the target's RSS per connection and CPU per heartbeat.
#
# Usage: bench/capacity_serve.sh [START=2000] [STEP=2000] [MAX=30000] [HOLD=30s]
#   a short trial: bench/capacity_serve.sh 200 200 600 5s
# One wschaos process drives every client, so past its descriptor limit (ulimit -n) the
# kernel-limit preflight cuts the steps it cannot hold and the search ends with "tool limit
# reached" instead of a capacity: that is the tool's limit, not the server's.
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

start=${1:-2000}
step=${2:-2000}
max=${3:-30000}
hold=${4:-30s}
source bench/lib.sh
wschaos_bin

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/capacity-serve.yaml" <<EOF
name: capacity-serve
seed: 7
duration: 60s
target:
  url: "ws://127.0.0.1:$port/"
  command: ["$bin", "serve", "--port", "$port"]
clients:
  count: $start
  heartbeat: {mode: ping, interval: 1s, timeout: 2s}
  reconnect: {backoff: exponential, initial: 500ms, max: 5s, jitter: full}
  source_ips: [127.0.0.2, 127.0.0.3, 127.0.0.4, 127.0.0.5]
thresholds:
  - "connect.failures == 0"
  - "heartbeat.delivered_ratio >= 99.9%"
  - "heartbeat_rtt.p99 < 20ms"
EOF

echo "capacity of wschaos serve (one process, one worker), 1 s ping heartbeat; command:" \
  "bench/capacity_serve.sh $start $step $max $hold; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$bin" capacity "$tmp/capacity-serve.yaml" --start "$start" --step "$step" --max "$max" \
  --hold "$hold" --ramp 5s --out "$tmp/report" || status=$?
echo "capacity exit code $status"
python3 - "$tmp/report/report.json" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as err:
    sys.exit(f"report: unreadable ({err})")
target = report.get("target") or {}
per_conn = target.get("rss_per_conn_kib")
per_hb = target.get("cpu_per_heartbeat_us")
print(f"target: peak RSS {target.get('peak_rss_kib', 0) / 1024:.1f} MiB, "
      f"RSS per connection {'n/a' if per_conn is None else f'{per_conn:.2f} KiB'} "
      f"(least squares over the sampled seconds), CPU {target.get('cpu_s', 0):.1f} s, "
      f"CPU per heartbeat {'n/a' if per_hb is None else f'{per_hb:.1f} us'}")
PY
