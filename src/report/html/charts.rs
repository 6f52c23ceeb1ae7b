//! The charts of `report.html`, each one `<svg>`: clients connected, heartbeat RTT per second,
//! disconnects by cause and reconnects per second, the tool's own CPU per second (with the
//! target's, when it was sampled), the target's memory per second, and a distribution on a log
//! axis.

use std::fmt::Write;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::svg::{
    BOTTOM, Frame, HEIGHT, RIGHT, TOP, WIDTH, decade_axis, fault_bands, legend, line, no_data,
    open_chart, tick_us, time_axis, y_scale,
};
use crate::report::summary::human_us;
use crate::report::{
    CAUSE_COUNT, CPU_SATURATED_SHARE, DISCONNECT_CAUSES, DisconnectsByCause, HistogramSummary,
    Report, StageInfo, TimelinePoint,
};

/// Most bars a per-second chart draws; longer runs are summed into wider buckets.
const MAX_BARS: usize = 300;
/// Bins per decade in the distribution charts.
const BINS_PER_DECADE: f64 = 10.0;

/// The bar colour of each disconnect cause, in `DISCONNECT_CAUSES` order.
const CAUSE_COLORS: [&str; CAUSE_COUNT] = [
    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#ff7f0e", "#bcbd22", "#d62728",
    "#393b79", "#637939",
];

