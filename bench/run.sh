#!/usr/bin/env bash
# Every benchmark in one command, on a quiet machine: W1 idle fleet (1k/5k/10k/19k), W2
# throughput, burst, reconnect storm, wss vs ws cost, TLS resumption storm, 100,000 and
# 1,000,000 clients. Targets are
# `wschaos serve` processes on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"
# Each Python benchmark appends its headline figures here; goals.py sets them beside the goals.
export BENCH_FIGURES
BENCH_FIGURES=$(mktemp)
trap 'rm -f "$BENCH_FIGURES"' EXIT
python3 w1.py 1000 5000 10000 19000
echo
python3 w2.py
echo
python3 burst.py
echo
python3 serve_memory.py 20000
echo
python3 storm.py
echo
python3 wss_cost.py 10000
echo
python3 resume_storm.py 5000
echo
bash proxy_latency.sh 1 20
echo
python3 w100k.py 100000
echo
# About 25 minutes: 1,000 arrivals a second, then 300 s held; the 10 ms timer grid for fewer
# wakeups (README Performance, "One million clients on this box?").
RATE=1000 TIMER_RESOLUTION=10ms python3 w1m.py 1000000 300
echo
python3 goals.py "$BENCH_FIGURES"
