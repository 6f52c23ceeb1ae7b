//! What a run produced: the `Report` (one value holding every figure), written to the report
//! directory (`report.json`, `summary.md`, `report.html`, `heartbeat_rtt.hlog`, `junit.xml`) and
//! printed as a terminal summary.

mod atomic;
mod causes;
pub mod compare;
mod faults;
mod hlog;
mod html;
mod json;
mod junit;
mod load_generator;
mod markdown;
mod merge;
mod push;
mod read;
mod summary;
mod target_cost;
pub mod threshold;

pub use causes::{CAUSE_COUNT, DISCONNECT_CAUSES, DisconnectCause, DisconnectsByCause};
pub use faults::{
    FAULT_COLUMNS, FaultHistograms, FaultRecord, Percentiles, Recovery, STORM_COLUMN, Storm,
};
pub use hlog::{IntervalSpill, RttInterval, parse as parse_hlog};
pub use json::{json_for_stdout, write_json};
pub use load_generator::{CPU_SATURATED_SHARE, LoadGenerator, Reason, ToolRecord};
pub use merge::{Coverage, MergeError, MergeOptions, merge, read_all};
pub use read::ReadError;
pub use summary::{human_us, print_summary, render as render_summary};
pub use target_cost::{MIN_CONNECTED_SPREAD, TargetCost, least_squares};
pub use threshold::{Threshold, ThresholdResult};

use std::io;
use std::path::Path;

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::metrics::{Counters, Metrics};
use crate::server::ServerCounts;

/// Bumped whenever a field of `report.json` changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub scenario: ScenarioInfo,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub elapsed_s: f64,
    /// Seconds from the start until the last client opened its first connection.
    #[serde(default)]
    pub all_connected_s: Option<f64>,
    pub counters: Counters,
    pub ratios: Ratios,
    /// Close frames received from the server, by close code.
    pub close_codes: BTreeMap<String, u64>,
    /// Microseconds, except `reconnect_attempts` (a count).
    pub histograms: BTreeMap<String, HistogramSummary>,
    /// One point per second of the run.
    pub timeline: Vec<TimelinePoint>,
    pub faults: Vec<FaultRecord>,
    /// What the embedded server counted on its side (absent for external targets).
    pub server: Option<ServerCounts>,
    /// True when the run was cut short (Ctrl-C) rather than running its full duration.
    pub interrupted: bool,
    /// Whether the tool itself was the bottleneck, with its CPU figures (absent in older
    /// reports).
    #[serde(default)]
    pub load_generator: Option<LoadGenerator>,
    /// What the target itself cost (its processes sampled each second: `target.command` or
    /// `run --target-pid`); absent when nothing was sampled (the embedded server runs inside
    /// wschaos), and in older reports.
    #[serde(default)]
    pub target: Option<TargetCost>,
    /// `i/n` when this report covers one shard of the clients (`--shard`); absent for a whole
    /// run or a merged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// A hash of the scenario as this run read it (seed included): shards of one run share it,
    /// and `merge` refuses reports whose hashes differ (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_hash: Option<String>,
    /// `run --start-at`: how many seconds after the common instant this process got to start
    /// (its clock still counts from the instant: it joined a run already going). Absent when
    /// it started on time or without `--start-at`; a merge keeps the latest shard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_late_s: Option<f64>,
    /// `merge --allow-partial` merged fewer shards than the run had: the figures cover only
    /// the shards present; `missing_shards` lists the absent indexes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<u32>,
    /// Every threshold (scenario file first, then `--threshold`), checked against this report.
    pub thresholds: Vec<ThresholdResult>,
    /// `wschaos capacity`: the steps, each judged over its own window, and the capacity found
    /// (absent for other runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::capacity::report::CapacityReport>,
    /// The heartbeat RTT histogram of every second (and of the drain after the end), for
    /// `heartbeat_rtt.hlog`; their sum is `histograms.heartbeat_rtt`.
    #[serde(skip)]
    pub heartbeat_rtt_intervals: Vec<RttInterval>,
    /// A shard's `heartbeat_rtt.hlog` text, carried inside the JSON it prints with `--json`,
    /// so that output alone (a pod's log) is enough for an exact merge. Never in report.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_rtt_hlog: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub seed: u64,
    pub duration_s: f64,
    pub clients: u32,
    pub target: String,
    /// `target.tls.insecure: true`: the server's certificate was not verified.
    #[serde(default)]
    pub tls_insecure: bool,
    /// `clients.compression: deflate`: every upgrade offered permessage-deflate.
    #[serde(default)]
    pub compression_offered: bool,
    /// `clients.stages` (a `count` with `ramp` is the one stage `to: count, over: ramp`); empty
    /// in older reports.
    #[serde(default)]
    pub stages: Vec<StageInfo>,
    /// `target.protocol` (`raw`, `graphql-ws`, `socketio`); `raw` in older reports.
    #[serde(default = "raw_protocol")]
    pub protocol: String,
}

