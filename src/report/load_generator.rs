//! Self-diagnosis: was the load generator itself the bottleneck of a run? Past that point the
//! figures measure wschaos, not the target. Three rules, each a `Reason`:
//!
//! - `cpu`: a second of the run in which the process used at least [`CPU_SATURATED_SHARE`] of
//!   the cores it may use;
//! - `send_lag`: the send-lag p99 (heartbeats and messages) over the seconds no fault was on is
//!   above `max(10 ms, 5 x timer_resolution)` (seconds with a fault are left out: a fault that
//!   stalls the connection delays sends without the tool being busy). The floor is twice the
//!   p99 seen in ordinary runs on a busy 2-core machine (3-5 ms at the default 1 ms timer).
//! - `local_resources`: a connect attempt failed for lack of local descriptors or ports.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::summary::human_us;
use super::{FaultRecord, TimelinePoint};
use crate::metrics::Counters;

/// A second at or above this share of the available cores counts as CPU saturation.
pub const CPU_SATURATED_SHARE: f64 = 0.90;
/// The send-lag bound is at least this...
const SEND_LAG_FLOOR: Duration = Duration::from_millis(10);
/// ...and at least this many timer ticks (a coarse `timer_resolution` delays every send).
const SEND_LAG_TICKS: u32 = 5;

/// What a run measured of the tool itself, before it is judged.
#[derive(Debug, Clone, Default)]
pub struct ToolRecord {
    /// Cores the process may use.
    pub cores: u32,
    /// CPU seconds the process used during the run (`None`: the OS could not say).
    pub cpu_s: Option<f64>,
    /// Send lag of heartbeats and messages over the seconds no fault was on (microseconds).
    pub send_lag_fault_free: Option<Histogram<u64>>,
    pub timer_resolution: Duration,
}

/// One rule that found the tool saturated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// `cpu`, `send_lag` or `local_resources`.
    pub rule: String,
    /// For people: what was measured against which bound.
    pub detail: String,
    /// The first second of the run it was seen in, when it is known.
    pub from_s: Option<f64>,
}

/// The verdict on the tool, `load_generator` in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadGenerator {
    pub saturated: bool,
    pub reasons: Vec<Reason>,
    /// Cores the process may use (in a merged report: the most any shard had).
    pub cores: u32,
    /// CPU seconds used (in a merged report: summed over the shards).
    pub cpu_s: Option<f64>,
    /// The busiest second's CPU use as a share of `cores` (0..1).
    pub cpu_max_share: Option<f64>,
    /// The mean over the run's seconds.
    pub cpu_mean_share: Option<f64>,
    /// Send-lag p99 over the seconds no fault was on (microseconds; 0: nothing was sent).
    pub send_lag_p99_us: u64,
    pub send_lag_bound_us: u64,
    pub connect_failures_local: u64,
}

/// `max(10 ms, 5 x timer_resolution)` in microseconds.
pub fn send_lag_bound_us(timer_resolution: Duration) -> u64 {
    SEND_LAG_FLOOR
        .max(timer_resolution * SEND_LAG_TICKS)
        .as_micros() as u64
}

/// True when no fault was on during the second that ends at `t_s`.
fn fault_free(t_s: f64, faults: &[FaultRecord]) -> bool {
    !faults
        .iter()
        .any(|f| f.started_s <= t_s && f.ended_s.is_none_or(|end| end > t_s - 1.0))
}

fn seconds(t_s: f64) -> String {
    format!("{t_s:.0}s")
}

