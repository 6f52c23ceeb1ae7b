//! The capacity search in `report.html`: its verdict, a chart of heartbeat RTT p99 against the
//! clients of each step on a log axis (with the RTT thresholds and the capacity marked), and
//! the step table.

use std::fmt::Write;

use super::esc;
use super::svg::{
    BOTTOM, Frame, HEIGHT, LEFT, RIGHT, TOP, WIDTH, legend, line, no_data, tick_us, y_scale,
};
use crate::capacity::report::{CapacityReport, cells, columns, has_target, markdown_verdict};
use crate::capacity::verdict::Verdict;
use crate::report::threshold::{Metric, Threshold};

/// The verdict box: its class and its text, escaped.
pub(super) fn verdict(report: &CapacityReport) -> (&'static str, String) {
    let class = match report.conclusion.verdict {
        Verdict::Capacity => "pass",
        Verdict::FirstStepFailed | Verdict::ToolLimit | Verdict::Interrupted => "fail",
    };
    (class, esc(&markdown_verdict(report).replace("**", "")))
}

/// The `Capacity` section: the chart, the step table, what stopped the search.
pub(super) fn section(out: &mut String, report: &CapacityReport) {
    let _ = writeln!(out, "<h2>Capacity: heartbeat RTT p99 per step</h2>");
    out.push_str(&chart(report));
    let target = has_target(&report.steps);
    let _ = write!(out, "<table><tr>");
    for title in columns(target) {
        let _ = write!(out, "<th>{}</th>", esc(title));
    }
    let _ = writeln!(out, "</tr>");
    for step in &report.steps {
        let _ = write!(out, "<tr>");
        for cell in cells(step, target) {
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table>");
    for text in crate::capacity::report::text_conclusion(report).lines() {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(text));
    }
}

/// RTT limits of the thresholds on `heartbeat_rtt.p99`, in microseconds, with their text.
fn rtt_limits(report: &CapacityReport) -> Vec<(f64, String)> {
    report
        .thresholds
        .iter()
        .filter_map(|expr| Threshold::parse(expr).ok())
        .filter(|t| {
            t.metric
                == Metric::Histogram {
                    histogram: "heartbeat_rtt",
                    stat: "p99",
                }
        })
        .map(|t| (t.limit, t.expr))
        .collect()
}

fn chart(report: &CapacityReport) -> String {
    let mut out = String::new();
    // Up to the steps that ran (and a step the kernel refused), not the whole plan.
    let x_max = report
        .steps
        .iter()
        .map(|s| s.clients_planned)
        .chain(report.conclusion.tool_limit.as_ref().map(|t| t.clients))
        .max()
        .or_else(|| report.plan.counts.first().copied())
        .unwrap_or(1)
        .max(1);
    let limits = rtt_limits(report);
    let (y_min, y_max) = log_span(
        report
            .steps
            .iter()
            .flat_map(|s| [s.heartbeat_rtt_p50_us, s.heartbeat_rtt_p99_us])
            .map(|us| us as f64)
            .chain(limits.iter().map(|(limit, _)| *limit)),
    );
    let frame = Frame {
        x_min: 0.0,
        x_max: f64::from(x_max),
        x_log: false,
        y_min,
        y_max,
        y_log: true,
    };
    super::svg::open_chart(
        &mut out,
        &frame,
        1.0,
        "heartbeat RTT p99 (log scale)",
        tick_us,
    );
    clients_axis(&mut out, &frame);
    for (limit, expr) in &limits {
        let y = frame.y(*limit);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#d62728\" \
             stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d62728\">{}</text>",
            WIDTH - RIGHT,
            LEFT + 6.0,
            y - 6.0,
            esc(expr)
        );
    }
    let c = &report.conclusion;
    // The capacity labelled to the left of its line, the failure and the tool limit to the
    // right of theirs, so that two close steps do not write over each other.
    let marks = [
        c.capacity
            .map(|n| (n, "#2ca02c", format!("capacity {n}"), -4.0, 16.0)),
        c.first_failure.as_ref().map(|f| {
            let label = format!("first failure {}", f.clients);
            (f.clients, "#d62728", label, 4.0, 16.0)
        }),
        c.tool_limit.as_ref().map(|t| {
            let label = format!("tool limit {}", t.clients);
            (t.clients, "#7f7f7f", label, 4.0, 34.0)
        }),
    ];
    for (clients, color, label, dx, dy) in marks.into_iter().flatten() {
        let x = frame.x(f64::from(clients));
        // A label that would run past the plot's right edge goes to the left of its line,
        // a line lower so that it does not write over the capacity's.
        let (dx, dy) = if dx > 0.0 && x + dx + text_width(&label) > WIDTH - RIGHT {
            (-dx, dy + 36.0)
        } else {
            (dx, dy)
        };
        let anchor = if dx < 0.0 { "end" } else { "start" };
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{color}\" \
             stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" \
             font-weight=\"600\" text-anchor=\"{anchor}\">{}</text>",
            HEIGHT - BOTTOM,
            x + dx,
            TOP + dy,
            esc(&label)
        );
    }
    if report.steps.is_empty() {
        no_data(&mut out, "no step ran");
    }
    let p99: Vec<(f64, Option<f64>)> = report
        .steps
        .iter()
        .map(|s| {
            (
                f64::from(s.clients_planned),
                Some(s.heartbeat_rtt_p99_us as f64),
            )
        })
        .collect();
    let p50: Vec<(f64, Option<f64>)> = report
        .steps
        .iter()
        .map(|s| {
            (
                f64::from(s.clients_planned),
                Some(s.heartbeat_rtt_p50_us as f64),
            )
        })
        .collect();
    line(&mut out, &frame, &p50, "#aec7e8", false);
    line(&mut out, &frame, &p99, "#1f77b4", false);
    for (x, y) in p99.iter().filter_map(|(x, y)| Some((*x, (*y)?))) {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1f77b4\"/>",
            frame.x(x),
            frame.y(y)
        );
    }
    legend(&mut out, &[("RTT p99", "#1f77b4"), ("RTT p50", "#aec7e8")]);
    out.push_str("</svg>\n");
    out
}

/// The log y axis's span, from the power of ten at or below the smallest value to the one at
/// or above the largest (at least a decade): the RTTs measured and the thresholds' limits,
/// often decades apart, all readable.
fn log_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if max <= 0.0 {
        return (100.0, 1000.0);
    }
    let y_min = 10f64.powf(min.max(1.0).log10().floor());
    // A hair under the power of ten, so that 100ms exactly is the top and not a decade below it.
    let y_max = 10f64.powf((max.log10() - 1e-9).ceil()).max(y_min * 10.0);
    (y_min, y_max)
}

/// About how wide a label is drawn, in SVG units (the legend's measure for the page's 15px
/// font).
fn text_width(label: &str) -> f64 {
    8.5 * label.len() as f64
}

/// The x axis: clients, with a tick at each nice step.
fn clients_axis(out: &mut String, frame: &Frame) {
    let (_, step) = y_scale(frame.x_max, true);
    super::svg::x_axis(out, frame, step, "clients (step)", |v| format!("{v:.0}"));
}
