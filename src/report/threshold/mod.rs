//! Thresholds: pass/fail criteria `METRIC.STAT OP VALUE[UNIT]` (`heartbeat_rtt.p99 < 50ms`),
//! parsed with the offset of any bad token and evaluated against a finished `Report`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Report;
use super::summary::human_us;
use crate::metrics::Counters;

/// Latency histograms (values in microseconds).
const TIME_HISTOGRAMS: &[&str] = &[
    "connect_time",
    "tcp_connect_time",
    "tls_handshake_time",
    "upgrade_time",
    "heartbeat_rtt",
    "reconnect_time",
    "detection",
    "message_rtt",
    "send_lag_heartbeat",
    "send_lag_message",
    "push_latency",
    "socketio_ping_gap",
    "connection_ack_time",
];
/// Histograms whose values are plain counts.
const COUNT_HISTOGRAMS: &[&str] = &["reconnect_attempts"];
const STATS: &[&str] = &["p50", "p90", "p99", "p99.9", "max", "mean", "min", "count"];
/// Friendly names for counters: `(alias, counter field)`.
const COUNTER_ALIASES: &[(&str, &str)] = &[
    ("clients.started", "clients_started"),
    ("clients.stopped", "clients_stopped"),
    ("clients.connected", "clients_connected"),
    ("clients.gave_up", "gave_up"),
    ("connects", "connects"),
    ("connect.attempts", "connect_attempts"),
    ("connect.failures", "connect_failures"),
    ("connect.timeouts", "connect_timeouts"),
    ("connect.rejected", "connect_failures_rejected"),
    ("reconnects", "reconnects"),
    ("heartbeats.sent", "heartbeats_sent"),
    ("heartbeats.acked", "heartbeat_acks"),
    ("heartbeats.missed", "heartbeat_misses"),
    ("messages.sent", "messages_sent"),
    ("messages.received", "messages_received"),
    ("messages.lost", "messages_lost"),
    ("push.received", "push_received"),
    ("push.gaps", "push_gaps"),
    ("push.duplicates", "push_duplicates"),
    ("push.reordered", "push_reordered"),
    ("push.missed_across_outage", "push_missed_across_outage"),
    ("push.unparsed", "push_unparsed"),
    ("graphql_ws.errors", "graphql_ws_errors"),
    ("graphql_ws.completes", "graphql_ws_completes"),
];
/// Ratios: `(name, field of report.ratios)`.
const RATIOS: &[(&str, &str)] = &[
    ("reconnect.success_rate", "reconnect_success"),
    ("heartbeat.delivered_ratio", "heartbeat_delivered"),
    ("messages.delivered_ratio", "message_delivered"),
    ("ratios.reconnect_success", "reconnect_success"),
    ("ratios.heartbeat_delivered", "heartbeat_delivered"),
    ("ratios.message_delivered", "message_delivered"),
];
/// The tool's own figures (`report.load_generator`): `(name, kind)`.
const TOOL_METRICS: &[(&str, Kind)] = &[
    ("tool.saturated", Kind::Count),
    ("tool.cpu_max", Kind::Ratio),
    ("tool.send_lag_p99", Kind::Time),
];
/// The target's own figures (`report.target`), plain numbers in the unit their name says.
const TARGET_METRICS: &[&str] = &["target.rss_per_conn_kib", "target.cpu_per_heartbeat_us"];
const TIME_UNITS: &str = "us, ms, s or m";
/// Not a counter of its own: the sum of the `disconnects_*` counters.
const DISCONNECTS: &str = "disconnects";

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A histogram statistic: `histogram` is a report key, `stat` one of `STATS`.
    Histogram {
        histogram: &'static str,
        stat: &'static str,
    },
    /// A counter of `report.counters` (one of `Counters::NAMES`), or `disconnects`, the sum of
    /// the `disconnects_*` counters.
    Counter(&'static str),
    /// A field of `report.ratios` (0..=1).
    Ratio(&'static str),
    /// One of `TOOL_METRICS`: whether the load generator was saturated (0 or 1), its busiest
    /// second's CPU share (0..=1), its send-lag p99 outside faults.
    Tool(&'static str),
    /// One of `TARGET_METRICS`: the target's memory per connection (KiB) or CPU per heartbeat
    /// (microseconds). A report without the figure fails the threshold.
    Target(&'static str),
}

/// How a metric's value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Microseconds.
    Time,
    Count,
    /// 0..=1, shown as a percentage.
    Ratio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
            Op::Eq => measured == limit,
            Op::Ne => measured != limit,
        }
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written.
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    /// The limit in the metric's base unit: microseconds, a count, or a ratio 0..=1.
    pub limit: f64,
}

/// Why an expression is not a threshold; `offset` is the byte offset of the bad token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ThresholdError {
    pub offset: usize,
    pub message: String,
}