/// Judges the tool by the three rules of this module.
pub fn diagnose(
    tool: &ToolRecord,
    timeline: &[TimelinePoint],
    faults: &[FaultRecord],
    counters: &Counters,
) -> LoadGenerator {
    let mut reasons = Vec::new();
    let shares: Vec<(f64, f64)> = timeline
        .iter()
        .filter_map(|p| Some((p.t_s, p.tool_cpu_share?)))
        .collect();
    let cpu_max_share = shares.iter().map(|(_, s)| *s).reduce(f64::max);
    let cpu_mean_share = (!shares.is_empty())
        .then(|| shares.iter().map(|(_, s)| s).sum::<f64>() / shares.len() as f64);
    let busy: Vec<&(f64, f64)> = shares
        .iter()
        .filter(|(_, s)| *s >= CPU_SATURATED_SHARE)
        .collect();
    if let (Some(first), Some(last)) = (busy.first(), busy.last()) {
        let peak = busy.iter().map(|(_, s)| *s).fold(0.0, f64::max);
        let at = if first.0 == last.0 {
            seconds(first.0)
        } else {
            format!("{}-{}", seconds(first.0), seconds(last.0))
        };
        reasons.push(Reason {
            rule: "cpu".into(),
            detail: format!(
                "cpu {:.0}% of {} cores at {at} ({} of {} seconds at {:.0}% or more)",
                peak * 100.0,
                tool.cores,
                busy.len(),
                shares.len(),
                CPU_SATURATED_SHARE * 100.0
            ),
            from_s: Some(first.0),
        });
    }

    let bound_us = send_lag_bound_us(tool.timer_resolution);
    let send_lag_p99_us = tool
        .send_lag_fault_free
        .as_ref()
        .map_or(0, |h| h.value_at_quantile(0.99));
    if send_lag_p99_us > bound_us {
        let from_s = timeline
            .iter()
            .find(|p| p.send_lag_p99_us > bound_us && fault_free(p.t_s, faults))
            .map(|p| p.t_s);
        reasons.push(Reason {
            rule: "send_lag".into(),
            detail: format!(
                "send lag p99 {} outside faults (bound {})",
                human_us(send_lag_p99_us),
                human_us(bound_us)
            ),
            from_s,
        });
    }

    let local = counters.connect_failures_local;
    if local > 0 {
        reasons.push(Reason {
            rule: "local_resources".into(),
            detail: format!(
                "{local} connect attempts failed for lack of local descriptors or ports \
                 (EMFILE, ENFILE, EADDRNOTAVAIL, EADDRINUSE)"
            ),
            from_s: None,
        });
    }
    LoadGenerator {
        saturated: !reasons.is_empty(),
        reasons,
        cores: tool.cores,
        cpu_s: tool.cpu_s,
        cpu_max_share,
        cpu_mean_share,
        send_lag_p99_us,
        send_lag_bound_us: bound_us,
        connect_failures_local: local,
    }
}

impl LoadGenerator {
    /// The earliest second a reason was seen in.
    pub fn saturated_from_s(&self) -> Option<f64> {
        self.reasons
            .iter()
            .filter_map(|r| r.from_s)
            .reduce(f64::min)
    }

    /// The one line the summaries print when the tool was saturated (`None` when it was not).
    pub fn headline(&self) -> Option<String> {
        if !self.saturated {
            return None;
        }
        let mut line = String::from("LOAD GENERATOR SATURATED: ");
        let details: Vec<&str> = self.reasons.iter().map(|r| r.detail.as_str()).collect();
        line.push_str(&details.join("; "));
        let _ = match self.saturated_from_s() {
            Some(from) => write!(
                line,
                "; results from {} on measure wschaos, not the target",
                seconds(from)
            ),
            None => write!(line, "; the results measure wschaos, not the target"),
        };
        Some(line)
    }

