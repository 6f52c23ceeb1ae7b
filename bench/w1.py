#!/usr/bin/env python3
"""W1 idle fleet: N clients arrive evenly over 10 s, each sends a text heartbeat every 1 s and
waits for its echo; all close 40 s after the first arrival. The target is `wschaos serve` in a
separate process; the tool is measured alone (peak RSS and CPU seconds from /usr/bin/time -v).

    python3 bench/w1.py 1000 5000 10000 19000      # prints one table row per N
    TIMER_RESOLUTION=10ms python3 bench/w1.py 10000   # clients.timer_resolution (default: the
                                                      # scenario default, 500us)

Figures: connected, seconds the full fleet was held, heartbeats delivered as a share of
N x 35 expected (30 s fully ramped + half of the 10 s ramp), peak RSS, KiB per connection and
the marginal KiB per connection between the smallest and largest N, CPU seconds, RTT p50/p99.
"""
import os
import sys
import time

from harness import Server, build, record, run_tool, sources, workdir

SCENARIO = """name: w1-{n}
seed: 1
duration: 40s
target: {target}
clients:
  count: {n}
  ramp: 10s
  connect_timeout: 10s
  heartbeat: {{mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 1s, timeout: 5s}}
  source_ips: [{sources}]
{timer_resolution}"""


def run(n, work, pki=None):
    """One W1 run of `n` clients; over wss:// with `pki` (the target serves its certificate,
    the clients trust its CA). Also measures the target: its CPU seconds and peak RSS."""
    with Server(tls=pki) as server:
        resolution = os.environ.get("TIMER_RESOLUTION")
        if pki is None:
            target = f'{{url: "ws://{server.addr}/"}}'
        else:
            target = f'{{url: "wss://{server.addr}/", tls: {{ca_file: "{pki.ca}"}}}}'
        scenario = SCENARIO.format(
            n=n,
            target=target,
            sources=sources(),
            timer_resolution=f"  timer_resolution: {resolution}\n" if resolution else "",
        )
        name = f"w1-{'wss' if pki else 'ws'}-{n}"
        report, rss, user, system = run_tool(scenario, work, name)
        server_cpu_s, server_rss_kib = server.cpu_s(), server.peak_rss_kib()
        served = server.stop()
    c = report["counters"]
    # From the moment the last client was open until the first second with fewer open, or the
    # end of the run (the fleet closes 40 s after the first arrival).
    full_at = report.get("all_connected_s")
    held = 0.0
    if full_at is not None:
        # A point taken a moment after the last open can still miss a few opens (the arbiters'
        # shares are taken one by one), which read as "held 0.0 s": start one second later.
        drops = [p["t_s"] for p in report["timeline"]
                 if p["t_s"] > full_at + 1.0 and p["connected"] < n]
        held = min(drops + [40.0]) - full_at
    rtt = report["histograms"]["heartbeat_rtt"]
    return {
        "n": n,
        "connected": c["clients_connected"],
        "held_s": held,
        "delivered": c["heartbeat_acks"] / (n * 35),
        "rss_kib": rss,
        "cpu_s": user + system,
        "user_s": user,
        "sys_s": system,
        "p50_ms": rtt["p50"] / 1000,
        "p99_ms": rtt["p99"] / 1000,
        # Heartbeat due -> written (absent from reports of builds before send_lag existed).
        "lag": report["histograms"].get("send_lag_heartbeat"),
        "server_cpu_s": server_cpu_s,
        "server_rss_kib": server_rss_kib,
        "served": served,
        "connect_failures": {k: c[k] for k in ("connect_failures", "connect_timeouts",
                                               "connect_failures_tls", "connect_failures_local")},
        "saturated": (report.get("load_generator") or {}).get("saturated"),
    }


def lag(h):
    return "-" if h is None else f"{h['p50'] / 1000:.2f}/{h['p99'] / 1000:.2f}ms"


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 5000, 10000, 19000]
    build()
    rows = []
    with workdir() as work:
        for n in sizes:
            row = run(n, work)
            rows.append(row)
            if not os.environ.get("TIMER_RESOLUTION"):
                record(f"w1.{n}.cpu_s", row["cpu_s"])
                record(f"w1.{n}.rtt_p50_ms", row["p50_ms"])
                record(f"w1.{n}.delivered", row["delivered"])
                if row["lag"] is not None:
                    record(f"w1.{n}.send_lag_p99_ms", row["lag"]["p99"] / 1000)
            time.sleep(2)
    resolution = os.environ.get("TIMER_RESOLUTION")
    prefix = f"TIMER_RESOLUTION={resolution} " if resolution else ""
    print(f"W1 idle fleet ({os.cpu_count()} cores), command: {prefix}python3 bench/w1.py {' '.join(map(str, sizes))}")
    print(f"{'N':>6} {'connected':>9} {'held s':>6} {'hb delivered':>12} {'peak RSS MiB':>12} "
          f"{'KiB/conn':>8} {'CPU s':>6} {'(user/sys)':>11} {'RTT p50':>8} {'RTT p99':>8} "
          f"{'send lag p50/p99':>16}")
    for r in rows:
        print(f"{r['n']:>6} {r['connected']:>9} {r['held_s']:>6.1f} {r['delivered']*100:>11.2f}% "
              f"{r['rss_kib']/1024:>12.1f} {r['rss_kib']/r['n']:>8.2f} {r['cpu_s']:>6.1f} "
              f"{r['user_s']:>5.1f}/{r['sys_s']:<5.1f} {r['p50_ms']:>6.2f}ms {r['p99_ms']:>6.2f}ms "
              f"{lag(r['lag']):>16}")
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        slope = (hi["rss_kib"] - lo["rss_kib"]) / (hi["n"] - lo["n"])
        print(f"marginal memory: {slope:.2f} KiB per connection ({lo['n']} -> {hi['n']})")


if __name__ == "__main__":
    main()