fn error(offset: usize, message: impl Into<String>) -> ThresholdError {
    ThresholdError {
        offset,
        message: message.into(),
    }
}

/// A threshold checked against a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    pub expr: String,
    /// The measured value in the metric's base unit (microseconds, count, or ratio 0..=1).
    pub measured: f64,
    /// The measured value for people (`12.3ms`, `99.95%`, `3`).
    pub measured_display: String,
    pub passed: bool,
}

/// The expression's tokens with their byte offsets.
struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> (usize, &'a str) {
        self.skip_space();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += len;
        (start, &rest[..len])
    }
}

impl Threshold {
    /// Parses `METRIC.STAT OP VALUE[UNIT]`.
    pub fn parse(expr: &str) -> Result<Self, ThresholdError> {
        let mut tokens = Tokens { text: expr, pos: 0 };
        let (metric_at, name) =
            tokens.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if name.is_empty() {
            return Err(error(
                metric_at,
                "expected a metric like heartbeat_rtt.p99, clients.gave_up or reconnect.success_rate",
            ));
        }
        let (metric, kind) = resolve(name, metric_at)?;

        let (op_at, op_text) = tokens.take_while(|c| matches!(c, '<' | '>' | '=' | '!'));
        let op = match op_text {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => {
                let found = if op_text.is_empty() {
                    expr[op_at..].split_whitespace().next().unwrap_or("nothing")
                } else {
                    op_text
                };
                return Err(error(
                    op_at,
                    format!("expected a comparison (<, <=, >, >=, ==, !=), found {found:?}"),
                ));
            }
        };

        let (value_at, number) = tokens.take_while(|c| c.is_ascii_digit() || c == '.');
        let value: f64 = number.parse().map_err(|_| {
            let found = expr[value_at..].trim();
            error(
                value_at,
                format!("expected a number after {op_text}, found {found:?}"),
            )
        })?;
        let unit_at = tokens.pos;
        let unit = &expr[unit_at..];
        let unit_text = unit.trim_end();
        if unit_text.len() != unit_text.trim_start().len() {
            return Err(error(
                unit_at,
                "write the unit right after the number (50ms, not 50 ms)",
            ));
        }
        let limit = limit(kind, name, (value, value_at), (unit_text, unit_at))?;
        if counts_events(&metric) {
            whole_count(name, number, value_at)?;
        }
        Ok(Self {
            expr: expr.trim().to_string(),
            metric,
            op,
            limit,
        })
    }

    fn kind(&self) -> Kind {
        match &self.metric {
            Metric::Histogram { histogram, stat } => histogram_kind(histogram, stat),
            Metric::Counter(_) => Kind::Count,
            Metric::Ratio(_) => Kind::Ratio,
            Metric::Tool(name) => tool_kind(name),
            Metric::Target(_) => Kind::Count,
        }
    }

    /// The metric's value in `report` (0 for a target figure the report lacks).
    pub fn measure(&self, report: &Report) -> f64 {
        self.measured(report).unwrap_or(0.0)
    }

    /// The metric's value in `report`; `None` for a target figure the report lacks (the target
    /// was not sampled, or connected varied too little for a slope).
    fn measured(&self, report: &Report) -> Option<f64> {
        if let Metric::Target(name) = &self.metric {
            let target = report.target.as_ref()?;
            return match *name {
                "target.rss_per_conn_kib" => target.rss_per_conn_kib,
                _ => target.cpu_per_heartbeat_us,
            };
        }
        Some(match &self.metric {
            Metric::Histogram { histogram, stat } => {
                let Some(h) = report.histograms.get(*histogram) else {
                    return Some(0.0);
                };
                match *stat {
                    "p50" => h.p50 as f64,
                    "p90" => h.p90 as f64,
                    "p99" => h.p99 as f64,
                    "p99.9" => h.p99_9 as f64,
                    "max" => h.max as f64,
                    "mean" => h.mean,
                    "min" => h.min as f64,
                    _ => h.count as f64,
                }
            }
            Metric::Counter(field) => counter(&report.counters, field) as f64,
            Metric::Ratio(field) => report
                .ratios
                .named()
                .into_iter()
                .find(|(name, _)| name == field)
                .map_or(0.0, |(_, ratio)| ratio),
            Metric::Tool(name) => {
                // A report without the figures (written before they existed) reads as 0.
                let Some(tool) = &report.load_generator else {
                    return Some(0.0);
                };
                match *name {
                    "tool.saturated" => f64::from(u8::from(tool.saturated)),
                    "tool.cpu_max" => tool.cpu_max_share.unwrap_or(0.0),
                    _ => tool.send_lag_p99_us as f64,
                }
            }
            Metric::Target(_) => 0.0,
        })
    }