pub(super) fn connected(report: &Report, end_s: f64) -> String {
    // The planned count, stage by stage (older reports without stages: the client count), over
    // the seconds that ran: the axis is scaled to what was planned by then.
    let planned = if report.scenario.stages.is_empty() {
        let target = f64::from(report.scenario.clients);
        vec![(0.0, Some(target)), (end_s, Some(target))]
    } else {
        planned_line(&report.scenario.stages, end_s)
    };
    let max = report
        .timeline
        .iter()
        .map(|p| p.connected as f64)
        .chain(planned.iter().filter_map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let (y_max, step) = y_scale(max, true);
    let frame = Frame::over_time(end_s, y_max);
    let mut out = String::new();
    open_chart(&mut out, &frame, step, "connections open", |v| {
        format!("{v:.0}")
    });
    fault_bands(&mut out, &frame, &report.faults);
    line(&mut out, &frame, &planned, "#999", true);
    let points: Vec<(f64, Option<f64>)> = std::iter::once((0.0, Some(0.0)))
        .chain(
            report
                .timeline
                .iter()
                .map(|p| (p.t_s, Some(p.connected as f64))),
        )
        .collect();
    line(&mut out, &frame, &points, "#1f77b4", false);
    time_axis(&mut out, &frame);
    legend(
        &mut out,
        &[("connected", "#1f77b4"), ("clients planned", "#999")],
    );
    out.push_str("</svg>\n");
    out
}

/// The planned client count as a line through each stage's end (a ramp is straight between
/// them), kept flat from the last stage to `end_s`, cut at `end_s`.
fn planned_line(stages: &[StageInfo], end_s: f64) -> Vec<(f64, Option<f64>)> {
    let (mut t_s, mut planned) = (0.0, 0.0);
    let mut points = vec![(t_s, Some(planned))];
    for stage in stages {
        let (start_s, from) = (t_s, planned);
        match *stage {
            StageInfo::Ramp { to, over_s } => {
                t_s += over_s;
                planned = f64::from(to);
            }
            StageInfo::Hold { hold_s } => t_s += hold_s,
        }
        if t_s >= end_s {
            // A run cut short (Ctrl-C) ends inside this stage.
            let share = if t_s > start_s {
                (end_s - start_s) / (t_s - start_s)
            } else {
                1.0
            };
            points.push((end_s, Some(from + (planned - from) * share)));
            return points;
        }
        points.push((t_s, Some(planned)));
    }
    points.push((end_s, Some(planned)));
    points
}

pub(super) fn rtt(report: &Report, end_s: f64) -> String {
    // Log scale: p50 and p99 are often decades apart.
    let acked = report.timeline.iter().filter(|p| p.heartbeat_acks > 0);
    let max = acked
        .clone()
        .map(|p| p.heartbeat_rtt_p99_us)
        .max()
        .unwrap_or(1000);
    let min = acked.map(|p| p.heartbeat_rtt_p50_us).min().unwrap_or(100);
    let y_min = 10f64.powf((min.max(1) as f64).log10().floor());
    let y_max = 10f64
        .powf((max.max(1) as f64).log10().ceil())
        .max(y_min * 10.0);
    let frame = Frame {
        x_min: 0.0,
        x_max: end_s,
        x_log: false,
        y_min,
        y_max,
        y_log: true,
    };
    let mut out = String::new();
    open_chart(&mut out, &frame, 1.0, "heartbeat RTT (log scale)", tick_us);
    fault_bands(&mut out, &frame, &report.faults);
    // A second without acks has no RTT: the line breaks there.
    let series = |f: fn(&TimelinePoint) -> u64| -> Vec<(f64, Option<f64>)> {
        report
            .timeline
            .iter()
            .map(|p| (p.t_s, (p.heartbeat_acks > 0).then(|| f(p) as f64)))
            .collect()
    };
    line(
        &mut out,
        &frame,
        &series(|p| p.heartbeat_rtt_p99_us),
        "#d62728",
        false,
    );
    line(
        &mut out,
        &frame,
        &series(|p| p.heartbeat_rtt_p50_us),
        "#2ca02c",
        false,
    );
    if report.timeline.iter().all(|p| p.heartbeat_acks == 0) {
        no_data(&mut out, "no heartbeat was acknowledged");
    }
    time_axis(&mut out, &frame);
    legend(&mut out, &[("p50", "#2ca02c"), ("p99", "#d62728")]);
    out.push_str("</svg>\n");
    out
}

pub(super) fn events(report: &Report, end_s: f64) -> String {
    let bucket = report.timeline.len().div_ceil(MAX_BARS).max(1);
    // Per bucket: its end time, disconnects per cause, reconnects.
    let buckets: Vec<(f64, [u64; CAUSE_COUNT], u64)> = report
        .timeline
        .chunks(bucket)
        .map(|chunk| {
            let mut causes = DisconnectsByCause::default();
            let mut reconnects = 0;
            for p in chunk {
                causes.add(&p.disconnects_by_cause);
                reconnects += p.reconnects;
            }
            let end = chunk.last().map_or(0.0, |p| p.t_s);
            (end, causes.0, reconnects)
        })
        .collect();
    let max = buckets
        .iter()
        .map(|(_, causes, reconnects)| causes.iter().sum::<u64>().max(*reconnects))
        .max()
        .unwrap_or(0);
    let (y_max, step) = y_scale(max as f64, true);
    let frame = Frame::over_time(end_s, y_max);
    let per = if bucket == 1 {
        "per second".to_string()
    } else {
        format!("per {bucket}s")
    };
    let mut out = String::new();
    open_chart(&mut out, &frame, step, &format!("events {per}"), |v| {
        format!("{v:.0}")
    });
    fault_bands(&mut out, &frame, &report.faults);
    let mut previous_end = 0.0;
    for (end, causes, _) in &buckets {
        let x1 = frame.x(previous_end);
        let width = (frame.x(*end) - x1 - 1.0).max(1.0);
        previous_end = *end;
        let mut stacked = 0.0;
        for (n, color) in causes.iter().zip(CAUSE_COLORS) {
            if *n == 0 {
                continue;
            }
            let top = stacked + *n as f64;
            let y = frame.y(top);
            let _ = write!(
                out,
                "<rect x=\"{x1:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                frame.y(stacked) - y
            );
            stacked = top;
        }
    }
    let reconnects: Vec<(f64, Option<f64>)> = buckets
        .iter()
        .map(|(end, _, r)| (*end, Some(*r as f64)))
        .collect();
    line(&mut out, &frame, &reconnects, "#17becf", false);
    if max == 0 {
        no_data(&mut out, "no connection was lost");
    }
    time_axis(&mut out, &frame);
    let mut entries: Vec<(&str, &str)> = DISCONNECT_CAUSES
        .iter()
        .zip(CAUSE_COLORS)
        .enumerate()
        .filter(|(i, _)| buckets.iter().any(|(_, causes, _)| causes[*i] > 0))
        .map(|(_, (cause, color))| (cause.short, color))
        .collect();
    entries.push(("reconnects", "#17becf"));
    legend(&mut out, &entries);
    out.push_str("</svg>\n");
    out
}

/// The tool's CPU use per second as a share of its cores, with the saturation line.
pub(super) fn cpu(report: &Report, end_s: f64) -> String {
    let points: Vec<(f64, Option<f64>)> = report
        .timeline
        .iter()
        .map(|p| (p.t_s, p.tool_cpu_share.map(|s| s * 100.0)))
        .collect();
    let target_cpu: Vec<(f64, Option<f64>)> = report
        .timeline
        .iter()
        .map(|p| (p.t_s, p.target_cpu_share.map(|s| s * 100.0)))
        .collect();
    let max = points
        .iter()
        .chain(&target_cpu)
        .filter_map(|(_, v)| *v)
        .fold(100.0, f64::max);
    let (y_max, step) = y_scale(max, false);
    let frame = Frame::over_time(end_s, y_max);
    let mut out = String::new();
    open_chart(&mut out, &frame, step, "% of the cores", |v| {
        format!("{v:.0}%")
    });
    fault_bands(&mut out, &frame, &report.faults);
    let bound = CPU_SATURATED_SHARE * 100.0;
    line(
        &mut out,
        &frame,
        &[(0.0, Some(bound)), (end_s, Some(bound))],
        "#d62728",
        true,
    );
    line(&mut out, &frame, &points, "#9467bd", false);
    let mut entries = vec![("tool CPU", "#9467bd"), ("saturated from here", "#d62728")];
    if report.target.is_some() {
        line(&mut out, &frame, &target_cpu, "#2ca02c", false);
        entries.push(("target CPU", "#2ca02c"));
    }
    if points.iter().all(|(_, v)| v.is_none()) {
        no_data(&mut out, "no CPU figures");
    }
    time_axis(&mut out, &frame);
    legend(&mut out, &entries);
    out.push_str("</svg>\n");
    out
}

/// The target's resident memory per second (gaps while it was down): against the connections
/// chart above, how its memory follows them.
pub(super) fn target_rss(report: &Report, end_s: f64) -> String {
    let points: Vec<(f64, Option<f64>)> = report
        .timeline
        .iter()
        .map(|p| (p.t_s, p.target_rss_kib.map(|kib| kib as f64 / 1024.0)))
        .collect();
    let max = points.iter().filter_map(|(_, v)| *v).fold(1.0, f64::max);
    let (y_max, step) = y_scale(max, false);
    let frame = Frame::over_time(end_s, y_max);
    let mut out = String::new();
    open_chart(&mut out, &frame, step, "MiB resident", |v| {
        format!("{v:.0}")
    });
    fault_bands(&mut out, &frame, &report.faults);
    line(&mut out, &frame, &points, "#2ca02c", false);
    if points.iter().all(|(_, v)| v.is_none()) {
        no_data(&mut out, "no target memory samples");
    }
    time_axis(&mut out, &frame);
    legend(&mut out, &[("target RSS", "#2ca02c")]);
    out.push_str("</svg>\n");
    out
}

fn decode(summary: &HistogramSummary) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&summary.hdr)
        .ok()?;
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// A histogram of microsecond values over log-spaced bins, with p50 and p99 marked.
pub(super) fn distribution(summary: Option<&HistogramSummary>, color: &str) -> String {
    let mut out = String::new();
    let histogram = summary.filter(|s| s.count > 0).and_then(decode);
    let Some((h, summary)) = histogram.zip(summary) else {
        let frame = Frame {
            x_min: 1.0,
            x_max: 1e6,
            x_log: true,
            y_min: 0.0,
            y_max: 1.0,
            y_log: false,
        };
        open_chart(&mut out, &frame, 1.0, "share of samples", |_| String::new());
        decade_axis(&mut out, &frame);
        no_data(&mut out, "no samples");
        out.push_str("</svg>\n");
        return out;
    };
    let lo_decade = (h.min().max(1) as f64).log10().floor();
    let hi_decade = ((h.max().max(1) as f64).log10() + 1e-9)
        .ceil()
        .max(lo_decade + 1.0);
    let bins = ((hi_decade - lo_decade) * BINS_PER_DECADE) as usize;
    let mut counts = vec![0u64; bins.max(1)];
    for v in h.iter_recorded() {
        let value = (v.value_iterated_to().max(1) as f64).log10();
        let bin = ((value - lo_decade) * BINS_PER_DECADE).floor().max(0.0) as usize;
        let last = counts.len() - 1;
        counts[bin.min(last)] += v.count_since_last_iteration();
    }
    let total = h.len().max(1) as f64;
    let max_share = counts.iter().map(|c| *c as f64 / total).fold(0.0, f64::max);
    let (y_max, step) = y_scale(max_share * 100.0, false);
    let frame = Frame {
        x_min: 10f64.powf(lo_decade),
        x_max: 10f64.powf(hi_decade),
        x_log: true,
        y_min: 0.0,
        y_max,
        y_log: false,
    };
    open_chart(&mut out, &frame, step, "% of samples", |v| format!("{v}%"));
    for (i, count) in counts.iter().enumerate() {
        if *count == 0 {
            continue;
        }
        let from = 10f64.powf(lo_decade + i as f64 / BINS_PER_DECADE);
        let to = 10f64.powf(lo_decade + (i + 1) as f64 / BINS_PER_DECADE);
        let x1 = frame.x(from);
        let share = *count as f64 / total * 100.0;
        let y = frame.y(share);
        let _ = write!(
            out,
            "<rect x=\"{x1:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" \
             fill-opacity=\"0.8\"/>",
            (frame.x(to) - x1 - 1.0).max(1.0),
            frame.y(0.0) - y
        );
    }
    for (name, value) in [("p50", summary.p50), ("p99", summary.p99)] {
        let x = frame.x(value.max(1) as f64);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#222\" \
             stroke-dasharray=\"5 4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\">{name} {}</text>",
            HEIGHT - BOTTOM,
            x + 4.0,
            TOP + if name == "p50" { 12.0 } else { 30.0 },
            human_us(value)
        );
    }
    decade_axis(&mut out, &frame);
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"22\" text-anchor=\"end\" fill=\"#333\">{} samples</text>",
        WIDTH - RIGHT,
        summary.count
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::planned_line;
    use crate::report::StageInfo;

    #[test]
    fn the_planned_line_goes_through_each_stage_end_and_is_cut_at_the_run_end() {
        let stages = [
            StageInfo::Ramp {
                to: 20,
                over_s: 1.0,
            },
            StageInfo::Hold { hold_s: 1.0 },
            StageInfo::Ramp { to: 4, over_s: 2.0 },
        ];
        let at = |points: Vec<(f64, Option<f64>)>| -> Vec<(f64, f64)> {
            points
                .into_iter()
                .map(|(t, v)| (t, v.unwrap_or(-1.0)))
                .collect()
        };
        assert_eq!(
            at(planned_line(&stages, 6.0)),
            [(0.0, 0.0), (1.0, 20.0), (2.0, 20.0), (4.0, 4.0), (6.0, 4.0)]
        );
        // Cut short half-way down: half of the way from 20 to 4.
        assert_eq!(
            at(planned_line(&stages, 3.0)),
            [(0.0, 0.0), (1.0, 20.0), (2.0, 20.0), (3.0, 12.0)]
        );
    }
}
