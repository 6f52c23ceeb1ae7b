#!/usr/bin/env python3
"""Memory per idle connection of the embedded target: `wschaos serve` (with `--procs` past
18,000 connections, one process's descriptor limit) holds N idle WebSocket connections opened
by `wschaos run` (no heartbeat, spread over loopback source addresses). Prints the server's
resident size (VmRSS summed over its processes) before and while it holds them, and KiB per
connection. The connections are counted by the server's socket descriptors in /proc, and the
first process's own `open` counter (from the line it prints when interrupted) is printed
beside its share, not by the clients.

    python3 bench/serve_memory.py [N]
"""
import os
import subprocess
import sys
import time

from harness import BIN, Server, build, record, sources, tree_pids, tree_rss_kib, workdir

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


def sockets(pid):
    """Socket descriptors held by one process."""
    count = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
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
    build()
    with Server(procs=server_procs) as server, workdir() as work:
        root = server.proc.pid
        time.sleep(1.0)
        base_rss = tree_rss_kib(root)
        base_sockets = {pid: sockets(pid) for pid in tree_pids(root)}

        def held():
            return {pid: sockets(pid) - base_sockets.get(pid, 0) for pid in tree_pids(root)}

        scenario = os.path.join(work, "serve-memory.yaml")
        with open(scenario, "w") as f:
            f.write(SCENARIO.format(n=n, addr=server.addr, sources=sources(8), ramp=ramp,
                                    duration=ramp + 40))
        tool = subprocess.Popen([BIN, "run", scenario, "--procs", str(shards), "--out",
                                 os.path.join(work, "out"), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + ramp + 30
            while time.time() < deadline and sum(held().values()) < n:
                time.sleep(0.5)
            time.sleep(3.0)  # settle: the last upgrades done, nothing in flight
            per_process = held()
            rss = tree_rss_kib(root)
            served = server.stop()  # while the clients still hold their connections
        finally:
            tool.kill()
            tool.wait()
    total = sum(per_process.values())
    per_connection_kib = (rss - base_rss) / max(1, total)
    record("serve.kib_per_idle_connection", per_connection_kib)
    print(f"command: python3 bench/serve_memory.py {n}   (serve --procs {server_procs})")
    print(f"{'connections held':>16} {'RSS before MiB':>14} {'RSS held MiB':>12} "
          f"{'KiB/conn':>8}")
    print(f"{total:>16} {base_rss / 1024:>14.1f} {rss / 1024:>12.1f} "
          f"{per_connection_kib:>8.2f}")
    own = served.get("open") if served else None
    print(f"first process: {per_process.get(root, 0)} sockets held, its own count of open "
          f"connections: {own if own is not None else 'not printed by this build'}")


if __name__ == "__main__":
    main()
