//! Several shard reports of one run (`--shard i/n`, `--shards N`, `--procs N`, or pods of an
//! Indexed Job) into the report one process would have written: counters add up, histograms
//! (global and per fault) are decoded and added, never percentiles averaged, and the seconds of
//! the timeline and of the heartbeat RTT log are lined up by wall clock (`timeline`). Only the
//! figures that exist per process and nowhere as a histogram take the worst shard's value:
//! each second's send lag p99 and CPU shares. The tool's own figures (`load_generator`):
//! saturated if any shard was, CPU seconds summed. `shard_set` refuses reports that are not
//! the shards of one run.

mod faults;
mod shard_set;
mod timeline;

pub use shard_set::{Coverage, list as list_shards};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::{
    HistogramSummary, LoadGenerator, Ratios, ReadError, Report, RttInterval, TargetCost,
    decode_histogram,
};
use crate::metrics::Counters;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: histogram {name} is not a valid HdrHistogram: {reason}")]
    Histogram {
        path: PathBuf,
        name: String,
        reason: String,
    },
    #[error("{path}: cannot read the heartbeat RTT log: {reason}")]
    Hlog { path: PathBuf, reason: String },
    #[error("nothing to merge: give report directories or report.json files")]
    Empty,
    #[error("{path}: not a shard of the same run as {other}: {what}")]
    OtherRun {
        path: PathBuf,
        other: PathBuf,
        what: String,
    },
    #[error("{path}: shard {shard} is given twice (also {other})")]
    Duplicate {
        path: PathBuf,
        other: PathBuf,
        shard: String,
    },
    #[error(
        "shard {missing} of {count} missing: give every shard's report, or --allow-partial to \
         merge those present (the report is then marked partial)"
    )]
    Missing { count: u32, missing: String },
}

/// Reads every report (`Report::read`) with its heartbeat RTT intervals (the
/// `heartbeat_rtt.hlog` beside it), keeping its path for the errors of the merge.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Report)>, MergeError> {
    paths
        .iter()
        .map(|path| {
            let mut report = Report::read(path)?;
            report.heartbeat_rtt_intervals = read_intervals(path, &report)?;
            Ok((path.clone(), report))
        })
        .collect()
}

/// The intervals of the `heartbeat_rtt.hlog` beside the report at `path` (none needed when the
/// report has no heartbeat RTT).
fn read_intervals(path: &Path, report: &Report) -> Result<Vec<RttInterval>, MergeError> {
    if let Some(text) = &report.heartbeat_rtt_hlog {
        // A shard's `--json` output (a pod's log) carries its hlog inside.
        return super::hlog::parse(text.as_bytes()).map_err(|reason| MergeError::Hlog {
            path: path.to_path_buf(),
            reason,
        });
    }
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let file = dir.join("heartbeat_rtt.hlog");
    let rtt_count = report
        .histograms
        .get("heartbeat_rtt")
        .map_or(0, |h| h.count);
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && rtt_count == 0 => {
            return Ok(Vec::new());
        }
        Err(err) => {
            return Err(MergeError::Hlog {
                path: file,
                reason: err.to_string(),
            });
        }
    };
    super::hlog::parse(&text).map_err(|reason| MergeError::Hlog { path: file, reason })
}

/// How to merge: whether missing shards are refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeOptions {
    /// Merge the shards present and mark the report `partial` (else a missing shard is an
    /// error).
    pub allow_partial: bool,
}

