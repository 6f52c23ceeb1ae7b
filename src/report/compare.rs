//! `wschaos compare BASE NEW`: every figure of two `report.json` files side by side with the
//! change and a verdict. A regression is a latency statistic that grew, a delivery or success
//! ratio that dropped, or an error counter that grew, by more than the tolerance (and, for
//! latencies, by more than an optional absolute floor, `--min-delta`).

use std::fmt::Write;
use std::path::Path;

use super::summary::human_us;
use super::{HistogramSummary, ReadError, Report};
use crate::metrics::Counters;

/// Histogram statistics not judged (shown only): how many samples, and the smallest.
const SHOWN_ONLY: [&str; 2] = ["count", "min"];
/// Counters where more means worse.
const ERROR_COUNTERS: [&str; 21] = [
    "connect_failures",
    "connect_timeouts",
    "connect_failures_tls",
    "connect_failures_local",
    "connect_failures_rejected",
    "gave_up",
    "heartbeat_misses",
    "messages_lost",
    "disconnects_heartbeat_timeout",
    "disconnects_protocol_error",
    "disconnects_send_timeout",
    "disconnects_tls_error",
    "disconnects_handshake_rejected",
    "disconnects_no_connection_ack",
    "graphql_ws_errors",
    "messages_dropped_backpressure",
    "push_gaps",
    "push_duplicates",
    "push_reordered",
    "push_missed_across_outage",
    "push_unparsed",
];

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("bad --tolerance {0:?}: expected a percentage like 10% (or a fraction like 0.1)")]
    Tolerance(String),
    #[error("bad --min-delta {0:?}: expected a duration like 1ms, 500us or 0s")]
    MinDelta(String),
}

/// The lines above the table: which reports, and notes when their figures do not compare
/// like for like (other scenario, interrupted run).
pub fn preamble(base_path: &Path, base: &Report, new_path: &Path, new: &Report) -> String {
    let mut out = format!(
        "base {} ({})\nnew  {} ({})\n\n",
        base_path.display(),
        base.scenario.name,
        new_path.display(),
        new.scenario.name
    );
    if base.scenario.name != new.scenario.name {
        out.push_str("note: the two reports come from different scenarios\n\n");
    }
    for (which, report) in [("base", base), ("new", new)] {
        if report.interrupted {
            let _ = writeln!(
                out,
                "note: the {which} run was interrupted: its figures cover only part of it\n"
            );
        }
    }
    out
}

/// `10%` or `0.1` as a fraction.
pub fn parse_tolerance(text: &str) -> Result<f64, CompareError> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match value {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(CompareError::Tolerance(text.to_string())),
    }
}

/// `1ms`, `500us`, `0s` (or `0`) in microseconds.
pub fn parse_min_delta(text: &str) -> Result<f64, CompareError> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(0.0);
    }
    humantime::parse_duration(trimmed)
        .map(|d| d.as_secs_f64() * 1e6)
        .map_err(|_| CompareError::MinDelta(text.to_string()))
}

/// What counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Relative change allowed (0.1 = 10%).
    pub tolerance: f64,
    /// Latency changes up to this many microseconds are never regressions.
    pub min_delta_us: f64,
}

/// Which way a figure should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    LowerIsBetter,
    HigherIsBetter,
    /// Shown, never judged.
    Neutral,
}

/// How a figure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Micros,
    Count,
    Ratio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Same,
    Better,
    /// Worse, but within the tolerance.
    Worse,
    Regression,
    /// Not judged.
    Info,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: String,
    pub base: f64,
    pub new: f64,
    pub verdict: Verdict,
    unit: Unit,
}

/// Two reports compared figure by figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub limits: Limits,
}

impl Comparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
    }

    /// The table for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36} {:>12} {:>12} {:>9}  verdict",
            "figure", "base", "new", "change"
        );
        for r in &self.rows {
            let change = if r.base == r.new {
                "=".to_string()
            } else if r.base == 0.0 {
                "new".to_string()
            } else {
                format!("{:+.1}%", (r.new - r.base) / r.base * 100.0)
            };
            let verdict = match r.verdict {
                Verdict::Same | Verdict::Info => "",
                Verdict::Better => "better",
                Verdict::Worse => "worse (within tolerance)",
                Verdict::Regression => "REGRESSION",
            };
            let _ = writeln!(
                out,
                "{:<36} {:>12} {:>12} {:>9}  {verdict}",
                r.figure,
                format_value(r.unit, r.base),
                format_value(r.unit, r.new),
                change
            );
        }
        let regressions = self.regressions().count();
        let floor = if self.limits.min_delta_us > 0.0 {
            format!(
                " (latencies: and beyond {})",
                human_us(self.limits.min_delta_us.round() as u64)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n{regressions} regression(s) beyond the {:.1}% tolerance{floor}",
            self.limits.tolerance * 100.0
        );
        out
    }
}

