#!/usr/bin/env python3
"""Reconnect storm: 10,000 clients against `wschaos serve` started and killed by the tool
itself (`target.command`, SIGKILL, 5 s downtime), once with `jitter: full` and once with
`jitter: none`. Prints time until 99% / 100% of the clients were back (from the kill) and the
peak and mean connection attempts per 100 ms during recovery.

    python3 bench/storm.py
"""
import socket

from harness import BIN, build, run_tool, sources, workdir

SCENARIO = """name: storm-{jitter}
seed: 1
duration: 40s
target:
  url: "ws://127.0.0.1:{port}/"
  command: ["{bin}", "serve", "--port", "{port}"]
clients:
  count: 10000
  ramp: 5s
  heartbeat: {{mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 2s, timeout: 4s}}
  reconnect: {{backoff: exponential, initial: 1s, max: 8s, jitter: {jitter}}}
  source_ips: [{sources}]
faults:
  - {{kind: server_kill, at: 10s, downtime: 5s}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    build()
    rows = []
    with workdir() as work:
        for jitter in ["full", "none"]:
            scenario = SCENARIO.format(jitter=jitter, port=free_port(), bin=BIN, sources=sources())
            report, *_ = run_tool(scenario, work, f"storm-{jitter}")
            rows.append((jitter, report["faults"][0]))
    print("Reconnect storm, command: python3 bench/storm.py")
    print(f"{'jitter':>6} {'noticed':>7} {'back':>6} {'99% back':>9} {'100% back':>9} "
          f"{'peak/100ms':>10} {'mean/100ms':>10}")
    for jitter, f in rows:
        rec = f.get("recovery_us") or {}
        storm = f.get("storm") or {}
        fmt = lambda us: f"{us / 1e6:.2f}s" if us is not None else "-"
        print(f"{jitter:>6} {f['noticed']:>7} {f['reopened']:>6} {fmt(rec.get('p99')):>9} "
              f"{fmt(rec.get('all')):>9} {storm.get('peak_per_100ms', 0):>10} "
              f"{storm.get('mean_per_100ms', 0):>10.1f}")


if __name__ == "__main__":
    main()
