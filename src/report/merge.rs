//! Several shard reports of one run (`--shard i/n`, `--procs N`, or pods of an Indexed Job)
//! into one: counters add up, histograms are decoded and added (never percentiles averaged),
//! and figures that only exist as percentiles per shard take the worst shard's value. The
//! tool's own figures (`load_generator`): saturated if any shard was, CPU seconds summed, the
//! per-second CPU share the worst shard's (each shard is a process of its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::{HistogramSummary, LoadGenerator, Ratios, ReadError, Report, TargetCost};
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
    #[error("nothing to merge: give report directories or report.json files")]
    Empty,
}

/// Reads every report (`Report::read`), keeping its path for the errors of the merge.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Report)>, MergeError> {
    paths
        .iter()
        .map(|path| Ok((path.clone(), Report::read(path)?)))
        .collect()
}

fn decode(path: &Path, name: &str, hdr: &str) -> Result<Histogram<u64>, MergeError> {
    let err = |reason: String| MergeError::Histogram {
        path: path.to_path_buf(),
        name: name.to_string(),
        reason,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hdr)
        .map_err(|e| err(e.to_string()))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| err(format!("{e:?}")))
}

/// Merges shard reports (paths only name errors).
pub fn merge(reports: &[(PathBuf, Report)]) -> Result<Report, MergeError> {
    let Some((_, first)) = reports.first() else {
        return Err(MergeError::Empty);
    };
    let mut merged = first.clone();
    merged.shard = None;
    let mut counters = Counters::default();
    let mut close_codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (path, report) in reports {
        counters.add(&report.counters);
        for (code, n) in &report.close_codes {
            *close_codes.entry(code.clone()).or_default() += n;
        }
        for (name, summary) in &report.histograms {
            let h = decode(path, name, &summary.hdr)?;
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
    merged.elapsed_s = reports.iter().map(|(_, r)| r.elapsed_s).fold(0.0, f64::max);
    merged.interrupted = reports.iter().any(|(_, r)| r.interrupted);
    merged.all_connected_s = reports
        .iter()
        .map(|(_, r)| r.all_connected_s)
        .try_fold(0.0, |acc: f64, t| Some(acc.max(t?)));
    merged.started_at = reports
        .iter()
        .map(|(_, r)| r.started_at.clone())
        .min()
        .unwrap_or_default();
    merge_timeline(&mut merged, reports);
    // Against the connections of every shard together, from the highest CPU any shard saw.
    merged.target = reports
        .iter()
        .filter_map(|(_, r)| r.target.as_ref())
        .max_by(|a, b| a.cpu_s.total_cmp(&b.cpu_s))
        .and_then(|target| {
            TargetCost::of(
                &target.sampled,
                &merged.timeline,
                target.cpu_s,
                merged.counters.heartbeat_acks,
            )
        });
    let labels: Vec<String> = reports
        .iter()
        .enumerate()
        .map(|(i, (_, r))| r.shard.clone().unwrap_or_else(|| format!("#{i}")))
        .collect();
    merged.load_generator = LoadGenerator::merge(
        labels
            .iter()
            .zip(reports)
            .filter_map(|(label, (_, r))| Some((label.as_str(), r.load_generator.as_ref()?))),
    );
    merge_faults(&mut merged, reports);
    merged.server =
        reports
            .iter()
            .filter_map(|(_, r)| r.server)
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

/// Second by second: counts add up; RTT percentiles are the worst shard's.
fn merge_timeline(merged: &mut Report, reports: &[(PathBuf, Report)]) {
    let len = reports
        .iter()
        .map(|(_, r)| r.timeline.len())
        .max()
        .unwrap_or(0);
    merged.timeline = (0..len)
        .filter_map(|i| {
            let points: Vec<_> = reports
                .iter()
                .filter_map(|(_, r)| r.timeline.get(i))
                .collect();
            let mut p = points.first().copied()?.clone();
            for q in &points[1..] {
                p.connected += q.connected;
                p.planned_clients += q.planned_clients;
                p.connects += q.connects;
                p.disconnects += q.disconnects;
                p.disconnects_by_cause.add(&q.disconnects_by_cause);
                p.reconnects += q.reconnects;
                p.connect_failures += q.connect_failures;
                p.heartbeats_sent += q.heartbeats_sent;
                p.heartbeat_acks += q.heartbeat_acks;
                p.pushed += q.pushed;
                p.heartbeat_rtt_p50_us = p.heartbeat_rtt_p50_us.max(q.heartbeat_rtt_p50_us);
                p.heartbeat_rtt_p99_us = p.heartbeat_rtt_p99_us.max(q.heartbeat_rtt_p99_us);
                p.send_lag_p99_us = p.send_lag_p99_us.max(q.send_lag_p99_us);
                // Each share is of the cores its own process may use: the worst shard's.
                p.tool_cpu_share = match (p.tool_cpu_share, q.tool_cpu_share) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                // Shards that sample a target sample the same one: the highest reading.
                p.target_cpu_share = match (p.target_cpu_share, q.target_cpu_share) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                p.target_rss_kib = p.target_rss_kib.max(q.target_rss_kib);
            }
            Some(p)
        })
        .collect();
}

/// Fault by fault: counts add up; latency percentiles and storm peaks are the worst shard's.
fn merge_faults(merged: &mut Report, reports: &[(PathBuf, Report)]) {
    for fault in &mut merged.faults {
        let same: Vec<_> = reports
            .iter()
            .skip(1)
            .filter_map(|(_, r)| r.faults.iter().find(|f| f.index == fault.index))
            .collect();
        for other in same {
            fault.clients_targeted += other.clients_targeted;
            fault.connections_cut += other.connections_cut;
            fault.noticed += other.noticed;
            fault.reopened += other.reopened;
            fault.messages_lost += other.messages_lost;
            fault.push_missed = match (fault.push_missed, other.push_missed) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            fault.ended_s = match (fault.ended_s, other.ended_s) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            fault.detection_us = worst(fault.detection_us, other.detection_us, |a, b| {
                a.p50 = a.p50.max(b.p50);
                a.p99 = a.p99.max(b.p99);
                a.max = a.max.max(b.max);
                a.mean = a.mean.max(b.mean);
            });
            fault.reconnect_attempts = worst(
                fault.reconnect_attempts,
                other.reconnect_attempts,
                |a, b| {
                    a.p50 = a.p50.max(b.p50);
                    a.p99 = a.p99.max(b.p99);
                    a.max = a.max.max(b.max);
                    a.mean = a.mean.max(b.mean);
                },
            );
            fault.recovery_us = worst(fault.recovery_us, other.recovery_us, |a, b| {
                let max = |x: Option<u64>, y: Option<u64>| Some(x?.max(y?));
                a.p50 = max(a.p50, b.p50);
                a.p99 = max(a.p99, b.p99);
                a.all = max(a.all, b.all);
            });
            fault.storm = worst(fault.storm, other.storm, |a, b| {
                // Shards share the clock, so their storms overlap: attempts and the mean add up;
                // the sum of peaks bounds the merged peak from above.
                a.attempts += b.attempts;
                a.mean_per_100ms += b.mean_per_100ms;
                a.peak_per_100ms += b.peak_per_100ms;
                a.window_s = a.window_s.max(b.window_s);
            });
        }
    }
}

fn worst<T: Copy>(a: Option<T>, b: Option<T>, combine: impl Fn(&mut T, &T)) -> Option<T> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            combine(&mut a, &b);
            Some(a)
        }
        (a, b) => a.or(b),
    }
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
        let merged = merge(&[shard(4, 3), shard(3, 3)]).expect("merge");
        assert_eq!(merged.timeline[0].planned_clients, 7);
        assert_eq!(merged.timeline[0].connected, 6);
    }
}
