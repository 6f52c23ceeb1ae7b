#!/usr/bin/env python3
"""The soak's memory analysis (bench/soak.sh calls it; it runs again on kept samples).

    python3 bench/soak_rss.py RSS_TSV SETTLE_S REPORT_JSON CLIENTS

RSS_TSV has one line per 10 s: seconds since the run started, tool RSS KiB, proxy RSS KiB.
Prints one row per SETTLE_S (a twelfth of the run), then for each process the spread of its
RSS after SETTLE_S around the median of that stretch (every sample: flat memory stays within
+-5%), the same over the samples taken while the whole fleet was connected (the report's
timeline, +-2 s around the sample: a fault's outage frees the connections' memory and a storm
holds more at once, both real), and the least-squares slope over those steady samples in MiB
per hour (a leak shows as a slope; fragmentation as steps).
"""
import json
import statistics
import sys


def spread(values):
    med = statistics.median(values)
    return med, 100 * (min(values) - med) / med, 100 * (max(values) - med) / med


def slope_per_hour(points):
    """Least-squares slope of (seconds, KiB) points, in MiB per hour."""
    if len(points) < 3:
        return None
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600 / 1024


def main():
    rss_path, settle, report_path, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rows = [tuple(int(x) for x in line.split()) for line in open(rss_path) if line.strip()]
    print(f"{'min':>4} {'tool RSS MiB':>12} {'proxy RSS MiB':>13}")
    # One row per twelfth of the run (every 5 minutes of an hour), from the sample nearest to it.
    step = max(60, settle)
    shown = set()
    for t, tool, proxy in rows:
        if t // step not in shown:
            shown.add(t // step)
            print(f"{t / 60:>4.0f} {tool / 1024:>12.1f} {proxy / 1024:>13.1f}")
    try:
        report = json.load(open(report_path))
    except (OSError, ValueError) as err:
        report = None
        print(f"report: unreadable ({err})")
    complete_at = set()
    if report:
        complete_at = {round(p["t_s"]) for p in report.get("timeline", []) if p.get("connected") == clients}

    def steady(t):
        return all(s in complete_at for s in range(t - 2, t + 3))

    for name, col in (("tool", 1), ("proxy", 2)):
        after = [(r[0], r[col]) for r in rows if r[0] >= settle and r[col] > 0]
        if not after:
            print(f"{name}: no samples after {settle}s")
            continue
        med, lo, hi = spread([v for _, v in after])
        print(f"{name}: after {settle}s median {med / 1024:.1f} MiB, min {lo:+.1f}%, max {hi:+.1f}% "
              f"({len(after)} samples)")
        held = [(t, v) for t, v in after if steady(t)]
        if len(held) >= 3:
            med, lo, hi = spread([v for _, v in held])
            slope = slope_per_hour(held)
            print(f"{name}, fleet complete: median {med / 1024:.1f} MiB, min {lo:+.1f}%, max {hi:+.1f}% "
                  f"({len(held)} samples), slope {slope:+.2f} MiB/hour")
    if report:
        c = report["counters"]
        print(f"report: connected {c['clients_connected']}, reconnects {c['reconnects']}, gave up "
              f"{c['gave_up']}, heartbeats acked {c['heartbeat_acks']}/{c['heartbeats_sent']}, "
              f"faults {len(report['faults'])}")


if __name__ == "__main__":
    main()
