"""Shared pieces of the benchmarks: the release binary, a `wschaos serve` target in its own
process (plain or TLS, its CPU seconds and peak RSS from /proc, what it served), a private CA
and server certificate, running the tool under /usr/bin/time -v (peak RSS, CPU seconds), and
reading the reports' HdrHistograms."""
import base64
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# WSCHAOS_BIN runs the benchmarks with another build (e.g. a copy of the previous release binary,
# for a before/after comparison); unset, the benchmarks build and use this checkout's.
BIN = os.environ.get("WSCHAOS_BIN") or os.path.join(ROOT, "target", "release", "wschaos")


def build():
    if not os.environ.get("WSCHAOS_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


def proc_cpu_s(pid):
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; after the ")" they are the 12th and 13th.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, field):
    """A KiB field of /proc/PID/status (`VmRSS`, `VmHWM`); 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Server:
    """`wschaos serve` on a free loopback port, in its own process; with `tls` (a `Pki`), over
    TLS with its server certificate."""

    def __init__(self, workers=1, tls=None, procs=1):
        args = [BIN, "serve", "--port", "0", "--workers", str(workers), "--procs", str(procs)]
        if tls is not None:
            args += ["--tls-cert", tls.cert, "--tls-key", tls.key]
        # A file rather than a pipe: nobody reads stderr until the end.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.addr = self.proc.stdout.readline().strip()

    def cpu_s(self):
        """User + system CPU seconds of the server process so far."""
        return proc_cpu_s(self.proc.pid)

    def peak_rss_kib(self):
        """The server process's peak resident set (VmHWM)."""
        return proc_status_kib(self.proc.pid, "VmHWM")

    def stop(self):
        """Interrupts the server; returns what it says it served (`upgrades`, `tls_full`,
        `tls_resumed`, ...), or None from a build that does not say."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.seek(0)
        for line in self.stderr:
            if line.startswith("served "):
                return json.loads(line[len("served "):])
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def tree_pids(root):
    """`root` and every process below it."""
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def tree_rss_kib(root):
    """VmRSS summed over `root` and its descendants."""
    total = 0
    for pid in tree_pids(root):
        try:
            total += proc_status_kib(pid, "VmRSS")
        except OSError:
            pass
    return total


class CpuSampler:
    """Samples `server.cpu_s()` every `period_s` on a thread, to read the CPU seconds spent in
    a window of a run afterwards (times are time.monotonic())."""

    def __init__(self, server, period_s=0.1):
        self.server, self.period_s = server, period_s
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)

    def _sample(self):
        while not self.done.is_set() and self.server.proc.poll() is None:
            try:
                self.samples.append((time.monotonic(), self.server.cpu_s()))
            except OSError:
                return
            self.done.wait(self.period_s)

    def between(self, start, end):
        """CPU seconds from the last sample at or before `start` to the first at or after
        `end`."""
        before = [cpu for t, cpu in self.samples if t <= start]
        after = [cpu for t, cpu in self.samples if t >= end]
        if not before or not after:
            return None
        return after[0] - before[-1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


class Pki:
    """A private CA (`ca`) and a server certificate it signed for 127.0.0.1 and localhost
    (`cert`, `key`), made with openssl in `work`. Keys: ECDSA P-256, or RSA-2048 with
    TLS_KEY=rsa in the environment (a full handshake then costs the server an RSA signature)."""

    def __init__(self, work):
        self.kind = "rsa" if os.environ.get("TLS_KEY") == "rsa" else "ec"
        self.ca, self.cert, self.key = (os.path.join(work, n) for n in ("ca.pem", "cert.pem", "key.pem"))
        ca_key, csr, ext = (os.path.join(work, n) for n in ("ca.key", "cert.csr", "cert.ext"))
        if self.kind == "rsa":
            key = ["-newkey", "rsa:2048", "-nodes"]
        else:
            key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.run(["openssl", "req", "-x509", *key, "-keyout", ca_key, "-out", self.ca,
                        "-days", "2", "-subj", "/CN=wschaos bench CA",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **quiet)
        subprocess.run(["openssl", "req", *key, "-keyout", self.key, "-out", csr,
                        "-subj", "/CN=127.0.0.1"], **quiet)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
                        "-CAcreateserial", "-days", "2", "-out", self.cert, "-extfile", ext],
                       **quiet)


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


def hdr_counts(encoded):
    """A report histogram's `hdr` (HdrHistogram V2 + DEFLATE, base64) as {value: count}, each
    value the highest of its bucket (as the reports' percentiles are)."""
    raw = base64.b64decode(encoded)
    _cookie, length = struct.unpack(">II", raw[:8])
    inner = zlib.decompress(raw[8:8 + length])
    _, payload_len, _offset, digits, lowest, _highest, _ratio = struct.unpack(">IIIIqqd", inner[:40])
    unit = max(0, lowest.bit_length() - 1)
    sub_magnitude = max(0, (2 * 10 ** digits - 1).bit_length())
    half_magnitude = sub_magnitude - 1
    half = 1 << half_magnitude
    counts, index, pos, end = {}, 0, 40, 40 + payload_len
    while pos < end:
        shift = zigzag = 0
        while True:
            byte = inner[pos]
            pos += 1
            zigzag |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80 or shift == 56:
                if shift == 56 and byte >= 0x80:
                    zigzag |= inner[pos] << 56
                    pos += 1
                break
        count = (zigzag >> 1) ^ -(zigzag & 1)
        if count < 0:
            index += -count
            continue
        if count:
            bucket = (index >> half_magnitude) - 1
            sub = (index & (half - 1)) + half
            if bucket < 0:
                sub, bucket = sub - half, 0
            shift_by = bucket + unit
            counts[((sub + 1) << shift_by) - 1] = count
        index += 1
    return counts


def percentile(counts, q):
    """The value at quantile `q` (0..1) of {value: count}; None when empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= q * total:
            return value
    return None


def record(figure, value):
    """Appends one measured figure to the file BENCH_FIGURES names (JSON lines), for
    bench/goals.py to set beside its goal; does nothing when it is unset."""
    path = os.environ.get("BENCH_FIGURES")
    if path and value is not None:
        with open(path, "a") as f:
            f.write(json.dumps({"figure": figure, "value": value}) + "\n")
