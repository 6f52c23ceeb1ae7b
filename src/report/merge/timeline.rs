//! The shards' seconds on one clock: each shard's timeline points and heartbeat RTT intervals
//! are placed at their wall-clock second (the shard's `started_at` plus the point's time,
//! counted from the earliest shard's start and rounded), then added up second by second. The
//! RTT percentiles of a merged second come from the shards' interval histograms added, so they
//! are the ones a single process would have measured; only the send lag p99 and the CPU and
//! memory readings, which have no histogram per second, take the worst shard's value.

use std::collections::BTreeMap;

use crate::report::load_generator::max_of;
use crate::report::{Report, RttInterval, TimelinePoint};

/// Seconds from the earliest shard's start to each shard's (0 where `started_at` cannot be
/// read), in the order of `reports`.
pub fn offsets_s(reports: &[&Report]) -> Vec<f64> {
    let starts: Vec<Option<f64>> = reports.iter().map(|r| unix_s(&r.started_at)).collect();
    let base = starts
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    starts.iter().map(|s| s.map_or(0.0, |s| s - base)).collect()
}

/// The earliest `started_at` of `reports` (as written), the merged run's start.
pub fn earliest_start(reports: &[&Report]) -> String {
    reports
        .iter()
        .filter_map(|r| Some((unix_s(&r.started_at)?, &r.started_at)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or_else(
            || {
                reports
                    .first()
                    .map(|r| r.started_at.clone())
                    .unwrap_or_default()
            },
            |(_, s)| s.clone(),
        )
}

/// An RFC 3339 instant in seconds since the UNIX epoch.
pub fn unix_s(rfc3339: &str) -> Option<f64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
}

/// The wall-clock second of each of `times_s` (a shard's, in order) counted from the merged
/// start: rounded, and kept strictly increasing so two of one shard never share a second.
fn seconds(offset_s: f64, times_s: impl Iterator<Item = f64>) -> Vec<i64> {
    let mut last = i64::MIN;
    times_s
        .map(|t| {
            let second = ((offset_s + t).round() as i64).max(last.saturating_add(1));
            last = second;
            second
        })
        .collect()
}

/// The shards' RTT intervals added second by second (by where each interval ends), as the
/// fleet's `heartbeat_rtt.hlog`: their total is the merged `heartbeat_rtt` histogram. Keyed by
/// second. One second is decoded at a time (a full histogram is ~190 KB; an hour of them would
/// not fit), and kept compact.
pub fn merge_intervals(reports: &[&Report], offsets_s: &[f64]) -> BTreeMap<i64, MergedInterval> {
    // Where each second's intervals are: (report, interval) pairs.
    let mut by_second: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
    for (r, (report, &offset)) in reports.iter().zip(offsets_s).enumerate() {
        let intervals = &report.heartbeat_rtt_intervals;
        let keys = seconds(offset, intervals.iter().map(RttInterval::end_s));
        for (i, key) in keys.into_iter().enumerate() {
            by_second.entry(key).or_default().push((r, i));
        }
    }
    by_second
        .into_iter()
        .map(|(key, places)| {
            let mut sum = crate::metrics::histogram();
            let (mut start_s, mut end_s) = (f64::INFINITY, f64::NEG_INFINITY);
            for (r, i) in places {
                let interval = &reports[r].heartbeat_rtt_intervals[i];
                if let Some(h) = interval.histogram() {
                    // Same bounds everywhere (the run's histogram): cannot fail.
                    let _ = sum.add(&h);
                }
                start_s = start_s.min(offsets_s[r] + interval.start_s);
                end_s = end_s.max(offsets_s[r] + interval.end_s());
            }
            let start_s = start_s.max(0.0);
            let merged = MergedInterval {
                p50_us: sum.value_at_quantile(0.5),
                p99_us: sum.value_at_quantile(0.99),
                interval: RttInterval::of(Some(&sum), start_s, end_s - start_s),
            };
            (key, merged)
        })
        .collect()
}

/// One second of the fleet's heartbeat RTTs, compact, with the percentiles the timeline shows.
pub struct MergedInterval {
    pub interval: RttInterval,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Second by second: counts and gauges add up over the shards; RTT percentiles come from the
/// merged intervals of the same second.
pub fn merge_timeline(
    reports: &[&Report],
    offsets_s: &[f64],
    intervals: &BTreeMap<i64, MergedInterval>,
) -> Vec<TimelinePoint> {
    let mut merged: BTreeMap<i64, TimelinePoint> = BTreeMap::new();
    for (report, &offset) in reports.iter().zip(offsets_s) {
        let keys = seconds(offset, report.timeline.iter().map(|p| p.t_s));
        for (point, key) in report.timeline.iter().zip(keys) {
            match merged.get_mut(&key) {
                Some(p) => absorb(p, point),
                None => {
                    let mut p = point.clone();
                    p.t_s = offset + point.t_s;
                    merged.insert(key, p);
                }
            }
        }
    }
    for (key, point) in &mut merged {
        if let Some(interval) = intervals.get(key) {
            point.heartbeat_rtt_p50_us = interval.p50_us;
            point.heartbeat_rtt_p99_us = interval.p99_us;
        }
    }
    merged.into_values().collect()
}

/// Adds another shard's point of the same second into `p`.
fn absorb(p: &mut TimelinePoint, q: &TimelinePoint) {
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
    // Without intervals (older reports) the worst shard's; replaced from the intervals.
    p.heartbeat_rtt_p50_us = p.heartbeat_rtt_p50_us.max(q.heartbeat_rtt_p50_us);
    p.heartbeat_rtt_p99_us = p.heartbeat_rtt_p99_us.max(q.heartbeat_rtt_p99_us);
    p.send_lag_p99_us = p.send_lag_p99_us.max(q.send_lag_p99_us);
    // Each share is of the cores its own process may use: the worst shard's.
    p.tool_cpu_share = max_of(p.tool_cpu_share, q.tool_cpu_share);
    // Shards that sample a target sample the same one: the highest reading.
    p.target_cpu_share = max_of(p.target_cpu_share, q.target_cpu_share);
    p.target_rss_kib = p.target_rss_kib.max(q.target_rss_kib);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shards_times_keep_their_own_seconds_even_when_close() {
        // A drain interval 0.2 s after the last full second gets a second of its own.
        assert_eq!(
            seconds(0.0, [1.001, 1.998, 3.0, 3.2].into_iter()),
            [1, 2, 3, 4]
        );
        // A shard that started 2.4 s after the earliest: its first second is 3 (2.4 + 1.0).
        assert_eq!(seconds(2.4, [1.0, 2.0].into_iter()), [3, 4]);
    }

    #[test]
    fn the_earliest_start_is_the_base_whatever_its_precision() {
        let mut a = Report::new(
            crate::report::ScenarioInfo::for_test("s", 1, 1.0),
            "2024-01-01T00:00:01.5Z".into(),
            crate::report::RunRecord::default(),
            None,
        );
        let mut b = a.clone();
        b.started_at = "2024-01-01T00:00:01.25Z".into();
        let reports = [&a, &b];
        assert_eq!(earliest_start(&reports), "2024-01-01T00:00:01.25Z");
        let offsets = offsets_s(&reports);
        assert!(
            (offsets[0] - 0.25).abs() < 1e-6 && offsets[1] == 0.0,
            "{offsets:?}"
        );
        a.started_at = "not a time".into();
        assert_eq!(offsets_s(&[&a, &b]), [0.0, 0.0]);
    }
}
