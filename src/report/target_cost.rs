//! The target's cost in `report.json`'s `target` section: its peak memory, the memory each
//! connection costs it (the slope of a least-squares line of its RSS against the connections
//! open, over the seconds sampled) and the CPU each heartbeat costs it (all its CPU over the run
//! per heartbeat acked: an upper bound, handshakes and messages included).

use serde::{Deserialize, Serialize};

use super::TimelinePoint;

/// Least spread of `connected` over the sampled seconds (max - min) for a memory slope: below
/// it the line says more about noise than about connections.
pub const MIN_CONNECTED_SPREAD: u64 = 50;
/// Least number of sampled seconds for a slope.
const MIN_POINTS: usize = 3;

/// What the run measured of the target itself (absent when nothing was sampled).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetCost {
    /// Whose processes were sampled: `target.command` or `--target-pid N`.
    pub sampled: String,
    /// Seconds with a sample (none while the target was down).
    pub samples: u64,
    /// The highest RSS of all its processes together, in KiB.
    pub peak_rss_kib: u64,
    /// CPU seconds it used during the run.
    pub cpu_s: f64,
    /// KiB of RSS per open connection: the least-squares slope of RSS against `connected`;
    /// `None` when `connected` varied by less than `MIN_CONNECTED_SPREAD`.
    pub rss_per_conn_kib: Option<f64>,
    /// That line's RSS at zero connections, in KiB.
    pub rss_base_kib: Option<f64>,
    /// How much `connected` varied over the sampled seconds (max - min).
    pub connected_spread: u64,
    /// Microseconds of its CPU per heartbeat acked (`None` without acks).
    pub cpu_per_heartbeat_us: Option<f64>,
}

/// Slope and intercept of the least-squares line through `points` (x, y); `None` with fewer than
/// `MIN_POINTS` points or when x spreads by less than `min_spread`.
pub fn least_squares(points: &[(f64, f64)], min_spread: f64) -> Option<(f64, f64)> {
    if points.len() < MIN_POINTS {
        return None;
    }
    let (low, high) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
            (lo.min(*x), hi.max(*x))
        });
    if high - low < min_spread || high - low <= 0.0 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let covariance: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let slope = covariance / variance;
    Some((slope, mean_y - slope * mean_x))
}

impl TargetCost {
    /// The section for a run whose timeline carries target samples; `None` when no second had
    /// one.
    pub fn of(
        sampled: &str,
        timeline: &[TimelinePoint],
        cpu_s: f64,
        heartbeat_acks: u64,
    ) -> Option<Self> {
        let points: Vec<(u64, u64)> = timeline
            .iter()
            .filter_map(|p| Some((p.connected, p.target_rss_kib?)))
            .collect();
        if points.is_empty() {
            return None;
        }
        let connected = points.iter().map(|(c, _)| *c);
        let spread = connected.clone().max().unwrap_or(0) - connected.min().unwrap_or(0);
        let line = least_squares(
            &points
                .iter()
                .map(|&(c, rss)| (c as f64, rss as f64))
                .collect::<Vec<_>>(),
            MIN_CONNECTED_SPREAD as f64,
        );
        Some(Self {
            sampled: sampled.to_string(),
            samples: points.len() as u64,
            peak_rss_kib: points.iter().map(|(_, rss)| *rss).max().unwrap_or(0),
            cpu_s,
            rss_per_conn_kib: line.map(|(slope, _)| slope),
            rss_base_kib: line.map(|(_, base)| base),
            connected_spread: spread,
            cpu_per_heartbeat_us: (heartbeat_acks > 0).then(|| cpu_s * 1e6 / heartbeat_acks as f64),
        })
    }

    /// The figures in one line for people.
    pub fn line(&self) -> String {
        let per_conn = match self.rss_per_conn_kib {
            Some(kib) => format!("{kib:.1} KiB/connection"),
            None => format!(
                "KiB/connection n/a (connected varied by {}, needs {MIN_CONNECTED_SPREAD})",
                self.connected_spread
            ),
        };
        let per_heartbeat = self
            .cpu_per_heartbeat_us
            .map_or("n/a".to_string(), |us| format!("{us:.1}us"));
        format!(
            "{}: peak RSS {:.1} MiB, {per_conn}, CPU {:.2}s ({per_heartbeat} per heartbeat)",
            self.sampled,
            self.peak_rss_kib as f64 / 1024.0,
            self.cpu_s
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counters, Metrics};

    #[test]
    fn the_slope_of_a_line_through_noisy_points_is_found() {
        // rss = 20_000 + 12 * connected, with +-3 KiB of alternating noise.
        let points: Vec<(f64, f64)> = (0..=40)
            .map(|i| {
                let x = f64::from(i * 25);
                let noise = if i % 2 == 0 { 3.0 } else { -3.0 };
                (x, 20_000.0 + 12.0 * x + noise)
            })
            .collect();
        let (slope, base) = least_squares(&points, 50.0).expect("a slope");
        assert!((slope - 12.0).abs() < 0.01, "{slope}");
        assert!((base - 20_000.0).abs() < 5.0, "{base}");
    }

    #[test]
    fn too_little_spread_or_too_few_points_give_no_slope() {
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (100.0, f64::from(i))).collect();
        assert_eq!(least_squares(&flat, 0.0), None, "x does not vary at all");
        let narrow: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), f64::from(i))).collect();
        assert_eq!(least_squares(&narrow, 50.0), None, "x varies by 9 of 50");
        assert_eq!(least_squares(&[(0.0, 0.0), (100.0, 5.0)], 50.0), None);
    }

    fn point(connected: u64, rss_kib: Option<u64>) -> TimelinePoint {
        let mut p = TimelinePoint::new(0.0, &Counters::default(), &Metrics::default());
        p.connected = connected;
        p.target_rss_kib = rss_kib;
        p
    }

    #[test]
    fn the_section_takes_the_sampled_seconds_only() {
        let mut timeline: Vec<TimelinePoint> = (0..10)
            .map(|i| point(i * 100, Some(10_000 + i * 100 * 8)))
            .collect();
        // Seconds while the target was down carry no sample and do not bend the line.
        timeline.push(point(0, None));
        let cost = TargetCost::of("target.command", &timeline, 2.0, 4000).expect("sampled");
        assert_eq!(cost.samples, 10);
        assert_eq!(cost.peak_rss_kib, 10_000 + 900 * 8);
        assert_eq!(cost.connected_spread, 900);
        assert!(
            cost.rss_per_conn_kib
                .is_some_and(|k| (k - 8.0).abs() < 1e-9)
        );
        assert!(
            cost.cpu_per_heartbeat_us
                .is_some_and(|us| (us - 500.0).abs() < 1e-9)
        );
        assert!(
            cost.line().contains("8.0 KiB/connection"),
            "{}",
            cost.line()
        );

        let steady: Vec<_> = (0..10).map(|_| point(300, Some(50_000))).collect();
        let cost = TargetCost::of("--target-pid 7", &steady, 0.0, 0).expect("sampled");
        assert_eq!(
            (cost.rss_per_conn_kib, cost.cpu_per_heartbeat_us),
            (None, None)
        );
        assert!(cost.line().contains("varied by 0"), "{}", cost.line());
        assert_eq!(TargetCost::of("x", &[point(5, None)], 1.0, 1), None);
    }
}
