#!/usr/bin/env bash
# The chaos proxy's own added latency: heartbeat RTT (ping -> pong) of CLIENTS clients straight
# against `wschaos serve`, through a bare TCP relay (examples/plain_proxy.rs: the floor, what any
# extra userspace hop costs here) and through `wschaos proxy` (no faults) in front of the same
# server; then the difference at p50 and p99 in microseconds.
#
# Usage: bench/proxy_latency.sh [CLIENTS=200] [DURATION=15s] [INTERVAL=100ms]
# Needs: a Rust toolchain and jq. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${1:-200}
duration=${2:-15s}
interval=${3:-100ms}

cargo build --release --quiet --bin wschaos --example plain_proxy
release="${CARGO_TARGET_DIR:-target}/release"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Starts PROGRAM ARGS in the background and sets $addr to the address it prints on line 1.
start() {
  local out="$tmp/$(basename "$1")-${#pids[@]}.out"
  "$@" >"$out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do
    if [ -s "$out" ]; then addr=$(head -n 1 "$out"); return; fi
    sleep 0.1
  done
  echo "$1 printed no address" >&2
  exit 1
}

start "$release/wschaos" serve --port 0
server=$addr
start "$release/examples/plain_proxy" "$server"
relay=$addr
start "$release/wschaos" proxy --listen 127.0.0.1:0 --upstream "ws://$server"
proxy=$addr

# Runs the heartbeat scenario against ADDR and prints "p50 p99 samples" of the RTT in us.
measure() {
  local name=$1 target=$2
  cat >"$tmp/$name.yaml" <<YAML
name: $name
seed: 1
duration: $duration
target: {url: "ws://$target/"}
clients:
  count: $clients
  ramp: 1s
  heartbeat: {mode: ping, interval: $interval, timeout: 2s}
YAML
  "$release/wschaos" run "$tmp/$name.yaml" --out "$tmp/$name" --quiet
  jq -r '.histograms.heartbeat_rtt | "\(.p50) \(.p99) \(.count)"' "$tmp/$name/report.json"
}

read -r direct_p50 direct_p99 direct_n < <(measure direct "$server")
read -r relay_p50 relay_p99 relay_n < <(measure relay "$relay")
read -r proxy_p50 proxy_p99 proxy_n < <(measure proxy "$proxy")

row() { printf '  %-22s p50 %6s  p99 %6s  (%s samples)\n' "$@"; }
printf 'heartbeat RTT, %s clients, ping every %s for %s (microseconds)\n' "$clients" "$interval" "$duration"
row "direct" "$direct_p50" "$direct_p99" "$direct_n"
row "bare relay (floor)" "$relay_p50" "$relay_p99" "$relay_n"
row "wschaos proxy" "$proxy_p50" "$proxy_p99" "$proxy_n"
printf '  added by wschaos proxy p50 %+6d  p99 %+6d  (vs direct)\n' \
  "$((proxy_p50 - direct_p50))" "$((proxy_p99 - direct_p99))"
printf '  added by the bare relay p50 %+6d  p99 %+6d  (vs direct)\n' \
  "$((relay_p50 - direct_p50))" "$((relay_p99 - direct_p99))"
printf 'reproduce: bench/proxy_latency.sh %s %s %s\n' "$clients" "$duration" "$interval"