    /// One verdict for several shards' (`label`, verdict): saturated if any shard was (each
    /// reason names its shard), CPU seconds and local failures add up, the busiest second and
    /// the send lag are the worst shard's, the mean share is the shards' mean.
    pub fn merge<'a>(
        shards: impl IntoIterator<Item = (&'a str, &'a LoadGenerator)>,
    ) -> Option<Self> {
        let shards: Vec<(&str, &LoadGenerator)> = shards.into_iter().collect();
        let (_, first) = shards.first()?;
        let mut merged = LoadGenerator {
            reasons: Vec::new(),
            cpu_s: Some(0.0),
            ..(*first).clone()
        };
        let mut means = Vec::new();
        merged.connect_failures_local = 0;
        for (label, shard) in &shards {
            merged.reasons.extend(shard.reasons.iter().map(|r| Reason {
                detail: format!("shard {label}: {}", r.detail),
                ..r.clone()
            }));
            merged.cores = merged.cores.max(shard.cores);
            merged.cpu_s = merged.cpu_s.zip(shard.cpu_s).map(|(a, b)| a + b);
            merged.cpu_max_share = max_of(merged.cpu_max_share, shard.cpu_max_share);
            means.extend(shard.cpu_mean_share);
            merged.send_lag_p99_us = merged.send_lag_p99_us.max(shard.send_lag_p99_us);
            merged.send_lag_bound_us = merged.send_lag_bound_us.max(shard.send_lag_bound_us);
            merged.connect_failures_local += shard.connect_failures_local;
        }
        merged.cpu_mean_share =
            (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64);
        merged.saturated = shards.iter().any(|(_, s)| s.saturated);
        Some(merged)
    }
}