    pub fn evaluate(&self, report: &Report) -> ThresholdResult {
        let Some(measured) = self.measured(report) else {
            return ThresholdResult {
                expr: self.expr.clone(),
                measured: 0.0,
                measured_display: "n/a: not in this report's target section".into(),
                passed: false,
            };
        };
        ThresholdResult {
            expr: self.expr.clone(),
            measured,
            measured_display: display(self.kind(), measured),
            passed: self.op.holds(measured, self.limit),
        }
    }
}

/// Parses every expression; the first error comes back with its index.
pub fn parse_all(exprs: &[String]) -> Result<Vec<Threshold>, (usize, ThresholdError)> {
    exprs
        .iter()
        .enumerate()
        .map(|(i, e)| Threshold::parse(e).map_err(|err| (i, err)))
        .collect()
}

fn histogram_kind(histogram: &str, stat: &str) -> Kind {
    if stat == "count" || COUNT_HISTOGRAMS.contains(&histogram) {
        Kind::Count
    } else {
        Kind::Time
    }
}

fn tool_kind(name: &str) -> Kind {
    TOOL_METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Kind::Count, |(_, kind)| *kind)
}

fn resolve(name: &str, at: usize) -> Result<(Metric, Kind), ThresholdError> {
    if let Some((known, kind)) = TOOL_METRICS.iter().find(|(n, _)| *n == name) {
        return Ok((Metric::Tool(known), *kind));
    }
    if let Some(figure) = name.strip_prefix("tool.") {
        let names: Vec<&str> = TOOL_METRICS.iter().map(|(n, _)| *n).collect();
        return Err(error(
            at + "tool.".len(),
            format!(
                "unknown tool figure {figure:?}; expected one of {}",
                names.join(", ")
            ),
        ));
    }
    if let Some(known) = TARGET_METRICS.iter().find(|n| **n == name) {
        return Ok((Metric::Target(known), Kind::Count));
    }
    if let Some(figure) = name.strip_prefix("target.") {
        return Err(error(
            at + "target.".len(),
            format!(
                "unknown target figure {figure:?}; expected one of {}",
                TARGET_METRICS.join(", ")
            ),
        ));
    }
    if let Some((_, field)) = RATIOS.iter().find(|(alias, _)| *alias == name) {
        return Ok((Metric::Ratio(field), Kind::Ratio));
    }
    if let Some((_, field)) = COUNTER_ALIASES.iter().find(|(alias, _)| *alias == name) {
        return Ok((Metric::Counter(field), Kind::Count));
    }
    if name == DISCONNECTS {
        return Ok((Metric::Counter(DISCONNECTS), Kind::Count));
    }
    if let Some(field) = name.strip_prefix("counters.") {
        if let Some(known) = Counters::NAMES.iter().find(|f| **f == field) {
            return Ok((Metric::Counter(known), Kind::Count));
        }
        return Err(error(
            at + "counters.".len(),
            format!(
                "unknown counter {field:?}; counters are {}",
                sorted_counter_names().join(", ")
            ),
        ));
    }
    let histograms = || {
        TIME_HISTOGRAMS
            .iter()
            .chain(COUNT_HISTOGRAMS)
            .copied()
            .collect::<Vec<_>>()
    };
    let Some((hist, stat)) = name.split_once('.') else {
        return Err(unknown_metric(name, at));
    };
    let Some(histogram) = histograms().into_iter().find(|h| *h == hist) else {
        return Err(unknown_metric(name, at));
    };
    let Some(stat) = STATS.iter().find(|s| **s == stat) else {
        return Err(error(
            at + hist.len() + 1,
            format!(
                "unknown statistic {stat:?} of {hist}; expected one of {}",
                STATS.join(", ")
            ),
        ));
    };
    Ok((
        Metric::Histogram { histogram, stat },
        histogram_kind(histogram, stat),
    ))
}

