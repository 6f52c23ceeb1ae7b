#!/usr/bin/env bash
# The 7-minute memory probe behind the choice of allocator (README "Reliability"): 5,000
# clients, six faults of one KIND every 60 s (30 s windows), the tool's RSS from /proc every
# 5 s, printed every 20 s. A tool that keeps what reconnects cost steps up at every fault.
#
#   bench/fault_rss.sh [KIND=stop_acking]     KIND: stop_acking partition idle_timeout
#                                             frame_loss server_kill
# WSCHAOS_BIN=path runs another build. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-stop_acking}
source bench/lib.sh
wschaos_bin

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $kind in
  stop_acking) fault="{kind: stop_acking, duration: 30s, fraction: 0.05" ;;
  partition) fault="{kind: partition, duration: 30s, fraction: 0.05" ;;
  idle_timeout) fault="{kind: idle_timeout, duration: 30s, idle: 3s, fraction: 0.1" ;;
  frame_loss) fault="{kind: frame_loss, duration: 30s, probability: 0.2, direction: downstream, fraction: 0.1" ;;
  server_kill) fault="{kind: server_kill, downtime: 5s" ;;
  *) echo "unknown fault kind: $kind" >&2; exit 2 ;;
esac
{
  cat <<YAML
name: fault-rss
seed: 11
duration: 7m
target:
  url: "ws://127.0.0.1:$port/"
  command: ["$bin", "serve", "--port", "$port"]
YAML
  soak_clients 5000
  echo "faults:"
  for at in 60 120 180 240 300 360; do echo "  - $fault, at: ${at}s}"; done
} >"$tmp/probe.yaml"

"$bin" run "$tmp/probe.yaml" --out "$tmp/report" --quiet >"$tmp/run.out" 2>&1 &
tool_pid=$!
pids+=("$tool_pid")
start=$(date +%s)
while kill -0 "$tool_pid" 2>/dev/null; do
  printf '%s\t%s\n' $(( $(date +%s) - start )) \
    "$(rss_kib "$tool_pid")" >>"$tmp/rss.tsv"
  sleep 5
done
wait "$tool_pid" && status=0 || status=$?
echo "Fault RSS probe: 5,000 clients, six $kind faults at 60, 120, ... 360 s; command:" \
  "bench/fault_rss.sh $kind; run exit code $status"
echo "seconds: tool RSS MiB (faults start at 60 s)"
awk '$1 % 20 < 5 && $2 > 0 {printf "%s: %.1f  ", $1, $2 / 1024} END {print ""}' "$tmp/rss.tsv"
