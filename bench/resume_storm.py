#!/usr/bin/env python3
"""Reconnect storm over wss://, with and without TLS session resumption: N clients (default
5,000) against `wschaos serve --tls-cert/--tls-key` in its own process (a private CA made here
with openssl, ECDSA P-256, or RSA-2048 with TLS_KEY=rsa); at 25 s a `drop` fault (fraction 1.0,
mode reset) cuts every connection and the fleet reconnects (exponential backoff from 1 s, full
jitter: the fleet comes back within about a second). Once with `tls.resume: true`, once with
`resume: false`.

    python3 bench/resume_storm.py [N]
    TLS_KEY=rsa python3 bench/resume_storm.py [N]    # an RSA-2048 server certificate

Prints per mode: reconnects and how many of them the target resumed (its own count of TLS
handshakes, printed by `serve` when interrupted), the target's CPU seconds in the 12 s from
the drop and in the 12 s before it (heartbeats only), recovery p50/p99/all from the report's faults
section, and the TLS handshake time p50/p99 of the reconnects: the run's histogram minus that of
a run of the same fleet without the drop (its N first handshakes, same ramp), so an estimate.
"""
import os
import sys
import time

from harness import (CpuSampler, Pki, Server, build, hdr_counts, percentile, run_tool,
                     sources, workdir)

DROP_AT_S = 25
# Long enough for a fleet without resumption to be back (about 10 s with an RSA key on a loaded
# machine); the window before the drop starts after the ramp's last handshakes.
WINDOW_S = 12

SCENARIO = """name: resume-storm
seed: 1
duration: {duration}s
target:
  url: "wss://{addr}/"
  tls: {{ca_file: "{ca}", resume: {resume}}}
clients:
  count: {n}
  ramp: 10s
  connect_timeout: 10s
  heartbeat: {{mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 5s, timeout: 10s}}
  reconnect: {{backoff: exponential, initial: 1s, max: 8s, jitter: full}}
  source_ips: [{sources}]
{faults}"""

DROP = f"faults:\n  - {{kind: drop, at: {DROP_AT_S}s, fraction: 1.0, mode: reset}}\n"


def fleet(n, work, pki, resume, storm):
    """One run; returns (report, served, target CPU s before the drop, in the storm window)."""
    with Server(tls=pki) as server:
        scenario = SCENARIO.format(
            duration=40 if storm else 13, addr=server.addr, ca=pki.ca,
            resume=str(resume).lower(), n=n, sources=sources(),
            faults=DROP if storm else "")
        with CpuSampler(server) as cpu:
            started = time.monotonic()
            report, *_ = run_tool(scenario, work, f"storm-{resume}-{storm}")
        served = server.stop()
    before = during = None
    if storm and report["faults"]:
        drop = started + report["faults"][0]["started_s"]
        before = cpu.between(drop - WINDOW_S, drop)
        during = cpu.between(drop, drop + WINDOW_S)
    return report, served, before, during


def reconnect_handshakes(storm_report, ramp_report):
    """The storm run's TLS handshake histogram minus the ramp-only run's, bucket by bucket."""
    whole = hdr_counts(storm_report["histograms"]["tls_handshake_time"]["hdr"])
    first = hdr_counts(ramp_report["histograms"]["tls_handshake_time"]["hdr"])
    return {v: c - first.get(v, 0) for v, c in whole.items() if c > first.get(v, 0)}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    build()
    rows = []
    with workdir() as work:
        pki = Pki(work)
        ramp_report, *_ = fleet(n, work, pki, True, storm=False)
        time.sleep(2)
        for resume in [True, False]:
            rows.append((resume, *fleet(n, work, pki, resume, storm=True)))
            time.sleep(2)
    ms = lambda us: f"{us / 1000:.1f}" if us is not None else "-"
    s = lambda us: f"{us / 1e6:.2f}s" if us is not None else "-"
    prefix = "TLS_KEY=rsa " if pki.kind == "rsa" else ""
    print(f"Resume storm over wss ({os.cpu_count()} cores, {pki.kind} server key), command: "
          f"{prefix}python3 bench/resume_storm.py {n}")
    print(f"{'resume':>6} {'reconnects':>10} {'resumed':>7} {'tgt CPU s 12s before/after drop':>32} "
          f"{'recovery p50/p99/all':>22} {'reconnect hs p50/p99 ms':>23} {'all hs p50/p99 ms':>17}")
    for resume, report, served, before, during in rows:
        f = report["faults"][0] if report["faults"] else {}
        rec = f.get("recovery_us") or {}
        hs = reconnect_handshakes(report, ramp_report)
        whole = report["histograms"]["tls_handshake_time"]
        resumed = served["tls_resumed"] if served else "-"
        cpu = f"{before:.2f} / {during:.2f}" if before is not None and during is not None else "-"
        print(f"{str(resume).lower():>6} {report['counters']['reconnects']:>10} {resumed:>7} "
              f"{cpu:>32} "
              f"{s(rec.get('p50')) + '/' + s(rec.get('p99')) + '/' + s(rec.get('all')):>22} "
              f"{ms(percentile(hs, 0.5)) + ' / ' + ms(percentile(hs, 0.99)):>23} "
              f"{ms(whole['p50']) + ' / ' + ms(whole['p99']):>17}")
    for resume, report, *_ in rows:
        c = report["counters"]
        print(f"resume {str(resume).lower()}: tool saturated "
              f"{(report.get('load_generator') or {}).get('saturated')}; connect failures "
              f"{c['connect_failures']} (timeouts {c['connect_timeouts']}, TLS "
              f"{c['connect_failures_tls']}); clients never connected "
              f"{report['scenario']['clients'] - c['clients_connected']}; reconnects pending at "
              f"end {c['reconnects_pending_at_end']}")
    p = ramp_report["histograms"]["tls_handshake_time"]
    print(f"first handshakes (ramp-only run, subtracted above): {p['count']}, "
          f"p50 {ms(p['p50'])} ms / p99 {ms(p['p99'])} ms; target's handshakes "
          + "; ".join(f"resume {str(r).lower()}: {sv['tls_full']} full, {sv['tls_resumed']} resumed"
                      for r, _, sv, *_ in rows if sv))


if __name__ == "__main__":
    main()
