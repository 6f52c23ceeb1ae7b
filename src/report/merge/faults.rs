//! Fault by fault over the shards: counts add up; detection, recovery and attempts come from
//! the shards' fault histograms added (the percentiles one process would have measured); the
//! reconnect storm from the shards' per-100 ms attempt counts added on one clock. Reports
//! without those (older ones) fall back to the worst shard's percentiles and the sum of peaks.

use std::path::PathBuf;

use hdrhistogram::Histogram;

use super::MergeError;
use crate::metrics::{ATTEMPT_WINDOW, fault_histogram};
use crate::report::{
    FaultHistograms, FaultRecord, Report, Storm, decode_histogram, encode_histogram,
};

/// The faults of `reports` (each shard applied the same timeline) merged by index, on the
/// clock of the earliest shard (`offsets_s`, per report).
pub fn merge_faults(
    reports: &[(PathBuf, &Report)],
    offsets_s: &[f64],
) -> Result<Vec<FaultRecord>, MergeError> {
    let Some((_, first)) = reports.first() else {
        return Ok(Vec::new());
    };
    let mut merged = Vec::with_capacity(first.faults.len());
    for fault in &first.faults {
        let same: Vec<(&PathBuf, &FaultRecord, f64)> = reports
            .iter()
            .zip(offsets_s)
            .filter_map(|((path, r), &offset)| {
                let f = r.faults.iter().find(|f| f.index == fault.index)?;
                Some((path, f, offset))
            })
            .collect();
        merged.push(merge_one(&same)?);
    }
    Ok(merged)
}

fn merge_one(same: &[(&PathBuf, &FaultRecord, f64)]) -> Result<FaultRecord, MergeError> {
    let (_, first, first_offset) = same[0];
    let mut fault = first.clone();
    fault.started_s = first.started_s + first_offset;
    fault.ended_s = first.ended_s.map(|e| e + first_offset);
    for &(_, other, offset) in &same[1..] {
        fault.started_s = fault.started_s.min(other.started_s + offset);
        fault.ended_s = match (fault.ended_s, other.ended_s) {
            (Some(a), Some(b)) => Some(a.max(b + offset)),
            (a, b) => a.or(b.map(|b| b + offset)),
        };
        fault.clients_targeted += other.clients_targeted;
        fault.connections_cut += other.connections_cut;
        fault.noticed += other.noticed;
        fault.reopened += other.reopened;
        fault.messages_lost += other.messages_lost;
        fault.push_missed = match (fault.push_missed, other.push_missed) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    // A shard's record without histograms is an older report's unless another has them.
    if same.iter().any(|(_, f, _)| f.histograms.is_some()) {
        let histograms = add_histograms(same)?;
        fault.summarise(
            histograms[0].as_ref(),
            histograms[1].as_ref(),
            histograms[2].as_ref(),
        );
        let encode = |h: &Option<Histogram<u64>>| h.as_ref().map(encode_histogram);
        fault.histograms = Some(FaultHistograms {
            detection: encode(&histograms[0]),
            reopen: encode(&histograms[1]),
            attempts: encode(&histograms[2]),
        });
    } else {
        worst_percentiles(&mut fault, same);
    }
    fault.storm = merge_storms(same);
    Ok(fault)
}

/// Detection, reopen and attempts, each added over the shards (`None`: nothing recorded).
fn add_histograms(
    same: &[(&PathBuf, &FaultRecord, f64)],
) -> Result<[Option<Histogram<u64>>; 3], MergeError> {
    let mut sums: [Option<Histogram<u64>>; 3] = [None, None, None];
    for &(path, fault, _) in same {
        let Some(h) = &fault.histograms else { continue };
        for (i, (name, text)) in [
            ("detection", &h.detection),
            ("reopen", &h.reopen),
            ("attempts", &h.attempts),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(text) = text else { continue };
            let decoded = decode_histogram(text).map_err(|reason| MergeError::Histogram {
                path: path.clone(),
                name: format!("faults[{}].histograms.{name}", fault.index),
                reason,
            })?;
            // Auto-resizing: takes any shard's values.
            let _ = sums[i].get_or_insert_with(fault_histogram).add(&decoded);
        }
    }
    Ok(sums)
}

/// The storm over the shards' windows on one clock: attempts per 100 ms added, the peak and
/// mean of the sums. Older reports (no counts per window): attempts and means add up and the
/// sum of peaks bounds the merged peak from above.
fn merge_storms(same: &[(&PathBuf, &FaultRecord, f64)]) -> Option<Storm> {
    let storms: Vec<(&Storm, f64, f64)> = same
        .iter()
        .filter_map(|(_, f, offset)| Some((f.storm.as_ref()?, f.started_s, *offset)))
        .collect();
    if storms.is_empty() {
        return None;
    }
    if storms.iter().all(|(s, _, _)| !s.per_100ms.is_empty()) {
        let window = ATTEMPT_WINDOW.as_secs_f64();
        // Each shard's first window, counted on the merged clock.
        let firsts: Vec<i64> = storms
            .iter()
            .map(|(_, started_s, offset)| {
                (started_s / window).floor() as i64 + (offset / window).round() as i64
            })
            .collect();
        let first = firsts.iter().copied().min().unwrap_or(0);
        let end = storms
            .iter()
            .zip(&firsts)
            .map(|((s, _, _), f)| f + s.per_100ms.len() as i64)
            .max()
            .unwrap_or(first);
        let mut counts = vec![0u32; (end - first).max(0) as usize];
        for ((storm, _, _), f) in storms.iter().zip(&firsts) {
            for (i, n) in storm.per_100ms.iter().enumerate() {
                counts[(f - first) as usize + i] += n;
            }
        }
        return Some(Storm::of(counts));
    }
    let mut merged = storms[0].0.clone();
    for (other, _, _) in &storms[1..] {
        merged.attempts += other.attempts;
        merged.mean_per_100ms += other.mean_per_100ms;
        merged.peak_per_100ms += other.peak_per_100ms;
        merged.window_s = merged.window_s.max(other.window_s);
    }
    merged.per_100ms.clear();
    Some(merged)
}

/// Older reports: the worst shard's percentiles.
fn worst_percentiles(fault: &mut FaultRecord, same: &[(&PathBuf, &FaultRecord, f64)]) {
    fault.histograms = None;
    for &(_, other, _) in &same[1..] {
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
