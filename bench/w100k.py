#!/usr/bin/env python3
"""100,000 concurrent clients on this box: `wschaos serve --procs 6` (SO_REUSEPORT) as the
target, `wschaos run --procs 6` (six shard processes, ~16.7k clients each, under the 20,000
descriptor limit) spread over eight loopback source addresses. 5 s text heartbeat; clients
arrive over 30 s and are held 60 s. Prints connected, seconds the full fleet was held,
heartbeats acked of those sent, and the tool's peak RSS summed over its process tree (sampled from /proc
every 0.5 s) and CPU seconds.

    python3 bench/w100k.py [N]
"""
import json
import os
import subprocess
import sys
import threading
import time

from harness import BIN, build, sources, tree_rss_kib, workdir

SCENARIO = """name: w100k
seed: 1
duration: 95s
target: {{url: "ws://{addr}/"}}
clients:
  count: {n}
  ramp: 30s
  connect_timeout: 20s
  heartbeat: {{mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 5s, timeout: 15s}}
  source_ips: [{sources}]
"""


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    procs = max(1, -(-n // 17_000))
    build()
    server = subprocess.Popen([BIN, "serve", "--port", "0", "--procs", str(procs)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = server.stdout.readline().strip()
        with workdir() as work:
            scenario = os.path.join(work, "w100k.yaml")
            with open(scenario, "w") as f:
                f.write(SCENARIO.format(n=n, addr=addr, sources=sources(8)))
            out = os.path.join(work, "out")
            started = time.time()
            tool = subprocess.Popen([BIN, "run", scenario, "--procs", str(procs), "--out", out,
                                     "--quiet"])
            peak = [0]

            def sample():
                while tool.poll() is None:
                    peak[0] = max(peak[0], tree_rss_kib(tool.pid))
                    time.sleep(0.5)

            sampler = threading.Thread(target=sample)
            sampler.start()
            _, status, usage = os.wait4(tool.pid, 0)
            sampler.join()
            wall = time.time() - started
            report = json.load(open(os.path.join(out, "report.json")))
    finally:
        server.kill()
        server.wait()
    c = report["counters"]
    full_at = report.get("all_connected_s")
    held = 0.0
    if full_at is not None:
        drops = [p["t_s"] for p in report["timeline"] if p["t_s"] > full_at + 1 and p["connected"] < n]
        held = min(drops + [95.0]) - full_at
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{n} clients, command: python3 bench/w100k.py {n}")
    print(f"{'connected':>9} {'held s':>6} {'hb delivered':>12} {'tool peak RSS MiB':>17} "
          f"{'KiB/conn':>8} {'tool CPU s':>10} {'wall s':>6}")
    print(f"{c['clients_connected']:>9} {held:>6.1f} {c['heartbeat_acks'] / max(1, c['heartbeats_sent']) * 100:>11.2f}% "
          f"{peak[0] / 1024:>17.1f} {peak[0] / n:>8.2f} {cpu:>10.1f} {wall:>6.0f}")
    lost = {k: v for k, v in c.items() if k.startswith("disconnects_") and v}
    print(f"fleet complete at {full_at}s; connections lost: {lost or 'none'}; "
          f"heartbeat misses {c['heartbeat_misses']}; connect failures {c['connect_failures']}")


if __name__ == "__main__":
    main()