/// The larger of two readings either of which may be missing.
pub(super) fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DisconnectsByCause;

    fn point(t_s: f64, cpu: Option<f64>, send_lag_p99_us: u64) -> TimelinePoint {
        TimelinePoint {
            t_s,
            connected: 10,
            planned_clients: 10,
            connects: 0,
            disconnects: 0,
            reconnects: 0,
            connect_failures: 0,
            heartbeats_sent: 10,
            heartbeat_acks: 10,
            pushed: 0,
            heartbeat_rtt_p50_us: 100,
            heartbeat_rtt_p99_us: 200,
            send_lag_p99_us,
            tool_cpu_share: cpu,
            target_cpu_share: None,
            target_rss_kib: None,
            disconnects_by_cause: DisconnectsByCause::default(),
        }
    }

    fn tool(send_lag_us: &[u64]) -> ToolRecord {
        let mut h = crate::metrics::histogram();
        for v in send_lag_us {
            h.saturating_record(*v);
        }
        ToolRecord {
            cores: 2,
            cpu_s: Some(3.5),
            send_lag_fault_free: (!send_lag_us.is_empty()).then_some(h),
            timer_resolution: Duration::from_millis(1),
        }
    }

    fn fault(started_s: f64, ended_s: Option<f64>) -> FaultRecord {
        serde_json::from_value(serde_json::json!({
            "index": 0, "kind": "partition", "started_s": started_s, "ended_s": ended_s,
            "clients_targeted": 1, "connections_cut": 0, "noticed": 0, "reopened": 0,
            "messages_lost": 0, "detection_us": null, "recovery_us": null,
            "reconnect_attempts": null, "storm": null
        }))
        .expect("a fault record")
    }

    #[test]
    fn a_run_under_every_bound_is_not_saturated_and_prints_nothing() {
        let timeline: Vec<_> = (1..=10)
            .map(|t| point(f64::from(t), Some(0.3), 2_000))
            .collect();
        let verdict = diagnose(&tool(&[800; 100]), &timeline, &[], &Counters::default());
        assert!(!verdict.saturated);
        assert!(verdict.reasons.is_empty());
        assert_eq!(verdict.headline(), None);
        assert_eq!(verdict.cpu_max_share, Some(0.3));
        assert_eq!(verdict.cpu_s, Some(3.5));
        assert_eq!(verdict.send_lag_bound_us, 10_000);
    }

    #[test]
    fn seconds_at_ninety_percent_of_the_cores_saturate_from_the_first_of_them() {
        let timeline: Vec<_> = (1..=20)
            .map(|t| {
                let share = if (12..=18).contains(&t) { 0.97 } else { 0.5 };
                point(f64::from(t), Some(share), 1_000)
            })
            .collect();
        let verdict = diagnose(&tool(&[]), &timeline, &[], &Counters::default());
        assert!(verdict.saturated);
        assert_eq!(verdict.reasons.len(), 1);
        assert_eq!(verdict.reasons[0].rule, "cpu");
        assert_eq!(verdict.saturated_from_s(), Some(12.0));
        let line = verdict.headline().expect("a headline");
        assert!(
            line.starts_with("LOAD GENERATOR SATURATED: cpu 97% of 2 cores at 12s-18s"),
            "{line}"
        );
        assert!(
            line.ends_with("results from 12s on measure wschaos, not the target"),
            "{line}"
        );
        // Just under the share is not saturation.
        let under = [point(1.0, Some(CPU_SATURATED_SHARE - 0.001), 0)];
        assert!(!diagnose(&tool(&[]), &under, &[], &Counters::default()).saturated);
    }

    #[test]
    fn send_lag_counts_against_the_larger_of_ten_ms_and_five_ticks_outside_faults() {
        assert_eq!(send_lag_bound_us(Duration::from_millis(1)), 10_000);
        assert_eq!(send_lag_bound_us(Duration::from_millis(10)), 50_000);
        let timeline: Vec<_> = (1..=10)
            .map(|t| point(f64::from(t), Some(0.2), if t >= 4 { 20_000 } else { 500 }))
            .collect();
        // Seconds 4-6 were under a fault: the first late second outside it is 7.
        let faults = [fault(3.5, Some(6.0))];
        let verdict = diagnose(
            &tool(&[20_000; 50]),
            &timeline,
            &faults,
            &Counters::default(),
        );
        assert!(verdict.saturated);
        assert_eq!(verdict.reasons[0].rule, "send_lag");
        assert_eq!(verdict.reasons[0].from_s, Some(7.0));
        assert!((20_000..20_100).contains(&verdict.send_lag_p99_us));
        // A coarser timer allows more lag.
        let coarse = ToolRecord {
            timer_resolution: Duration::from_millis(5),
            ..tool(&[20_000; 50])
        };
        assert!(!diagnose(&coarse, &timeline, &faults, &Counters::default()).saturated);
    }

    #[test]
    fn any_local_connect_failure_saturates_without_a_time() {
        let counters = Counters {
            connect_failures: 140,
            connect_failures_local: 136,
            ..Counters::default()
        };
        let verdict = diagnose(&tool(&[]), &[point(1.0, None, 0)], &[], &counters);
        assert!(verdict.saturated);
        assert_eq!(verdict.reasons[0].rule, "local_resources");
        assert_eq!(verdict.cpu_max_share, None);
        let line = verdict.headline().expect("a headline");
        assert!(line.contains("136 connect attempts failed"), "{line}");
        assert!(
            line.ends_with("; the results measure wschaos, not the target"),
            "{line}"
        );
    }

    #[test]
    fn merged_shards_are_saturated_if_any_was_and_add_up_cpu_seconds() {
        let calm = diagnose(
            &tool(&[800; 10]),
            &[point(1.0, Some(0.4), 800)],
            &[],
            &Counters::default(),
        );
        let busy = diagnose(
            &tool(&[800; 10]),
            &[point(1.0, Some(0.95), 800)],
            &[],
            &Counters::default(),
        );
        let merged = LoadGenerator::merge([("0/2", &calm), ("1/2", &busy)]).expect("merged");
        assert!(merged.saturated);
        assert_eq!(merged.cpu_s, Some(7.0));
        assert_eq!(merged.cpu_max_share, Some(0.95));
        assert_eq!(merged.reasons.len(), 1);
        assert!(merged.reasons[0].detail.starts_with("shard 1/2: cpu 95%"));
        let both_calm = LoadGenerator::merge([("0/2", &calm), ("1/2", &calm)]).expect("merged");
        assert!(!both_calm.saturated);
        assert_eq!(LoadGenerator::merge([]), None);
    }
}
