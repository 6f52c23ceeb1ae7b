#!/usr/bin/env python3
"""What `wschaos merge` costs for a fleet: S synthetic shard directories of one run (default
100 shards of 10,000 clients over a 5-minute run: report.json, heartbeat_rtt.hlog and the other
report files, written by examples/synth_shards.rs with the library's own report code: clients
arriving over 10 s, a heartbeat RTT every 5 s per client, a server kill and a 10% drop), then
the merge of all of them under /usr/bin/time -v: its wall time, peak RSS, the shards' total
size and the merged report's size. Checks that the merged counters and the fleet's RTT log add
up to the shards'.

    python3 bench/merge_cost.py [SHARDS [CLIENTS_PER_SHARD [DURATION_S]]]   # 100 10000 300

Builds and uses target/release/wschaos and the release synth_shards example unless
WSCHAOS_BIN and SYNTH_BIN name other binaries (e.g. the debug ones, for a quick check).
"""
import glob
import json
import os
import re
import subprocess
import sys
import time

from harness import BIN, ROOT, hdr_counts, workdir

SYNTH = os.environ.get("SYNTH_BIN") or os.path.join(
    ROOT, "target", "release", "examples", "synth_shards")


def build():
    if not os.environ.get("WSCHAOS_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not os.environ.get("SYNTH_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "synth_shards"],
                       cwd=ROOT, check=True)


def size_of(path):
    """Bytes of every file under `path`."""
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "**"), recursive=True)
               if os.path.isfile(f))


def hlog_count(path):
    """Values in an interval log (`heartbeat_rtt.hlog`): its intervals' counts added."""
    total = 0
    for line in open(path):
        if line.startswith("#") or line.startswith('"') or not line.strip():
            continue
        encoded = line.strip().split(",")[-1]
        total += sum(hdr_counts(encoded).values())
    return total


def main():
    shards = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    duration_s = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    build()
    with workdir() as work:
        started = time.monotonic()
        subprocess.run([SYNTH, work, str(shards), str(clients), str(duration_s)], check=True)
        print(f"synthesized {shards} shards in {time.monotonic() - started:.1f}s")
        dirs = sorted(glob.glob(os.path.join(work, "shard-*")),
                      key=lambda d: int(d.rsplit("-", 1)[1]))
        merged = os.path.join(work, "merged")
        timing = os.path.join(work, "time.txt")
        command = ["/usr/bin/time", "-v", "-o", timing, BIN, "merge", *dirs, "--out", merged,
                   "--quiet"]
        print("$ " + " ".join(command[:6] + [f"{work}/shard-0 ... {work}/shard-{shards - 1}"]
                             + command[-3:]))
        result = subprocess.run(command, check=False)
        text = open(timing).read()
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text).group(1)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text))
        report = json.load(open(os.path.join(merged, "report.json")))
        shard_reports = [json.load(open(os.path.join(d, "report.json"))) for d in dirs]
        connects = sum(r["counters"]["connects"] for r in shard_reports)
        rtt = report["histograms"]["heartbeat_rtt"]["count"]
        logged = hlog_count(os.path.join(merged, "heartbeat_rtt.hlog"))
        print(f"exit {result.returncode}; merge wall {wall}, CPU {cpu:.2f}s, peak RSS {rss / 1024:.0f} MiB")
        print(f"shards: {size_of(work) - size_of(merged)} bytes in {shards} directories "
              f"(report.json {sum(os.path.getsize(os.path.join(d, 'report.json')) for d in dirs)}, "
              f"hlog {sum(os.path.getsize(os.path.join(d, 'heartbeat_rtt.hlog')) for d in dirs)})")
        print(f"merged: {size_of(merged)} bytes (report.json "
              f"{os.path.getsize(os.path.join(merged, 'report.json'))}, hlog "
              f"{os.path.getsize(os.path.join(merged, 'heartbeat_rtt.hlog'))})")
        ok = (result.returncode == 0 and report["counters"]["connects"] == connects
              and logged == rtt and rtt > 0)
        print(f"check: connects {report['counters']['connects']} = {connects}, "
              f"hlog {logged} = heartbeat_rtt {rtt}: {'ok' if ok else 'MISMATCH'}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
