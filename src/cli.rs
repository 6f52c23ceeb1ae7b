//! Command-line interface (clap derive).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::chaos::ProxyFault;
use crate::shards::Shard;

#[derive(Debug, Parser)]
#[command(name = "wschaos", version, about = "WebSocket load and chaos tester")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file and write its report.
    Run {
        /// The scenario (YAML).
        file: PathBuf,
        /// Report directory [default: reports/<name>-<UTC timestamp>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print nothing but errors (no progress bar, no summary).
        #[arg(long, short)]
        quiet: bool,
        /// Run only clients i, i+n, ... of the scenario (`i/n`), e.g. one pod of n.
        #[arg(long, value_name = "i/n")]
        shard: Option<Shard>,
        /// Run shard JOB_COMPLETION_INDEX of N (the index from that environment variable, as a
        /// Kubernetes Indexed Job sets it): the same as --shard JOB_COMPLETION_INDEX/N.
        #[arg(long, value_name = "N", conflicts_with = "shard",
              value_parser = clap::value_parser!(u32).range(1..))]
        shards: Option<u32>,
        /// Run N shard processes of this scenario (each as a pod of an Indexed Job would run:
        /// --shards N, JOB_COMPLETION_INDEX, one --start-at) and merge their reports.
        #[arg(long, value_name = "N", conflicts_with_all = ["shard", "shards"])]
        procs: Option<u32>,
        /// Wait until this instant (RFC 3339, e.g. 2025-06-01T12:00:00Z) before starting the
        /// clients; the run's clock counts from it, so shards started at different moments share
        /// one timeline. The target and proxy are set up before. A process that gets here after
        /// the instant joins late: its clients and faults due by then start at once, and its
        /// report says `joined_late_s`.
        #[arg(long, value_name = "RFC3339", value_parser = crate::shards::start::parse_start_at)]
        start_at: Option<time::OffsetDateTime>,
        /// --start-at now plus this duration (e.g. 30s).
        #[arg(long, value_name = "DURATION", conflicts_with = "start_at",
              value_parser = crate::shards::start::parse_start_in)]
        start_in: Option<std::time::Duration>,
        /// A pass/fail criterion checked after the scenario's own, e.g. "heartbeat_rtt.p99 < 50ms"
        /// (repeatable). Exit code 1 when one fails.
        #[arg(long = "threshold", value_name = "EXPR")]
        thresholds: Vec<String>,
        /// Print the final report.json to stdout (and nothing else there).
        #[arg(long)]
        json: bool,
        /// Run even when the kernel's limits cannot hold the run (descriptors, ports, connection
        /// tracking): the preflight's refusals become warnings, to see how such a run fails.
        #[arg(long)]
        ignore_kernel_limits: bool,
        /// Client threads of this process [default: the cores it may use; with --procs N, that
        /// divided by N, at least 1, for each shard: N processes already spread the load over
        /// the cores, and fewer threads each wake fewer times for the same clients].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        threads: Option<u32>,
        /// Sample the CPU and memory of this process and its descendants each second (the
        /// target, when wschaos does not start it): report.json's `target` section and the
        /// timeline's target_* fields. Overrides the sampling of a `target.command`.
        #[arg(long, value_name = "PID", conflicts_with = "procs",
              value_parser = clap::value_parser!(i32).range(1..))]
        target_pid: Option<i32>,
    },
    /// Find the most clients the target holds: raise the count step by step in one run (the
    /// steps replace the scenario's count, ramp, stages and duration), judge each step by the
    /// thresholds over its own window, stop at the first step that breaks one. Exit 0: a
    /// capacity was found; 1: the first step failed; 2: bad input; 3: the tool reached its own
    /// limit first (no capacity figure).
    Capacity {
        /// The scenario (YAML); its thresholds judge each step.
        file: PathBuf,
        #[command(flatten)]
        options: crate::capacity::CapacityOptions,
    },
    /// Merge the reports of shards of one run into one report (thresholds re-checked on it).
    Merge {
        /// Report directories (or report.json files) of the shards.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long, default_value = "reports/merged")]
        out: PathBuf,
        /// A pass/fail criterion checked on the merged report after the shards' own (the
        /// scenario's and their --threshold), e.g. "heartbeat_rtt.p99 < 50ms" (repeatable).
        /// Exit code 1 when one fails.
        #[arg(long = "threshold", value_name = "EXPR")]
        thresholds: Vec<String>,
        /// Merge the shards given even when some of the run's are missing; the report is marked
        /// `partial` with the missing indexes (without it a missing shard is an error, exit 2).
        #[arg(long)]
        allow_partial: bool,
        /// Print the merged report.json to stdout (and nothing else there).
        #[arg(long)]
        json: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print Kubernetes manifests (YAML, on stdout) that run the scenario as an Indexed Job of
    /// N pods, one shard each, starting together; the commands that apply them, wait, collect
    /// the reports and merge them go to stderr.
    K8s {
        /// The scenario (YAML); validated as `check` does.
        file: PathBuf,
        #[command(flatten)]
        options: crate::k8s::K8sOptions,
    },
    /// Compare two runs figure by figure; exit code 1 on a regression beyond the tolerance.
    Compare {
        /// The baseline: a report directory or its report.json.
        base: PathBuf,
        /// The run to judge: a report directory or its report.json.
        new: PathBuf,
        /// How much worse a figure may get before it counts as a regression (10% or 0.1).
        #[arg(long, default_value = "10%")]
        tolerance: String,
        /// Latency changes smaller than this never count as regressions (e.g. 1ms), however
        /// large relative to the base.
        #[arg(long, default_value = "0")]
        min_delta: String,
    },
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the embedded echo server standalone (prints its address on the first line).
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// 0 picks a free port.
        #[arg(long, default_value_t = 9001)]
        port: u16,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Processes sharing the port (SO_REUSEPORT), for more connections than one process's
        /// descriptor limit allows.
        #[arg(long, default_value_t = 1)]
        procs: u32,
        /// Listen with SO_REUSEPORT (set for the extra processes of --procs).
        #[arg(long, hide = true)]
        reuse_port: bool,
        /// Hold at most N WebSocket connections at once (over all --procs processes together);
        /// an upgrade past it is answered "503 Service Unavailable" and closed, and a slot frees
        /// when a connection ends.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_conns: Option<u64>,
        /// The shared connection count of --max-conns, inherited from the first process (set
        /// for the extra processes of --procs).
        #[arg(long, hide = true, requires = "max_conns")]
        conn_limit_fd: Option<i32>,
        /// Serve TLS (wss://) with this certificate chain (PEM); needs --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Push a sequenced, timestamped JSON stream to every connection at this rate (N/s or
        /// N/m, at most 1000/s): {"seq":n,"sent_at":<us since the UNIX epoch>,"pad":"..."}.
        #[arg(long, value_name = "RATE")]
        push_rate: Option<String>,
        /// Bytes per pushed message (16 to 65536).
        #[arg(
            long,
            value_name = "BYTES",
            default_value_t = 64,
            requires = "push_rate"
        )]
        push_size: u64,
        /// Replay the messages after ?since=<seq> to a connection that asks.
        #[arg(long, requires = "push_rate")]
        push_resume: bool,
    },
    /// Run the chaos proxy standalone in front of a WebSocket server (prints its address on
    /// the first line). Faults given here apply to every connection for the proxy's whole life.
    Proxy {
        /// Where clients connect; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        /// The server behind the proxy: ws://host:port, or wss://host:port to speak TLS to it
        /// (clients still connect with plain ws://; the path comes from each client).
        #[arg(long)]
        upstream: String,
        /// With a wss:// upstream: trust only the CA certificates of this PEM file.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<std::path::PathBuf>,
        /// With a wss:// upstream: do not verify its certificate (encrypted, not authenticated).
        #[arg(long, conflicts_with = "ca_file")]
        insecure: bool,
        /// With a wss:// upstream: the name sent as SNI and checked against its certificate.
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        /// With a wss:// upstream that asks for one: the client certificate chain (PEM).
        #[arg(long, value_name = "FILE", requires = "client_key")]
        client_cert: Option<std::path::PathBuf>,
        /// The private key (PEM) of --client-cert.
        #[arg(long, value_name = "FILE", requires = "client_cert")]
        client_key: Option<std::path::PathBuf>,
        /// A fault: KIND [key=value]..., e.g. "delay_pongs delay=200ms jitter=20ms",
        /// partition, stop_acking, "latency direction=downstream latency=50ms",
        /// "bandwidth bytes_per_s=10000", "frame_loss probability=0.1", "idle_timeout idle=30s".
        #[arg(long = "fault", value_name = "SPEC")]
        faults: Vec<ProxyFault>,
        /// Heartbeat acks are text frames equal to TEXT (default: acks are pongs).
        #[arg(long, value_name = "TEXT")]
        ack_text: Option<String>,
        /// The clients speak Socket.IO: the server's Engine.IO ping (text frame `2`) is the
        /// heartbeat frame that delay_pongs holds and stop_acking drops.
        #[arg(long, conflicts_with = "ack_text")]
        socketio: bool,
        /// Largest frame payload forwarded, in bytes; a bigger frame closes its connection.
        #[arg(long, default_value_t = crate::chaos::proxy::DEFAULT_MAX_FRAME)]
        max_frame: u64,
        /// A connection whose peer takes no byte for this long while bytes wait is closed both
        /// ways (a duration above zero, at most 365 days).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
        send_timeout: std::time::Duration,
        /// Seed for jitter and frame-loss draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// A `--send-timeout` value, checked like a scenario file's durations.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    checked_duration::<crate::scenario::value::PositiveDur>(text, "--send-timeout").map(|d| d.0)
}

/// A `capacity --hold` value: above zero.
pub(crate) fn hold_duration(text: &str) -> Result<std::time::Duration, String> {
    checked_duration::<crate::scenario::value::PositiveDur>(text, "--hold").map(|d| d.0)
}

/// A `capacity --ramp` value: zero (at once) or more.
pub(crate) fn ramp_duration(text: &str) -> Result<std::time::Duration, String> {
    checked_duration::<crate::scenario::value::Dur>(text, "--ramp").map(|d| d.0)
}

pub(crate) fn checked_duration<T: crate::scenario::value::Value>(
    text: &str,
    path: &str,
) -> Result<T, String> {
    use crate::scenario::value::Written;
    let written = Written {
        text,
        at: serde_saphyr::Location::UNKNOWN,
        path,
    };
    T::check(&written).map_err(|invalid| invalid.message)
}
