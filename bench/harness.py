"""Shared pieces of the benchmarks: the release binary, a `wschaos serve` target in its own
process, and running the tool under /usr/bin/time -v (peak RSS, CPU seconds)."""
import json
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# WSCHAOS_BIN runs the benchmarks with another build (e.g. a copy of the previous release binary,
# for a before/after comparison); unset, the benchmarks build and use this checkout's.
BIN = os.environ.get("WSCHAOS_BIN") or os.path.join(ROOT, "target", "release", "wschaos")


def build():
    if not os.environ.get("WSCHAOS_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


class Server:
    """`wschaos serve` on a free loopback port, in its own process."""

    def __init__(self, workers=1):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--port", "0", "--workers", str(workers)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.addr = self.proc.stdout.readline().strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def sources(n=4):
    """Loopback source addresses for the clients (one address runs out of ports near 28k and
    slows down well before)."""
    return ", ".join(f"127.0.0.{i}" for i in range(2, 2 + n))


def run_tool(scenario_text, work, name, extra_args=()):
    """Runs `wschaos run` on the scenario; returns (report, peak RSS KiB, user s, system s)."""
    scenario = os.path.join(work, f"{name}.yaml")
    with open(scenario, "w") as f:
        f.write(scenario_text)
    out = os.path.join(work, f"out-{name}")
    timing = os.path.join(work, f"time-{name}.txt")
    subprocess.run(
        ["/usr/bin/time", "-v", "-o", timing, BIN, "run", scenario, "--out", out, "--quiet",
         *extra_args],
        check=False,
    )
    text = open(timing).read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    report = json.load(open(os.path.join(out, "report.json")))
    return report, rss, user, system


def workdir():
    return tempfile.TemporaryDirectory(prefix="wschaos-bench-")
