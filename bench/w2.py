#!/usr/bin/env python3
"""W2 throughput: 200 clients, each a closed loop (send a 45-byte text, wait for its echo, send
the next) for 20 s against `wschaos serve` in its own process. Prints echoes per second and
echoes per CPU-second of the tool (its own user + system time).

    python3 bench/w2.py
"""
from harness import Server, build, record, run_tool, workdir

SCENARIO = """name: w2
seed: 1
duration: 20s
target: {{url: "ws://{addr}/"}}
clients:
  count: 200
  heartbeat: {{mode: none}}
  messages: {{rate: closed, size: 45}}
"""


def main():
    build()
    with workdir() as work, Server() as server:
        report, rss, user, system = run_tool(SCENARIO.format(addr=server.addr), work, "w2")
    c = report["counters"]
    echoes = c["messages_received"]
    cpu = user + system
    rtt = report["histograms"]["message_rtt"]
    print("W2 throughput, command: python3 bench/w2.py")
    print(f"{'echoes':>10} {'echoes/s':>10} {'tool CPU s':>10} {'echoes/CPU-s':>13} "
          f"{'RTT p50':>8} {'RTT p99':>8} {'peak RSS MiB':>12}")
    record("w2.echoes_per_cpu_s", echoes / cpu)
    print(f"{echoes:>10} {echoes / report['elapsed_s']:>10.0f} {cpu:>10.1f} {echoes / cpu:>13.0f} "
          f"{rtt['p50']:>6}us {rtt['p99']:>6}us {rss / 1024:>12.1f}")


if __name__ == "__main__":
    main()
