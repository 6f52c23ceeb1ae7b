#!/usr/bin/env python3
"""Memory per idle connection of the embedded target: `wschaos serve` (with `--procs` past
18,000 connections, one process's descriptor limit) holds N idle WebSocket connections opened
by `wschaos run` (no heartbeat, spread over loopback source addresses). Prints the server's
resident size (VmRSS summed over its processes) before and while it holds them, and KiB per
connection; the connections are counted by the server's own socket descriptors in /proc, not
by the clients.

    python3 bench/serve_memory.py [N]
"""
import os
import subprocess
import sys
import time

from harness import BIN, build, sources, workdir
from w100k import tree_rss_kib

PER_SERVER = 18_000
PER_SHARD = 17_000

SCENARIO = """name: serve-memory
seed: 1
duration: {duration}s
target: {{url: "ws://{addr}/"}}
clients:
  count: {n}
  ramp: {ramp}s
  connect_timeout: 20s
  heartbeat: {{mode: none}}
  source_ips: [{sources}]
"""


def tree_pids(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def sockets(root):
    """Socket descriptors held by `root` and its descendants."""
    count = 0
    for pid in tree_pids(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
    return count


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    server_procs = max(1, -(-n // PER_SERVER))
    shards = max(1, -(-n // PER_SHARD))
    ramp = max(5, n // 2_000)
    duration = ramp + 40
    build()
    server = subprocess.Popen([BIN, "serve", "--port", "0", "--procs", str(server_procs)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    tool = None
    try:
        addr = server.stdout.readline().strip()
        time.sleep(1.0)
        base_rss, base_sockets = tree_rss_kib(server.pid), sockets(server.pid)
        with workdir() as work:
            scenario = os.path.join(work, "serve-memory.yaml")
            with open(scenario, "w") as f:
                f.write(SCENARIO.format(n=n, addr=addr, sources=sources(8), ramp=ramp,
                                        duration=duration))
            tool = subprocess.Popen([BIN, "run", scenario, "--procs", str(shards), "--out",
                                     os.path.join(work, "out"), "--quiet"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + ramp + 30
            held = 0
            while time.time() < deadline:
                held = sockets(server.pid) - base_sockets
                if held >= n:
                    break
                time.sleep(0.5)
            time.sleep(3.0)  # settle: the last upgrades done, nothing in flight
            held = sockets(server.pid) - base_sockets
            rss = tree_rss_kib(server.pid)
            tool.kill()
            tool.wait()
    finally:
        if tool and tool.poll() is None:
            tool.kill()
            tool.wait()
        server.kill()
        server.wait()
    per_conn = (rss - base_rss) / max(1, held)
    print(f"command: python3 bench/serve_memory.py {n}   (serve --procs {server_procs})")
    print(f"{'connections held':>16} {'RSS before MiB':>14} {'RSS held MiB':>12} "
          f"{'KiB/conn':>8}")
    print(f"{held:>16} {base_rss / 1024:>14.1f} {rss / 1024:>12.1f} {per_conn:>8.2f}")


if __name__ == "__main__":
    main()
