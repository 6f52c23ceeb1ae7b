#!/usr/bin/env bash
# Soak: CLIENTS clients for MINUTES minutes with a fault every MINUTES/12 minutes, every fault kind
# in turn, while the resident memory of the tool (with its in-process chaos proxy) and of a
# standalone `wschaos proxy` in front of the target is sampled every 10 s from /proc.
#
#   clients -> wschaos run (in-process proxy: faults) -> wschaos proxy (no faults) -> wschaos serve
#
# Prints one row per twelfth of the run and, for each process, the spread of its RSS after the first twelfth
# of the run (the first fault) around the median of that stretch: flat memory stays within +-5%.
#
# Usage: bench/soak.sh [CLIENTS=5000] [MINUTES=60]      (a short trial: bench/soak.sh 500 6)
# SOAK_KEEP=DIR keeps the samples (rss.tsv) and report.json there: python3 bench/soak_rss.py
# DIR/rss.tsv SETTLE_S DIR/report.json CLIENTS prints the analysis again.
# Everything runs on 127.0.0.1 and stops by itself after MINUTES (+ the report).
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${1:-5000}
minutes=${2:-60}
source bench/lib.sh
wschaos_bin

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
server_port=$(free_port)

# The standalone proxy relays to the target's port; the run starts and kills the target itself.
start "$bin" proxy --listen 127.0.0.1:0 --upstream "ws://127.0.0.1:$server_port"
proxy_pid=${pids[-1]}
proxy_addr=$addr

step_s=$((minutes * 60 / 12))
window_s=$((step_s / 5))
kinds=(server_kill drop delay_pongs stop_acking partition latency bandwidth frame_loss idle_timeout server_kill drop)
{
  cat <<EOF
name: soak-bench
seed: 11
duration: ${minutes}m
target:
  url: "ws://$proxy_addr/"
  command: ["$bin", "serve", "--port", "$server_port"]
EOF
  soak_clients $clients
  echo "faults:"
  at=$step_s
  for kind in "${kinds[@]}"; do
    case $kind in
      server_kill) echo "  - {kind: server_kill, at: ${at}s, downtime: 5s}" ;;
      drop) echo "  - {kind: drop, at: ${at}s, fraction: 0.1, mode: reset}" ;;
      delay_pongs) echo "  - {kind: delay_pongs, at: ${at}s, duration: ${window_s}s, delay: 1s, jitter: 200ms, fraction: 0.2}" ;;
      stop_acking) echo "  - {kind: stop_acking, at: ${at}s, duration: ${window_s}s, fraction: 0.05}" ;;
      partition) echo "  - {kind: partition, at: ${at}s, duration: ${window_s}s, fraction: 0.05}" ;;
      latency) echo "  - {kind: latency, at: ${at}s, duration: ${window_s}s, latency: 100ms, jitter: 20ms, fraction: 0.2}" ;;
      bandwidth) echo "  - {kind: bandwidth, at: ${at}s, duration: ${window_s}s, bytes_per_s: 2000, fraction: 0.1}" ;;
      frame_loss) echo "  - {kind: frame_loss, at: ${at}s, duration: ${window_s}s, probability: 0.2, direction: downstream, fraction: 0.1}" ;;
      idle_timeout) echo "  - {kind: idle_timeout, at: ${at}s, duration: ${window_s}s, idle: 3s, fraction: 0.1}" ;;
    esac
    at=$((at + step_s))
  done
} >"$tmp/soak.yaml"

"$bin" run "$tmp/soak.yaml" --out "$tmp/report" --quiet >"$tmp/run.out" 2>&1 &
tool_pid=$!
pids+=("$tool_pid")

samples="$tmp/rss.tsv"
start=$(date +%s)
while kill -0 "$tool_pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  # A failed write (a full disk) loses one sample, not the run.
  printf '%s\t%s\t%s\n' "$now" "$(rss_kib "$tool_pid")" "$(rss_kib "$proxy_pid")" >>"$samples" || true
  sleep 10
done
wait "$tool_pid" && status=0 || status=$?

echo "Soak: $clients clients, $minutes min, a fault every $((step_s / 60))m$((step_s % 60))s" \
  "(${kinds[*]}); command: bench/soak.sh $clients $minutes"
echo "run exit code $status; $(grep -m1 -E 'connected|clients' "$tmp/run.out" || true)"
python3 bench/soak_rss.py "$samples" "$step_s" "$tmp/report/report.json" "$clients"
if [ -n "${SOAK_KEEP:-}" ]; then
  # The samples and the report, to analyse again later (the temporary directory goes).
  mkdir -p "$SOAK_KEEP" && cp "$samples" "$tmp/report/report.json" "$SOAK_KEEP/" || true
fi
