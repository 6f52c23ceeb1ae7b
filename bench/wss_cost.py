#!/usr/bin/env python3
"""Cost of TLS per connection: the W1 idle fleet (bench/w1.py: N clients over 10 s, a text
heartbeat every 1 s, all close 40 s after the first arrival) once over ws:// and once over
wss:// against `wschaos serve` in its own process (with `--tls-cert/--tls-key`: a server
certificate from a private CA made here with openssl, ECDSA P-256, or RSA-2048 with
TLS_KEY=rsa; the clients trust that CA with `tls.ca_file`). Both the tool and the target are
measured.

    python3 bench/wss_cost.py 10000        # default 10000; several N give one pair each
    TLS_KEY=rsa python3 bench/wss_cost.py  # an RSA-2048 server certificate

Per N and scheme: connected, heartbeats delivered (of N x 35), the tool's peak RSS, KiB per
connection and CPU seconds (/usr/bin/time -v), the target's peak RSS (VmHWM) and CPU seconds
(/proc), heartbeat RTT p50/p99, TLS handshakes the target counted (full/resumed); whether the
tool judged itself saturated and the connect failures by kind; then the wss/ws ratios.
"""
import os
import sys
import time

from harness import Pki, build, workdir
from w1 import run as run_w1


def row(scheme, r):
    served = r["served"] or {}
    handshakes = (f"{served.get('tls_full', '-')}/{served.get('tls_resumed', '-')}"
                  if scheme == "wss" else "-")
    return (f"{r['n']:>6} {scheme:>6} {r['connected']:>9} {r['delivered']*100:>11.2f}% "
            f"{r['rss_kib']/1024:>9.1f} {r['rss_kib']/r['n']:>8.2f} {r['cpu_s']:>6.1f} "
            f"{r['server_rss_kib']/1024:>10.1f} {r['server_rss_kib']/r['n']:>9.2f} "
            f"{r['server_cpu_s']:>9.1f} {r['p50_ms']:>6.2f}ms {r['p99_ms']:>6.2f}ms "
            f"{handshakes:>11}")


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10000]
    build()
    pairs = []
    with workdir() as work:
        pki = Pki(work)
        for n in sizes:
            ws = run_w1(n, work)
            time.sleep(2)
            wss = run_w1(n, work, pki)
            time.sleep(2)
            pairs.append((ws, wss))
    prefix = "TLS_KEY=rsa " if pki.kind == "rsa" else ""
    print(f"wss vs ws, W1 fleet ({os.cpu_count()} cores, {pki.kind} server key), command: "
          f"{prefix}python3 bench/wss_cost.py {' '.join(map(str, sizes))}")
    print(f"{'N':>6} {'scheme':>6} {'connected':>9} {'hb delivered':>12} {'tool MiB':>9} "
          f"{'KiB/conn':>8} {'CPU s':>6} {'target MiB':>10} {'tgt KiB/c':>9} {'tgt CPU s':>9} "
          f"{'RTT p50':>8} {'RTT p99':>8} {'full/resumed':>11}")
    for ws, wss in pairs:
        print(row("ws", ws))
        print(row("wss", wss))
    for ws, wss in pairs:
        for scheme, r in (("ws", ws), ("wss", wss)):
            f = r["connect_failures"]
            print(f"{r['n']:>6} {scheme:>3}: tool saturated {r['saturated']}; connect failures "
                  f"{f['connect_failures']} (timeouts {f['connect_timeouts']}, TLS "
                  f"{f['connect_failures_tls']}, local {f['connect_failures_local']})")
    print("wss/ws: tool KiB/conn, tool CPU s, target KiB/conn, target CPU s, RTT p50, RTT p99")
    for ws, wss in pairs:
        ratio = lambda key: wss[key] / ws[key] if ws[key] else float("nan")
        print(f"{ws['n']:>6}  {ratio('rss_kib'):.2f}x {ratio('cpu_s'):.2f}x "
              f"{ratio('server_rss_kib'):.2f}x {ratio('server_cpu_s'):.2f}x "
              f"{ratio('p50_ms'):.2f}x {ratio('p99_ms'):.2f}x")


if __name__ == "__main__":
    main()
