#!/usr/bin/env bash
# The chaos proxy's own added latency: message RTT of closed-loop clients (each sends its next
# message when the echo of the last one arrives; no heartbeats, so no timer shapes the load)
# straight against `wschaos serve`, through a bare TCP relay (examples/plain_proxy.rs: the
# floor, what any extra userspace hop costs here) and through `wschaos proxy` (no faults) in
# front of the same server, for each client count; then what the proxy adds over direct and
# over the bare relay, at p50 and p99, in microseconds.
#
# Usage: bench/proxy_latency.sh [CLIENTS...]   (default: 1 20)
#        DURATION=10s SIZE=64 bench/proxy_latency.sh 1 20 200
# Needs: a Rust toolchain and jq. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 20)
duration=${DURATION:-10s}
size=${SIZE:-64}

cargo build --release --quiet --bin wschaos --example plain_proxy
release="${CARGO_TARGET_DIR:-target}/release"
source bench/lib.sh

start "$release/wschaos" serve --port 0
server=$addr
start "$release/examples/plain_proxy" "$server"
relay=$addr
start "$release/wschaos" proxy --listen 127.0.0.1:0 --upstream "ws://$server"
proxy=$addr

# Runs CLIENTS closed-loop clients against ADDR; prints "p50 p99 samples" of message RTT in us.
measure() {
  local name=$1 target=$2 clients=$3
  cat >"$tmp/$name.yaml" <<YAML
name: $name
seed: 1
duration: $duration
target: {url: "ws://$target/"}
clients:
  count: $clients
  heartbeat: {mode: none}
  messages: {rate: closed, size: $size}
YAML
  "$release/wschaos" run "$tmp/$name.yaml" --out "$tmp/$name" --quiet
  jq -r '.histograms.message_rtt | "\(.p50) \(.p99) \(.count)"' "$tmp/$name/report.json"
}

row() { printf '  %-22s p50 %6s  p99 %6s  (%s echoes)\n' "$@"; }
added() { printf '  %-22s p50 %+6d  p99 %+6d\n' "$@"; }
for clients in "${counts[@]}"; do
  read -r direct_p50 direct_p99 direct_n < <(measure "direct-$clients" "$server" "$clients")
  read -r relay_p50 relay_p99 relay_n < <(measure "relay-$clients" "$relay" "$clients")
  read -r proxy_p50 proxy_p99 proxy_n < <(measure "proxy-$clients" "$proxy" "$clients")
  printf 'message RTT, %s closed-loop clients, %s-byte texts for %s (microseconds)\n' \
    "$clients" "$size" "$duration"
  row "direct" "$direct_p50" "$direct_p99" "$direct_n"
  row "bare relay (floor)" "$relay_p50" "$relay_p99" "$relay_n"
  row "wschaos proxy" "$proxy_p50" "$proxy_p99" "$proxy_n"
  added "proxy over direct" "$((proxy_p50 - direct_p50))" "$((proxy_p99 - direct_p99))"
  added "proxy over bare relay" "$((proxy_p50 - relay_p50))" "$((proxy_p99 - relay_p99))"
  added "bare relay over direct" "$((relay_p50 - direct_p50))" "$((relay_p99 - direct_p99))"
done
printf 'reproduce: DURATION=%s SIZE=%s bench/proxy_latency.sh %s\n' "$duration" "$size" "${counts[*]}"