/// Merges shard reports (paths only name errors) after checking they are the shards of one
/// run.
pub fn merge(reports: &[(PathBuf, Report)], options: MergeOptions) -> Result<Report, MergeError> {
    let coverage = shard_set::check(reports, options.allow_partial)?;
    let Some((_, first)) = reports.first() else {
        return Err(MergeError::Empty);
    };
    let all: Vec<&Report> = reports.iter().map(|(_, r)| r).collect();
    let offsets = timeline::offsets_s(&all);
    let mut merged = first.clone();
    merged.shard = None;
    merged.heartbeat_rtt_hlog = None;
    merged.partial = !coverage.missing.is_empty();
    merged.missing_shards = coverage.missing;
    let mut counters = Counters::default();
    let mut close_codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (path, report) in reports {
        counters.add(&report.counters);
        for (code, n) in &report.close_codes {
            *close_codes.entry(code.clone()).or_default() += n;
        }
        for (name, summary) in &report.histograms {
            let h = decode_histogram(&summary.hdr).map_err(|reason| MergeError::Histogram {
                path: path.clone(),
                name: name.clone(),
                reason,
            })?;
            match histograms.get_mut(name) {
                Some(total) => {
                    let _ = total.add(&h);
                }
                None => {
                    histograms.insert(name.clone(), h);
                }
            }
        }
    }
    merged.ratios = Ratios::from_counters(&counters);
    merged.counters = counters;
    merged.close_codes = close_codes;
    merged.histograms = histograms
        .iter()
        .map(|(name, h)| (name.clone(), HistogramSummary::of(Some(h))))
        .collect();
    // On the clock of the earliest shard.
    let on_clock = |f: fn(&Report) -> Option<f64>| {
        all.iter()
            .zip(&offsets)
            .map(|(r, offset)| f(r).map(|t| t + offset))
            .try_fold(0.0, |acc: f64, t| Some(acc.max(t?)))
    };
    merged.elapsed_s = on_clock(|r| Some(r.elapsed_s)).unwrap_or(0.0);
    merged.all_connected_s = on_clock(|r| r.all_connected_s);
    merged.interrupted = all.iter().any(|r| r.interrupted);
    merged.started_at = timeline::earliest_start(&all);
    merged.joined_late_s = all.iter().filter_map(|r| r.joined_late_s).reduce(f64::max);
    let intervals = timeline::merge_intervals(&all, &offsets);
    merged.timeline = timeline::merge_timeline(&all, &offsets, &intervals);
    merged.heartbeat_rtt_intervals = intervals.into_values().map(|m| m.interval).collect();
    // Against the connections of every shard together, from the highest CPU any shard saw.
    merged.target = all
        .iter()
        .filter_map(|r| r.target.as_ref())
        .max_by(|a, b| a.cpu_s.total_cmp(&b.cpu_s))
        .and_then(|target| {
            TargetCost::of(
                &target.sampled,
                &merged.timeline,
                target.cpu_s,
                merged.counters.heartbeat_acks,
            )
        });
    let labels: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, r)| r.shard.clone().unwrap_or_else(|| format!("#{i}")))
        .collect();
    merged.load_generator = LoadGenerator::merge(
        labels
            .iter()
            .zip(&all)
            .filter_map(|(label, r)| Some((label.as_str(), r.load_generator.as_ref()?))),
    );
    let with_paths: Vec<(PathBuf, &Report)> = reports.iter().map(|(p, r)| (p.clone(), r)).collect();
    merged.faults = faults::merge_faults(&with_paths, &offsets)?;
    merged.server =
        all.iter()
            .filter_map(|r| r.server)
            .reduce(|a, b| crate::server::ServerCounts {
                upgrades: a.upgrades + b.upgrades,
                close_frames: a.close_frames + b.close_frames,
                echoed: a.echoed + b.echoed,
                pongs: a.pongs + b.pongs,
                open: a.open + b.open,
                pushed: a.pushed + b.pushed,
                push_replayed: a.push_replayed + b.push_replayed,
                push_missed: a.push_missed + b.push_missed,
                tls_full: a.tls_full + b.tls_full,
                tls_resumed: a.tls_resumed + b.tls_resumed,
                refused_full: a.refused_full + b.refused_full,
            });
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::report::{RunRecord, ScenarioInfo, TimelinePoint};

    /// A shard's report with one timeline second: `planned` clients planned, `connected` open.
    fn shard(planned: u64, connected: u64) -> (PathBuf, Report) {
        let mut point = TimelinePoint::new(1.0, &Counters::default(), &Metrics::default());
        point.planned_clients = planned;
        point.connected = connected;
        let record = RunRecord {
            timeline: vec![point],
            ..RunRecord::default()
        };
        let info = ScenarioInfo::for_test("s", 10, 2.0);
        (
            PathBuf::from("r"),
            Report::new(info, String::new(), record, None),
        )
    }

    #[test]
    fn each_seconds_planned_clients_add_up_over_the_shards() {
        let merged = merge(&[shard(4, 3), shard(3, 3)], MergeOptions::default()).expect("merge");
        assert_eq!(merged.timeline[0].planned_clients, 7);
        assert_eq!(merged.timeline[0].connected, 6);
    }
}
