#!/usr/bin/env python3
"""What permessage-deflate costs per connection, on the tool and on a server that enables it.
N clients against a Python `websockets` echo server (tests/interop/deflate_echo_server.py:
compression on by default there, 12-bit windows, memLevel 5), each sending a compressible
1 KiB message every second and a ping heartbeat every 5 s, for D seconds (clients arrive over
the first 5 s); once with `clients.compression: none`, once with `deflate`, the same server
each time. The tool is measured by /usr/bin/time -v (peak RSS, CPU seconds); the server by
sampling /proc/PID every 0.5 s (peak RSS above its idle RSS, CPU seconds over the run).

    python3 bench/deflate_cost.py [N [D]]       # default 1000 clients, 30 s

Needs python3 with `websockets` and /usr/bin/time. Like the other benchmarks it builds and
uses target/release/wschaos unless WSCHAOS_BIN names another binary.
"""
import os
import resource
import subprocess
import sys
import threading
import time

from harness import ROOT, build, proc_cpu_s, proc_status_kib, run_tool, workdir

SERVER = os.path.join(ROOT, "tests", "interop", "deflate_echo_server.py")

SCENARIO = """name: deflate-{mode}-{n}
seed: 1
duration: {duration}s
target: {{url: "ws://127.0.0.1:{port}/"}}
clients:
  count: {n}
  ramp: 5s
  connect_timeout: 10s
  compression: {mode}
  heartbeat: {{mode: ping, interval: 5s, timeout: 10s}}
  messages: {{rate: 1/s, size: 1024}}
"""


def raise_fd_limit():
    """The server holds one descriptor per client: lift its soft limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class PythonServer:
    """The echo server in its own process; its RSS sampled every 0.5 s while the tool runs."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=raise_fd_limit,
        )
        self.port = int(self.proc.stdout.readline())
        # Its per-connection lines are not needed: drain them so the pipe never fills.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        time.sleep(0.5)
        self.idle_rss = proc_status_kib(self.proc.pid, "VmRSS")
        self.cpu_before = proc_cpu_s(self.proc.pid)
        self.peak_rss = self.idle_rss
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()

    def sample(self):
        while not self.done.wait(0.5):
            try:
                self.peak_rss = max(self.peak_rss, proc_status_kib(self.proc.pid, "VmRSS"))
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.sampler.join()
        cpu = proc_cpu_s(self.proc.pid) - self.cpu_before
        self.proc.kill()
        self.proc.wait()
        return cpu


def run(mode, n, duration, work):
    server = PythonServer()
    try:
        scenario = SCENARIO.format(mode=mode, n=n, duration=duration, port=server.port)
        report, rss, user, system = run_tool(scenario, work, f"deflate-{mode}-{n}")
    finally:
        server_cpu = server.stop()
    c = report["counters"]
    rtt = report["histograms"]["message_rtt"]
    return {
        "mode": mode,
        "connected": c["clients_connected"],
        "negotiated": c.get("compression_negotiated", 0),
        "sent": c["messages_sent"],
        "echoed": c["messages_received"],
        "tool_rss": rss,
        "tool_cpu": user + system,
        "server_rss": server.peak_rss - server.idle_rss,
        "server_idle": server.idle_rss,
        "server_cpu": server_cpu,
        "p50_ms": rtt["p50"] / 1000,
        "p99_ms": rtt["p99"] / 1000,
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    build()
    rows = []
    with workdir() as work:
        for mode in ["none", "deflate"]:
            rows.append(run(mode, n, duration, work))
            time.sleep(1)
    import websockets

    print(f"permessage-deflate cost ({os.cpu_count()} cores): {n} clients, 1 KiB compressible "
          f"message/s each, {duration} s, against Python websockets {websockets.__version__}")
    print(f"command: python3 bench/deflate_cost.py {n} {duration}")
    print(f"{'compression':>11} {'connected':>9} {'negotiated':>10} {'echoed/sent':>13} "
          f"{'tool RSS MiB':>12} {'tool KiB/conn':>13} {'tool CPU s':>10} "
          f"{'server +RSS MiB':>15} {'server KiB/conn':>15} {'server CPU s':>12} {'RTT p50/p99':>15}")
    for r in rows:
        print(f"{r['mode']:>11} {r['connected']:>9} {r['negotiated']:>10} "
              f"{r['echoed']:>6}/{r['sent']:<6} {r['tool_rss'] / 1024:>12.1f} "
              f"{r['tool_rss'] / n:>13.1f} {r['tool_cpu']:>10.2f} "
              f"{r['server_rss'] / 1024:>15.1f} {r['server_rss'] / n:>15.1f} "
              f"{r['server_cpu']:>12.2f} {r['p50_ms']:>6.2f}/{r['p99_ms']:<6.2f}ms")
    off, on = rows
    print(f"deflate costs the tool {(on['tool_rss'] - off['tool_rss']) / n:.1f} KiB per "
          f"connection and {on['tool_cpu'] - off['tool_cpu']:+.2f} CPU s over the run; the server "
          f"{(on['server_rss'] - off['server_rss']) / n:.1f} KiB per connection and "
          f"{on['server_cpu'] - off['server_cpu']:+.2f} CPU s (server idle RSS "
          f"{off['server_idle'] / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
