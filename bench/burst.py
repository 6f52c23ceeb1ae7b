#!/usr/bin/env python3
"""Burst: 5,000 clients all arriving at once (ramp 0) against `wschaos serve` in its own process.
Prints connections established per second: 5,000 / the time from the start of the run until the
last client was open (`all_connected_s` in the report).

    python3 bench/burst.py
"""
from harness import Server, build, record, run_tool, sources, workdir

SCENARIO = """name: burst
seed: 1
duration: 5s
target: {{url: "ws://{addr}/"}}
clients:
  count: 5000
  ramp: 0s
  heartbeat: {{mode: none}}
  source_ips: [{sources}]
"""


def main():
    build()
    with workdir() as work, Server(workers=2) as server:
        report, rss, user, system = run_tool(
            SCENARIO.format(addr=server.addr, sources=sources()), work, "burst")
    c = report["counters"]
    connect = report["histograms"]["connect_time"]
    window_s = report["all_connected_s"] or float("nan")
    record("burst.connections_per_s", c["connects"] / window_s)
    print("Burst, command: python3 bench/burst.py")
    print(f"{'connected':>9} {'failures':>8} {'window s':>8} {'conn/s':>8} "
          f"{'connect p50':>11} {'connect p99':>11} {'tool CPU s':>10}")
    print(f"{c['clients_connected']:>9} {c['connect_failures']:>8} {window_s:>8.2f} "
          f"{c['connects'] / window_s:>8.0f} {connect['p50']:>9}us {connect['p99']:>9}us "
          f"{user + system:>10.2f}")


if __name__ == "__main__":
    main()