fn format_value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Micros => human_us(value.round() as u64),
        Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
        Unit::Count => format!("{value:.2}"),
        Unit::Ratio => format!("{:.3}%", value * 100.0),
    }
}

/// `floor`: an absolute change that is never a regression (in the figure's unit).
fn judge(direction: Direction, base: f64, new: f64, tolerance: f64, floor: f64) -> Verdict {
    if direction == Direction::Neutral {
        return Verdict::Info;
    }
    if base == new {
        return Verdict::Same;
    }
    let worse = match direction {
        Direction::LowerIsBetter => new > base,
        _ => new < base,
    };
    if !worse {
        return Verdict::Better;
    }
    let beyond = (new - base).abs() > floor
        && match direction {
            Direction::LowerIsBetter => new > base * (1.0 + tolerance),
            _ => new < base * (1.0 - tolerance),
        };
    if beyond {
        Verdict::Regression
    } else {
        Verdict::Worse
    }
}

/// Compares every histogram statistic, counter and ratio the two reports hold.
pub fn compare(base: &Report, new: &Report, limits: Limits) -> Comparison {
    let mut rows = Vec::new();
    let mut push = |figure: String, b: f64, n: f64, direction: Direction, unit: Unit| {
        let floor = if unit == Unit::Micros {
            limits.min_delta_us
        } else {
            0.0
        };
        rows.push(Row {
            verdict: judge(direction, b, n, limits.tolerance, floor),
            figure,
            base: b,
            new: n,
            unit,
        });
    };

    // Histograms of either report, base first; one missing from a report reads as empty.
    let mut names: Vec<&String> = base.histograms.keys().collect();
    names.extend(
        new.histograms
            .keys()
            .filter(|k| !base.histograms.contains_key(*k)),
    );
    for name in names {
        let stats = |r: &Report| {
            r.histograms
                .get(name)
                .map_or([0.0; 8], HistogramSummary::stats)
        };
        let (base_stats, new_stats) = (stats(base), stats(new));
        let both_sampled = base_stats[0] > 0.0 && new_stats[0] > 0.0;
        for (i, stat) in HistogramSummary::STATS.into_iter().enumerate() {
            let judged = both_sampled && !SHOWN_ONLY.contains(&stat);
            let unit = if stat == "count" || name == "reconnect_attempts" {
                Unit::Count
            } else {
                Unit::Micros
            };
            push(
                format!("{name}.{stat}"),
                base_stats[i],
                new_stats[i],
                if judged {
                    Direction::LowerIsBetter
                } else {
                    Direction::Neutral
                },
                unit,
            );
        }
    }
    for ((name, b), (_, n)) in base.ratios.named().into_iter().zip(new.ratios.named()) {
        push(
            format!("ratios.{name}"),
            b,
            n,
            Direction::HigherIsBetter,
            Unit::Ratio,
        );
    }
    // In name order, as report.json lists them.
    let mut counters = Counters::NAMES.to_vec();
    counters.sort_unstable();
    for name in counters {
        let direction = if ERROR_COUNTERS.contains(&name) {
            Direction::LowerIsBetter
        } else {
            Direction::Neutral
        };
        let value = |r: &Report| r.counters.get(name).unwrap_or(0) as f64;
        push(
            format!("counters.{name}"),
            value(base),
            value(new),
            direction,
            Unit::Count,
        );
    }
    Comparison { rows, limits }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_direction_and_tolerance() {
        use Direction::*;
        assert_eq!(
            judge(LowerIsBetter, 100.0, 200.0, 0.1, 0.0),
            Verdict::Regression
        );
        assert_eq!(judge(LowerIsBetter, 100.0, 109.0, 0.1, 0.0), Verdict::Worse);
        assert_eq!(judge(LowerIsBetter, 100.0, 50.0, 0.1, 0.0), Verdict::Better);
        assert_eq!(
            judge(LowerIsBetter, 0.0, 1.0, 0.1, 0.0),
            Verdict::Regression
        );
        assert_eq!(judge(HigherIsBetter, 1.0, 0.95, 0.1, 0.0), Verdict::Worse);
        assert_eq!(
            judge(HigherIsBetter, 1.0, 0.85, 0.1, 0.0),
            Verdict::Regression
        );
        assert_eq!(judge(Neutral, 1.0, 100.0, 0.1, 0.0), Verdict::Info);
        assert_eq!(judge(LowerIsBetter, 5.0, 5.0, 0.0, 0.0), Verdict::Same);
        // Doubled, but by less than the floor: worse, not a regression.
        assert_eq!(
            judge(LowerIsBetter, 300.0, 600.0, 0.1, 1000.0),
            Verdict::Worse
        );
        assert_eq!(
            judge(LowerIsBetter, 300.0, 1400.0, 0.1, 1000.0),
            Verdict::Regression
        );
    }

    fn report(name: &str) -> Report {
        let scenario = super::super::ScenarioInfo::for_test(name, 1, 1.0);
        let mut report = Report::new(scenario, String::new(), Default::default(), None);
        let rtt = report
            .histograms
            .get_mut("heartbeat_rtt")
            .expect("every histogram is in a report");
        rtt.count = 100;
        rtt.p99 = 2_000;
        report
    }

    fn verdict(comparison: &Comparison, figure: &str) -> Option<Verdict> {
        comparison
            .rows
            .iter()
            .find(|r| r.figure == figure)
            .map(|r| r.verdict)
    }

    #[test]
    fn typed_reports_compare_histograms_ratios_and_error_counters() {
        let limits = Limits {
            tolerance: 0.1,
            min_delta_us: 0.0,
        };
        let base = report("a");
        let same = compare(&base, &base, limits);
        assert_eq!(same.regressions().count(), 0);
        assert_eq!(
            same.rows.len(),
            base.histograms.len() * 8 + 3 + Counters::NAMES.len()
        );

        let mut new = report("a");
        if let Some(rtt) = new.histograms.get_mut("heartbeat_rtt") {
            rtt.p99 = 4_000;
        }
        new.ratios.message_delivered = 0.5;
        new.counters.gave_up = 2;
        new.counters.connects = 50;
        let worse = compare(&base, &new, limits);
        let flagged: Vec<&str> = worse.regressions().map(|r| r.figure.as_str()).collect();
        assert_eq!(
            flagged,
            [
                "heartbeat_rtt.p99",
                "ratios.message_delivered",
                "counters.gave_up"
            ]
        );
        assert_eq!(verdict(&worse, "counters.connects"), Some(Verdict::Info));
        // Statistics of a histogram without samples are shown, never judged.
        assert_eq!(verdict(&worse, "detection.p99"), Some(Verdict::Info));

        // A histogram only one report has reads as empty in the other: shown, not judged.
        new.histograms.remove("heartbeat_rtt");
        let missing = compare(&base, &new, limits);
        assert_eq!(verdict(&missing, "heartbeat_rtt.p99"), Some(Verdict::Info));
    }

    #[test]
    fn preamble_notes_other_scenarios_and_interrupted_runs() {
        let base = report("a");
        let mut new = report("b");
        let path = Path::new("x");
        assert!(!preamble(path, &base, path, &base).contains("note:"));
        new.interrupted = true;
        let text = preamble(path, &base, path, &new);
        assert!(text.contains("different scenarios"), "{text}");
        assert!(text.contains("the new run was interrupted"), "{text}");
    }

    #[test]
    fn tolerances() {
        assert_eq!(parse_tolerance("10%").ok(), Some(0.1));
        assert_eq!(parse_tolerance("0.25").ok(), Some(0.25));
        assert_eq!(parse_tolerance(" 0 % ").ok(), Some(0.0));
        assert!(parse_tolerance("-5%").is_err());
        assert!(parse_tolerance("ten").is_err());
        assert_eq!(parse_min_delta("1ms").ok(), Some(1000.0));
        assert_eq!(parse_min_delta("0").ok(), Some(0.0));
        assert!(parse_min_delta("soon").is_err());
    }
}