fn raw_protocol() -> String {
    crate::scenario::Protocol::RAW.into()
}

/// One of `clients.stages`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StageInfo {
    /// Linearly to `to` clients over `over_s` (zero: at once).
    Ramp { to: u32, over_s: f64 },
    /// The planned count kept for `hold_s`.
    Hold { hold_s: f64 },
}

impl StageInfo {
    pub fn of(stages: &[crate::scenario::Stage]) -> Vec<Self> {
        use crate::scenario::Stage;
        stages
            .iter()
            .map(|stage| match *stage {
                Stage::Ramp { to, over } => StageInfo::Ramp {
                    to,
                    over_s: over.as_secs_f64(),
                },
                Stage::Hold(span) => StageInfo::Hold {
                    hold_s: span.as_secs_f64(),
                },
            })
            .collect()
    }

    /// `to 20 over 1s, hold 1s, to 5 over 0.5s`.
    pub fn describe(stages: &[Self]) -> String {
        stages
            .iter()
            .map(|stage| match *stage {
                StageInfo::Ramp { to, over_s } => format!("to {to} over {over_s}s"),
                StageInfo::Hold { hold_s } => format!("hold {hold_s}s"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ratios {
    /// Heartbeat acks received / heartbeats sent (1.0 when none were sent).
    pub heartbeat_delivered: f64,
    /// Re-opens / connections lost, not counting losses whose reconnect was still pending when
    /// the run ended (1.0 when none were lost).
    pub reconnect_success: f64,
    /// Echoes received / messages sent (1.0 when none were sent).
    pub message_delivered: f64,
}

impl Ratios {
    pub fn from_counters(c: &Counters) -> Self {
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        Self {
            heartbeat_delivered: ratio(c.heartbeat_acks, c.heartbeats_sent),
            reconnect_success: ratio(
                c.reconnects,
                c.disconnects().saturating_sub(c.reconnects_pending_at_end),
            ),
            message_delivered: ratio(c.messages_received, c.messages_sent),
        }
    }

    /// Every ratio with its `report.json` name, in name order.
    pub fn named(&self) -> [(&'static str, f64); 3] {
        [
            ("heartbeat_delivered", self.heartbeat_delivered),
            ("message_delivered", self.message_delivered),
            ("reconnect_success", self.reconnect_success),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistogramSummary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
    /// The full histogram, HdrHistogram V2 + DEFLATE, base64: merge or re-query it later.
    pub hdr: String,
}

impl HistogramSummary {
    /// Summarises `h`; an absent histogram (nothing recorded) summarises as empty.
    pub fn of(h: Option<&Histogram<u64>>) -> Self {
        let empty_histogram;
        let h = match h {
            Some(h) => h,
            None => {
                empty_histogram = crate::metrics::histogram();
                &empty_histogram
            }
        };
        let empty = h.is_empty();
        Self {
            count: h.len(),
            min: if empty { 0 } else { h.min() },
            mean: if empty { 0.0 } else { h.mean() },
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            hdr: encode_histogram(h),
        }
    }
}

/// A histogram as a report stores it: HdrHistogram V2 + DEFLATE, base64.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serialising into a Vec cannot fail for a valid histogram.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram of [`encode_histogram`]'s text, or why it is not one.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    use hdrhistogram::serialization::Deserializer;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{e:?}"))
}

impl HistogramSummary {
    /// Names of [`HistogramSummary::stats`], as `report.json` spells them (`hdr` aside).
    pub const STATS: [&'static str; 8] =
        ["count", "min", "mean", "p50", "p90", "p99", "p99_9", "max"];

    /// The statistics [`HistogramSummary::STATS`] names, in that order.
    pub fn stats(&self) -> [f64; 8] {
        [
            self.count as f64,
            self.min as f64,
            self.mean,
            self.p50 as f64,
            self.p90 as f64,
            self.p99 as f64,
            self.p99_9 as f64,
            self.max as f64,
        ]
    }
}

/// Column titles of a histogram row, matching [`HistogramSummary::cells`].
pub const HISTOGRAM_COLUMNS: [&str; 8] =
    ["count", "min", "p50", "p90", "p99", "p99.9", "max", "mean"];

impl HistogramSummary {
    /// The row as text for people: durations as `850us` / `12.3ms` / `4.20s`, except for
    /// `reconnect_attempts`, which counts attempts.
    pub fn cells(&self, name: &str) -> [String; 8] {
        let counts = name == "reconnect_attempts";
        let fmt = |v: u64| if counts { v.to_string() } else { human_us(v) };
        let mean = if counts {
            format!("{:.2}", self.mean)
        } else {
            human_us(self.mean.round() as u64)
        };
        [
            self.count.to_string(),
            fmt(self.min),
            fmt(self.p50),
            fmt(self.p90),
            fmt(self.p99),
            fmt(self.p99_9),
            fmt(self.max),
            mean,
        ]
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Connections open at this moment.
    pub connected: u64,
    /// Clients the stages plan at this moment (absent in older reports).
    #[serde(default)]
    pub planned_clients: u64,
    /// Events during this second.
    pub connects: u64,
    pub disconnects: u64,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub heartbeats_sent: u64,
    pub heartbeat_acks: u64,
    /// Messages the server pushed that arrived this second (absent in older reports).
    #[serde(default)]
    pub pushed: u64,
    /// Heartbeat RTT percentiles over this second (0 when there was no ack).
    pub heartbeat_rtt_p50_us: u64,
    pub heartbeat_rtt_p99_us: u64,
    /// The send lag p99 over this second: the worse of heartbeats and messages (0 when nothing
    /// was written; absent in older reports).
    #[serde(default)]
    pub send_lag_p99_us: u64,
    /// The tool's CPU use this second as a share of the cores it may use (0..1; absent where
    /// the OS cannot say, and in older reports).
    #[serde(default)]
    pub tool_cpu_share: Option<f64>,
    /// The target's CPU use this second (all its processes) as a share of the machine's cores
    /// (0..1); absent when it is not sampled, while it is down, and in older reports.
    #[serde(default)]
    pub target_cpu_share: Option<f64>,
    /// The target's resident memory at this second (all its processes together), in KiB; absent
    /// when it is not sampled, while it is down, and in older reports.
    #[serde(default)]
    pub target_rss_kib: Option<u64>,
    /// This second's `disconnects`, by cause: one key per `disconnects_*` counter.
    #[serde(flatten)]
    pub disconnects_by_cause: DisconnectsByCause,
}

impl TimelinePoint {
    pub fn new(t_s: f64, totals: &Counters, second: &Metrics) -> Self {
        let c = &second.counters;
        let rtt = second.hist.heartbeat_rtt.as_ref();
        let quantile = |q: f64| rtt.map_or(0, |h| h.value_at_quantile(q));
        let p99 = |h: &Option<hdrhistogram::Histogram<u64>>| {
            h.as_ref().map_or(0, |h| h.value_at_quantile(0.99))
        };
        Self {
            t_s,
            connected: totals.open_connections(),
            planned_clients: 0,
            connects: c.connects,
            disconnects: c.disconnects(),
            reconnects: c.reconnects,
            connect_failures: c.connect_failures,
            heartbeats_sent: c.heartbeats_sent,
            heartbeat_acks: c.heartbeat_acks,
            pushed: c.push_received,
            heartbeat_rtt_p50_us: quantile(0.5),
            heartbeat_rtt_p99_us: quantile(0.99),
            send_lag_p99_us: p99(&second.hist.send_lag_heartbeat)
                .max(p99(&second.hist.send_lag_message)),
            tool_cpu_share: None,
            target_cpu_share: None,
            target_rss_kib: None,
            disconnects_by_cause: DisconnectsByCause::of(c),
        }
    }
}

/// What a run recorded, before it is summarised into a `Report`.
#[derive(Debug, Default)]
pub struct RunRecord {
    pub totals: Metrics,
    pub timeline: Vec<TimelinePoint>,
    pub faults: Vec<FaultRecord>,
    /// Each second's heartbeat RTT histogram, compact (see `RttInterval`).
    pub heartbeat_rtt_intervals: Vec<RttInterval>,
    pub elapsed_s: f64,
    pub all_connected_s: Option<f64>,
    pub interrupted: bool,
    /// What the run measured of the tool itself.
    pub tool: ToolRecord,
    /// Whose processes the target samples came from, and the CPU seconds they used (`None`:
    /// not sampled).
    pub target: Option<TargetRecord>,
}

/// What the run measured of the target itself besides the timeline's samples.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRecord {
    /// `target.command` or `--target-pid N`.
    pub sampled: String,
    pub cpu_s: f64,
}

impl Report {
    pub fn new(
        scenario: ScenarioInfo,
        started_at: String,
        record: RunRecord,
        server: Option<ServerCounts>,
    ) -> Self {
        let totals = &record.totals;
        let heartbeat_rtt_intervals = hlog::complete_intervals(
            record.heartbeat_rtt_intervals,
            totals.hist.heartbeat_rtt.as_ref(),
            record.elapsed_s,
        );
        Self {
            schema_version: SCHEMA_VERSION,
            tool: format!("wschaos {}", env!("CARGO_PKG_VERSION")),
            scenario,
            started_at,
            elapsed_s: record.elapsed_s,
            all_connected_s: record.all_connected_s,
            counters: totals.counters.clone(),
            ratios: Ratios::from_counters(&totals.counters),
            close_codes: totals
                .close_codes
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
            histograms: totals
                .hist
                .named()
                .into_iter()
                .map(|(name, h)| (name.to_string(), HistogramSummary::of(h)))
                .collect(),
            load_generator: Some(load_generator::diagnose(
                &record.tool,
                &record.timeline,
                &record.faults,
                &totals.counters,
            )),
            target: record.target.as_ref().and_then(|target| {
                TargetCost::of(
                    &target.sampled,
                    &record.timeline,
                    target.cpu_s,
                    totals.counters.heartbeat_acks,
                )
            }),
            timeline: record.timeline,
            faults: record.faults,
            server,
            interrupted: record.interrupted,
            shard: None,
            scenario_hash: None,
            joined_late_s: None,
            partial: false,
            missing_shards: Vec::new(),
            thresholds: Vec::new(),
            capacity: None,
            heartbeat_rtt_intervals,
            heartbeat_rtt_hlog: None,
        }
    }

    /// Checks every threshold against this report and keeps the results.
    pub fn evaluate(&mut self, thresholds: &[Threshold]) {
        self.thresholds = thresholds.iter().map(|t| t.evaluate(self)).collect();
    }

    /// True when every threshold holds (or there are none).
    pub fn thresholds_hold(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// Writes every report file into `dir` (created if missing), each one atomically: a
    /// failure leaves a file as it was, never truncated.
    pub fn write_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_json(self, dir)?;
        markdown::write_markdown(self, dir)?;
        html::write_html(self, dir)?;
        hlog::write_hlog(self, dir)?;
        junit::write_junit(self, dir)
    }
}

#[cfg(test)]
impl ScenarioInfo {
    /// A scenario description for unit tests of report code: `name`, `clients` over
    /// `duration_s`, against a loopback url.
    pub(crate) fn for_test(name: &str, clients: u32, duration_s: f64) -> Self {
        Self {
            name: name.into(),
            seed: 7,
            duration_s,
            clients,
            target: "ws://127.0.0.1:1/".into(),
            tls_insecure: false,
            compression_offered: false,
            stages: Vec::new(),
            protocol: raw_protocol(),
        }
    }
}