fn unknown_metric(name: &str, at: usize) -> ThresholdError {
    let aliases: Vec<&str> = COUNTER_ALIASES
        .iter()
        .map(|(a, _)| *a)
        .chain(RATIOS.iter().take(3).map(|(a, _)| *a))
        .collect();
    error(
        at,
        format!(
            "unknown metric {name:?}; expected HISTOGRAM.STAT (histograms {}, {}; stats {}), \
             counters.FIELD, tool.saturated, tool.cpu_max, tool.send_lag_p99, \
             target.rss_per_conn_kib, target.cpu_per_heartbeat_us, or one of {}",
            TIME_HISTOGRAMS.join(", "),
            COUNT_HISTOGRAMS.join(", "),
            STATS.join(", "),
            aliases.join(", ")
        ),
    )
}

/// The limit in the metric's base unit.
fn limit(
    kind: Kind,
    name: &str,
    (value, value_at): (f64, usize),
    (unit, at): (&str, usize),
) -> Result<f64, ThresholdError> {
    match kind {
        Kind::Time => {
            let scale = match unit {
                "us" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "m" => 60e6,
                "" => {
                    return Err(error(
                        value_at,
                        format!("{name} is a time: add a unit ({TIME_UNITS}), e.g. {value}ms"),
                    ));
                }
                other => {
                    return Err(error(
                        at,
                        format!("unknown time unit {other:?}; expected {TIME_UNITS}"),
                    ));
                }
            };
            Ok(value * scale)
        }
        Kind::Ratio => match unit {
            // Rounded so that 99.9% is exactly the ratio 0.999.
            "%" if value <= 100.0 => Ok((value / 100.0 * 1e12).round() / 1e12),
            "" if value <= 1.0 => Ok(value),
            "%" | "" => Err(error(
                value_at,
                format!("{name} is a ratio: a percentage up to 100% or a fraction up to 1"),
            )),
            other => Err(error(
                at,
                format!("{name} is a ratio: expected % or no unit, found {other:?}"),
            )),
        },
        Kind::Count => {
            if unit.is_empty() {
                Ok(value)
            } else {
                Err(error(
                    at,
                    format!("{name} is a count: it takes no unit, found {unit:?}"),
                ))
            }
        }
    }
}

/// True for metrics that count events (counters, a histogram's sample `count`): their value is
/// a whole number that a `u64` holds.
fn counts_events(metric: &Metric) -> bool {
    matches!(
        metric,
        Metric::Counter(_)
            | Metric::Histogram { stat: "count", .. }
            | Metric::Tool("tool.saturated")
    )
}

/// A count's limit must be a whole number below 2^64, like the count itself: `0.5` or
/// `18446744073709551616` would only compare as floats. `number` is digits and dots.
fn whole_count(name: &str, number: &str, at: usize) -> Result<(), ThresholdError> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.bytes().any(|b| b != b'0') {
        return Err(error(
            at,
            format!("{name} is a count: the limit must be a whole number, found {number}"),
        ));
    }
    let whole = if whole.is_empty() { "0" } else { whole };
    if whole.parse::<u64>().is_err() {
        return Err(error(
            at,
            format!("{name} is a count: the limit must be below 2^64, found {number}"),
        ));
    }
    Ok(())
}

/// Counter names in name order, as `report.json` lists them.
fn sorted_counter_names() -> Vec<&'static str> {
    let mut names = Counters::NAMES.to_vec();
    names.sort_unstable();
    names
}

fn counter(counters: &Counters, field: &str) -> u64 {
    if field == DISCONNECTS {
        return counters.disconnects();
    }
    // `resolve` only lets known counters through.
    counters.get(field).unwrap_or(0)
}

fn display(kind: Kind, value: f64) -> String {
    match kind {
        Kind::Time => human_us(value.round() as u64),
        Kind::Count if value.fract() == 0.0 => format!("{value:.0}"),
        Kind::Count => format!("{value:.2}"),
        Kind::Ratio => format!("{:.3}%", value * 100.0),
    }
}

impl fmt::Display for ThresholdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (measured {})",
            if self.passed { "PASS" } else { "FAIL" },
            self.expr,
            self.measured_display
        )
    }
}

#[cfg(test)]
mod tests;
