#!/usr/bin/env python3
"""One million concurrent clients on this box (or as many as it holds): `wschaos serve --procs P`
(P = ceil(N / 18,000), SO_REUSEPORT) as the target, `wschaos run --procs S` (S shard processes of
at most 18,000 clients, under the 20,000 descriptor limit) over ceil(N / 10,000) + 2 loopback
source addresses from 127.0.0.2 up (under half of each address's 28,232 ports: past half, the
kernel's connect(2) walks the taken ports for a free one and a 500,000-client run spent its CPU
there); a text heartbeat every 30 s; clients arrive at RATE a second
(default 4,000: at 8,000 the tool saturated the two cores during the ramp and connect p99 went
from 10 to 140 ms) and the fleet is held HOLD_S seconds. TIMER_RESOLUTION sets
clients.timer_resolution (default: the scenario's, 500us; a coarser grid wakes each process
less often for the same heartbeats).

Before starting it reads the kernel's limits from /proc/sys and says which this run would need
raised; with --raise (as root) it raises them for the run and restores them after. While running
it samples every second the tool's and the target's RSS (summed over their processes), their CPU
seconds (/proc/<pid>/stat), MemAvailable and the kernel's Slab / SUnreclaim and TCP sockets and
pages (/proc/net/sockstat); if MemAvailable drops under 1.5 GiB it stops the run (SIGINT: the
shards write their reports) and says how many were connected then. At the end it prints the
figures, the per-connection costs, and a projection (labelled so) of what 1,000,000 would need.

    python3 bench/w1m.py [N=1000000] [HOLD_S=300] [--raise]
"""
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time

from harness import BIN, build, proc_cpu_s, proc_status_kib, record, tree_pids, workdir
from harness import sources as harness_sources

CLIENTS_PER_PROCESS = 18_000
CLIENTS_PER_SOURCE = 10_000
SOURCE_MARGIN = 2
HEARTBEAT_S = 30
# MEMORY_FLOOR_GIB moves the floor (e.g. just under MemAvailable, to see a small run stopped).
MEMORY_FLOOR_KIB = int(float(os.environ.get("MEMORY_FLOOR_GIB", "1.5")) * 1024 * 1024)
PROJECTED = 1_000_000
SPARE_DESCRIPTORS = 64

SCENARIO = """name: w1m
seed: 1
duration: {duration_s}s
target: {{url: "ws://{addr}/"}}
clients:
  count: {n}
  ramp: {ramp_s}s
  connect_timeout: 30s
  heartbeat: {{mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: {hb}s, timeout: 20s}}
  source_ips: [{sources}]
{timer_resolution}"""


def layout(n):
    """Target processes, shard processes, source addresses for N clients."""
    procs = max(1, math.ceil(n / CLIENTS_PER_PROCESS))
    return procs, procs, math.ceil(n / CLIENTS_PER_SOURCE) + SOURCE_MARGIN


def sysctl_path(name):
    return "/proc/sys/" + name.replace(".", "/")


def read_sysctl(name):
    try:
        with open(sysctl_path(name)) as f:
            return f.read().split()
    except OSError:
        return None


def meminfo():
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            values[key] = int(rest.split()[0])
    return values


