//! `wschaos compare BASE NEW`: every figure of two `report.json` files side by side with the
//! change and a verdict. A regression is a latency statistic that grew, a delivery or success
//! ratio that dropped, or an error counter that grew, by more than the tolerance (and, for
//! latencies, by more than an optional absolute floor, `--min-delta`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::SCHEMA_VERSION;
use super::summary::human_us;

/// Histogram statistics compared, in table order (`count` and `min` are shown, not judged).
const STATS: [&str; 8] = ["count", "min", "mean", "p50", "p90", "p99", "p99_9", "max"];
/// Counters where more means worse.
const ERROR_COUNTERS: [&str; 7] = [
    "connect_failures",
    "connect_timeouts",
    "gave_up",
    "heartbeat_misses",
    "messages_lost",
    "disconnects_heartbeat_timeout",
    "disconnects_protocol_error",
];

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a wschaos report.json: {what}")]
    NotAReport { path: PathBuf, what: String },
    #[error("bad --tolerance {0:?}: expected a percentage like 10% (or a fraction like 0.1)")]
    Tolerance(String),
    #[error("bad --min-delta {0:?}: expected a duration like 1ms, 500us or 0s")]
    MinDelta(String),
}

/// Reads a report: `path` is a report directory or a `report.json` file.
pub fn load(path: &Path) -> Result<Value, CompareError> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read(&file).map_err(|source| CompareError::Read {
        path: file.clone(),
        source,
    })?;
    let not_a_report = |what: String| CompareError::NotAReport {
        path: file.clone(),
        what,
    };
    let json: Value =
        serde_json::from_slice(&text).map_err(|e| not_a_report(format!("invalid JSON: {e}")))?;
    match json.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(not_a_report(format!(
                "schema_version {v}, this wschaos reads {SCHEMA_VERSION}"
            )));
        }
        None => return Err(not_a_report("no schema_version".into())),
    }
    for key in ["histograms", "counters", "ratios"] {
        if !json.get(key).is_some_and(Value::is_object) {
            return Err(not_a_report(format!("no `{key}` object")));
        }
    }
    Ok(json)
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
pub fn compare(base: &Value, new: &Value, limits: Limits) -> Comparison {
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
    let number = |v: &Value, path: &[&str]| -> f64 {
        path.iter()
            .try_fold(v, |v, key| v.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };

    for name in keys(base, new, "histograms") {
        let count = |v: &Value| number(v, &["histograms", &name, "count"]);
        let both_sampled = count(base) > 0.0 && count(new) > 0.0;
        for stat in STATS {
            let judged = both_sampled && !matches!(stat, "count" | "min");
            let unit = if stat == "count" || name == "reconnect_attempts" {
                Unit::Count
            } else {
                Unit::Micros
            };
            push(
                format!("{name}.{stat}"),
                number(base, &["histograms", &name, stat]),
                number(new, &["histograms", &name, stat]),
                if judged {
                    Direction::LowerIsBetter
                } else {
                    Direction::Neutral
                },
                unit,
            );
        }
    }
    for name in keys(base, new, "ratios") {
        push(
            format!("ratios.{name}"),
            number(base, &["ratios", &name]),
            number(new, &["ratios", &name]),
            Direction::HigherIsBetter,
            Unit::Ratio,
        );
    }
    for name in keys(base, new, "counters") {
        let direction = if ERROR_COUNTERS.contains(&name.as_str()) {
            Direction::LowerIsBetter
        } else {
            Direction::Neutral
        };
        push(
            format!("counters.{name}"),
            number(base, &["counters", &name]),
            number(new, &["counters", &name]),
            direction,
            Unit::Count,
        );
    }
    Comparison { rows, limits }
}

/// The keys of object `section` in either report, in order (base first).
fn keys(base: &Value, new: &Value, section: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for report in [base, new] {
        if let Some(map) = report.get(section).and_then(Value::as_object) {
            for key in map.keys() {
                if !names.contains(key) {
                    names.push(key.clone());
                }
            }
        }
    }
    names
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
