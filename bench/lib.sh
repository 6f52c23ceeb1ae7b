# Shared by the shell benchmarks (sourced): a temporary directory, background processes killed
# on exit, and `start` for the wschaos commands that print their address on line 1.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Sets $bin: WSCHAOS_BIN if given (another build: a copy, so a rebuild during a long run does
# not swap it), else the release build, built now.
wschaos_bin() {
  if [ -n "${WSCHAOS_BIN:-}" ]; then
    bin=$WSCHAOS_BIN
  else
    cargo build --release --quiet --bin wschaos
    bin="${CARGO_TARGET_DIR:-target}/release/wschaos"
  fi
}

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

# The soak's clients (bench/soak.sh, bench/fault_rss.sh): COUNT clients arriving over 30 s, a
# text heartbeat every 5 s, one small message every 10 s, exponential backoff, two source
# addresses. Prints the `clients:` block.
soak_clients() {
  cat <<CLIENTS
clients:
  count: $1
  ramp: 30s
  heartbeat: {mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 5s, timeout: 10s}
  reconnect: {backoff: exponential, initial: 500ms, max: 10s, jitter: full}
  messages: {rate: 6/m, size: 64}
  source_ips: [127.0.0.2, 127.0.0.3]
CLIENTS
}

# The resident size of process PID in KiB (0 once it is gone).
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