def sockstat():
    """TCP sockets in use and the pages they hold (tcp_mem's unit)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()[1:]
                pairs = dict(zip(fields[::2], (int(v) for v in fields[1::2])))
                return pairs.get("inuse", 0), pairs.get("mem", 0)
    return 0, 0


def listen_overflows():
    """TcpExt ListenOverflows: connections a full accept queue dropped (host-wide, since boot)."""
    with open("/proc/net/netstat") as f:
        lines = [line.split() for line in f if line.startswith("TcpExt:")]
    if len(lines) == 2 and "ListenOverflows" in lines[0]:
        return int(lines[1][lines[0].index("ListenOverflows")])
    return 0


def kernel_needs(n, procs, sources):
    """[(sysctl, value now, value the run needs, hard)] for each limit this run does not fit in;
    `hard` False for the rough ones (the run may still hold)."""
    short = []
    file_max, file_nr = read_sysctl("fs.file-max"), read_sysctl("fs.file-nr")
    if file_max and file_nr:
        need = int(file_nr[0]) + 2 * n + 2 * procs * SPARE_DESCRIPTORS
        if int(file_max[0]) < need:
            short.append(("fs.file-max", file_max[0], str(need * 11 // 10), True))
    per_process = math.ceil(n / procs) + SPARE_DESCRIPTORS
    nr_open = read_sysctl("fs.nr_open")
    if nr_open and int(nr_open[0]) < per_process:
        short.append(("fs.nr_open", nr_open[0], str(per_process), True))
    port_range = read_sysctl("net.ipv4.ip_local_port_range")
    if port_range:
        low, high = int(port_range[0]), int(port_range[1])
        per_source = math.ceil(n / sources)
        if high - low + 1 < per_source:
            short.append(("net.ipv4.ip_local_port_range", f"{low} {high}",
                          f"{max(1024, 61000 - per_source)} 61000", True))
    tcp_mem = read_sysctl("net.ipv4.tcp_mem")
    if tcp_mem and int(tcp_mem[2]) < 2 * n:
        # A rough minimum: a page for every socket holding data at once (idle ones hold none).
        short.append(("net.ipv4.tcp_mem", " ".join(tcp_mem), f"{n} {3 * n // 2} {2 * n}", False))
    conntrack = read_sysctl("net.netfilter.nf_conntrack_max")
    count = read_sysctl("net.netfilter.nf_conntrack_count")
    if conntrack and int(conntrack[0]) < n + int((count or ["0"])[0]):
        short.append(("net.netfilter.nf_conntrack_max", conntrack[0],
                      str((n + int((count or ["0"])[0])) * 11 // 10), bool(count and int(count[0]))))
    return short, per_process


def descriptor_limit_fits(per_process):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard == resource.RLIM_INFINITY or hard >= per_process, hard


class Sysctls:
    """Sysctls raised for the run, restored on exit."""

    def __init__(self):
        self.saved = []

    def raise_to(self, name, value):
        before = " ".join(read_sysctl(name))
        with open(sysctl_path(name), "w") as f:
            f.write(value)
        self.saved.append((name, before))
        print(f"raised {name} from {before} to {value} for this run")

    def restore(self):
        for name, before in reversed(self.saved):
            try:
                with open(sysctl_path(name), "w") as f:
                    f.write(before)
                print(f"restored {name} to {before}")
            except OSError as err:
                print(f"COULD NOT RESTORE {name} to {before}: {err}")
        self.saved = []


def rss_kib(pid):
    try:
        return proc_status_kib(pid, "VmRSS")
    except OSError:
        return 0


def cpu_s(pid):
    try:
        return proc_cpu_s(pid)
    except (OSError, ValueError, IndexError):
        return None


class Watch:
    """Samples both sides and the kernel every second; stops the run when memory runs out."""

    def __init__(self, tool, server):
        self.tool, self.server = tool, server
        self.tool_rss = self.target_rss = 0
        self.cpu = {"tool": {}, "target": {}}
        self.peak = None
        self.base = self.sample_kernel()
        self.overflows_before = listen_overflows()
        self.out_of_memory = None
        self.mem_available_min = self.base["avail"]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def sample_kernel():
        info = meminfo()
        inuse, pages = sockstat()
        return {"avail": info["MemAvailable"], "slab": info["Slab"],
                "sunreclaim": info["SUnreclaim"], "sockets": inuse, "pages": pages}

    def connected_now(self, k):
        # Both ends of each loopback connection are sockets here.
        return max(0, (k["sockets"] - self.base["sockets"]) // 2)

    def run(self):
        while self.tool.poll() is None:
            tool_pids = tree_pids(self.tool.pid)
            target_pids = tree_pids(self.server.pid)
            tool_rss = sum(rss_kib(p) for p in tool_pids)
            target_rss = sum(rss_kib(p) for p in target_pids)
            for side, pids in (("tool", tool_pids), ("target", target_pids)):
                for pid in pids:
                    used = cpu_s(pid)
                    if used is not None:
                        self.cpu[side][pid] = used
            k = self.sample_kernel()
            k["tool_rss"], k["target_rss"] = tool_rss, target_rss
            self.tool_rss = max(self.tool_rss, tool_rss)
            self.target_rss = max(self.target_rss, target_rss)
            self.mem_available_min = min(self.mem_available_min, k["avail"])
            if self.peak is None or k["sockets"] >= self.peak["sockets"]:
                self.peak = k
            if k["avail"] < MEMORY_FLOOR_KIB and self.out_of_memory is None:
                self.out_of_memory = (self.connected_now(k), k["avail"])
                self.tool.send_signal(signal.SIGINT)
            time.sleep(1)

    def cpu_total(self, side):
        return sum(self.cpu[side].values())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    raise_limits = "--raise" in sys.argv[1:]
    n = int(args[0]) if args else PROJECTED
    hold_s = int(args[1]) if len(args) > 1 else 300
    rate = int(os.environ.get("RATE", "4000"))
    procs, shards, source_count = layout(n)
    ramp_s = max(1, math.ceil(n / rate))
    duration_s = ramp_s + hold_s + 5
    sources = harness_sources(source_count)
    command = f"python3 bench/w1m.py {n} {hold_s}" + (" --raise" if raise_limits else "")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("RATE", "MEMORY_FLOOR_GIB", "TIMER_RESOLUTION")
                   if k in os.environ)
    print(f"{n:,} clients, command: {env + ' ' if env else ''}{command}")
    print(f"layout: serve --procs {procs}, run --procs {shards} ({math.ceil(n / shards):,} clients "
          f"each), {source_count} source addresses ({math.ceil(n / source_count):,} each), "
          f"ramp {ramp_s} s ({rate:,}/s), hold {hold_s} s, heartbeat every {HEARTBEAT_S} s")

    short, per_process = kernel_needs(n, max(procs, shards), source_count)
    fits, hard = descriptor_limit_fits(per_process)
    if not fits:
        short.insert(0, ("RLIMIT_NOFILE (ulimit -Hn)", str(hard), str(per_process), True))
    for name, now, need, hard_limit in short:
        kind = "needs" if hard_limit else "may need (rough)"
        print(f"kernel: {name} is {now}; this run {kind} {need}")
    if not short:
        print("kernel: every limit checked fits (fs.file-max, fs.nr_open, RLIMIT_NOFILE, "
              "ip_local_port_range, tcp_mem, nf_conntrack_max)")
    blocking = [s for s in short if s[3]]
    if blocking and not raise_limits:
        print("not started: rerun with --raise (as root) to raise them for the run")
        sys.exit(2)

    build()
    sysctls = Sysctls()
    try:
        if raise_limits:
            for name, _now, need, _hard in short:
                if name.startswith("RLIMIT_NOFILE"):
                    resource.setrlimit(resource.RLIMIT_NOFILE, (per_process, per_process))
                    print(f"raised RLIMIT_NOFILE of this process and its children to {per_process}")
                else:
                    sysctls.raise_to(name, need)
        measure(n, hold_s, procs, shards, sources, ramp_s, duration_s)
    finally:
        sysctls.restore()


def measure(n, hold_s, procs, shards, sources, ramp_s, duration_s):
    server = subprocess.Popen([BIN, "serve", "--port", "0", "--procs", str(procs)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = server.stdout.readline().strip()
        time.sleep(1)  # the sibling serve processes bind the port
        with workdir() as work:
            scenario = os.path.join(work, "w1m.yaml")
            with open(scenario, "w") as f:
                resolution = os.environ.get("TIMER_RESOLUTION")
                f.write(SCENARIO.format(
                    n=n, addr=addr, sources=sources, ramp_s=ramp_s, duration_s=duration_s,
                    hb=HEARTBEAT_S,
                    timer_resolution=f"  timer_resolution: {resolution}\n" if resolution else ""))
            out = os.path.join(work, "out")
            started = time.time()
            tool = subprocess.Popen([BIN, "run", scenario, "--procs", str(shards), "--out", out,
                                     "--quiet"])
            watch = Watch(tool, server)
            _, _status, usage = os.wait4(tool.pid, 0)
            watch.thread.join()
            wall = time.time() - started
            try:
                report = json.load(open(os.path.join(out, "report.json")))
            except (OSError, ValueError):
                report = None
        target_cpu = watch.cpu_total("target")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    show(n, hold_s, procs, shards, sources, report, watch, usage, target_cpu, wall)


def show(n, hold_s, procs, shards, sources, report, watch, usage, target_cpu, wall):
    if report is None:
        print("no merged report (a shard failed; its output is above)")
        return
    c = report["counters"]
    connected_max = max([p["connected"] for p in report["timeline"]] or [0])
    full_at = report.get("all_connected_s")
    held = 0.0
    if full_at is not None:
        end = report["elapsed_s"]
        drops = [p["t_s"] for p in report["timeline"]
                 if p["t_s"] > full_at + 1 and p["connected"] < n and p["t_s"] < end - 1]
        held = min(drops + [end]) - full_at
    delivered = c["heartbeat_acks"] / max(1, c["heartbeats_sent"])
    tool_cpu = report["load_generator"].get("cpu_s") or (usage.ru_utime + usage.ru_stime)
    connect_s = full_at if full_at is not None else None
    rate = connected_max / connect_s if connect_s else None
    connect = report["histograms"]["connect_time"]
    peak, base = watch.peak, watch.base
    # Per connection of the run's own count (sockstat also moves with other work on the host).
    conns = max(1, connected_max, c["clients_connected"])
    tool_kib = watch.tool_rss / conns
    target_kib = watch.target_rss / conns
    slab_kib = (peak["slab"] - base["slab"]) / conns
    sunreclaim_kib = (peak["sunreclaim"] - base["sunreclaim"]) / conns
    pages = (peak["pages"] - base["pages"]) / conns

    print(f"{'connected':>9} {'held s':>6} {'hb delivered':>12} {'tool RSS MiB':>12} "
          f"{'KiB/conn':>8} {'target RSS MiB':>14} {'KiB/conn':>8} {'tool CPU s':>10} "
          f"{'target CPU s':>12} {'connect/s':>9} {'wall s':>6}")
    print(f"{c['clients_connected']:>9} {held:>6.1f} {delivered * 100:>11.2f}% "
          f"{watch.tool_rss / 1024:>12.1f} {tool_kib:>8.2f} {watch.target_rss / 1024:>14.1f} "
          f"{target_kib:>8.2f} {tool_cpu:>10.1f} {target_cpu:>12.1f} "
          f"{(f'{rate:,.0f}' if rate else '-'):>9} {wall:>6.0f}")
    lost = {k: v for k, v in c.items() if k.startswith("disconnects_") and v}
    print(f"most connected at once {connected_max:,}; fleet complete at {full_at} s; connect p50 "
          f"{connect['p50'] / 1000:.1f} ms, p99 {connect['p99'] / 1000:.1f} ms; heartbeats "
          f"{c['heartbeat_acks']:,} acked of {c['heartbeats_sent']:,} sent ({c['heartbeat_misses']:,} "
          f"timed out, the rest in flight at the close); connections lost: "
          f"{lost or 'none'}; connect failures {c['connect_failures']} (timed out "
          f"{c['connect_timeouts']}, local {c['connect_failures_local']}, upgrade rejected "
          f"{c['disconnects_handshake_rejected']}); tool saturated: "
          f"{report['load_generator']['saturated']}")
    for reason in report["load_generator"].get("reasons") or []:
        print(f"  saturated by {reason.get('rule')}: {reason.get('detail')} "
              f"(from {reason.get('from_s')} s)")
    print(f"kernel at the peak ({watch.connected_now(peak):,} connections by sockstat; per "
          f"connection of {conns:,}): Slab +{slab_kib:.2f} KiB/conn, "
          f"SUnreclaim +{sunreclaim_kib:.2f} KiB/conn, TCP pages +{pages:.3f}/conn; "
          f"MemAvailable low {watch.mem_available_min / 1048576:.2f} GiB; accept queue overflows "
          f"+{listen_overflows() - watch.overflows_before:,} (host-wide)")
    if watch.out_of_memory:
        at, avail = watch.out_of_memory
        print(f"ran out of memory at {at:,} connected (by sockstat; MemAvailable {avail / 1024:.0f} MiB "
              f"under the {MEMORY_FLOOR_KIB // 1024} MiB floor; the run was stopped with SIGINT)")

    # A projection from this run's per-connection costs, not a measurement.
    m = PROJECTED
    p_procs, p_shards, p_sources = layout(m)
    tool_gib = tool_kib * m / 1048576
    target_gib = target_kib * m / 1048576
    kernel_gib = slab_kib * m / 1048576
    total_gib = meminfo()["MemTotal"] / 1048576
    print(f"PROJECTION for {m:,} clients from this run's per-connection costs (not measured): "
          f"tool {tool_gib:.2f} GiB, target {target_gib:.2f} GiB, kernel slab {kernel_gib:.2f} GiB, "
          f"together {tool_gib + target_gib + kernel_gib:.2f} of {total_gib:.1f} GiB; "
          f"descriptors {2 * m:,} on the host (fs.file-max {read_sysctl('fs.file-max')[0]}), "
          f"{math.ceil(m / p_shards) + SPARE_DESCRIPTORS:,} per process; "
          f"{p_procs} serve + {p_shards} shard processes; {p_sources} source addresses "
          f"({math.ceil(m / p_sources):,} ports each of "
          f"{port_range_size():,}); TCP pages {pages * m:,.0f} "
          f"(tcp_mem high {read_sysctl('net.ipv4.tcp_mem')[2]}); connect time at "
          f"{rate or 0:,.0f}/s: {m / rate if rate else float('nan'):,.0f} s")
    per_conn_kib = tool_kib + target_kib + slab_kib
    room_kib = watch.base["avail"] - MEMORY_FLOOR_KIB
    print(f"PROJECTION: {per_conn_kib:.1f} KiB a connection (tool + target + kernel slab) and "
          f"{watch.base['avail'] / 1048576:.1f} GiB available at the start less the "
          f"{MEMORY_FLOOR_KIB / 1048576:.1f} GiB floor: this box would hold about "
          f"{room_kib / per_conn_kib:,.0f} clients; {m:,} need "
          f"{(per_conn_kib * m + MEMORY_FLOOR_KIB) / 1048576:.1f} GiB available")

    suffix = "" if n >= PROJECTED else f".{n}"
    record(f"w1m{suffix}.connected_share", c["clients_connected"] / n)
    record(f"w1m{suffix}.delivered", delivered)
    record(f"w1m{suffix}.tool_gib", watch.tool_rss / 1048576)


def port_range_size():
    low, high = (int(v) for v in read_sysctl("net.ipv4.ip_local_port_range"))
    return high - low + 1


if __name__ == "__main__":
    main()
