#!/usr/bin/env python3
"""Sets each figure the benchmarks recorded (JSON lines in FILE, one `{"figure", "value"}` each,
written by harness.record when BENCH_FIGURES names FILE) beside its goal, and says which are
met. Figures without a goal are listed after the table; goals without a figure say "not run".

    BENCH_FIGURES=/tmp/figures.jsonl python3 bench/w2.py && python3 bench/goals.py /tmp/figures.jsonl
"""
import json
import operator
import sys

# figure, comparison, goal, unit, what it is
GOALS = [
    ("w1.19000.cpu_s", "<=", 12, "CPU s", "W1 19,000 clients: tool CPU seconds"),
    ("w1.19000.rtt_p50_ms", "<=", 0.3, "ms", "W1 19,000 clients: heartbeat RTT p50"),
    ("w1.19000.send_lag_p99_ms", "<=", 1.0, "ms", "W1 19,000 clients: heartbeat send lag p99"),
    ("w1.19000.delivered", ">=", 0.999, "share", "W1 19,000 clients: heartbeats delivered"),
    ("w2.echoes_per_cpu_s", ">=", 150_000, "/CPU s", "W2: echoes per tool CPU second"),
    ("burst.connections_per_s", ">=", 20_000, "/s", "burst: connections established per second"),
    ("serve.kib_per_idle_connection", "<=", 6, "KiB", "wschaos serve: memory per idle connection"),
    ("w1m.connected_share", ">=", 1.0, "share", "1,000,000 clients: connected"),
    ("w1m.delivered", ">=", 0.999, "share", "1,000,000 clients: heartbeats delivered"),
    ("w1m.tool_gib", "<=", 3, "GiB", "1,000,000 clients: tool memory in total"),
]
COMPARE = {"<=": operator.le, ">=": operator.ge}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    figures = {}
    try:
        with open(sys.argv[1]) as f:
            for line in f:
                if line.strip():
                    entry = json.loads(line)
                    figures[entry["figure"]] = entry["value"]
    except FileNotFoundError:
        pass
    print(f"{'goal':<46} {'measured':>12} {'goal':>12}  verdict")
    for figure, op, goal, unit, what in GOALS:
        value = figures.pop(figure, None)
        if value is None:
            shown, verdict = "not run", "-"
        else:
            shown = f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
            verdict = "met" if COMPARE[op](value, goal) else "short"
        print(f"{what:<46} {shown:>12} {op + ' ' + format(goal, ','):>12}  {verdict} ({unit})")
    if figures:
        print("other figures: " + ", ".join(f"{k} {v:,.3f}" for k, v in sorted(figures.items())))


if __name__ == "__main__":
    main()
