//! `report.html`: the run as one self-contained page — no JavaScript, no external reference,
//! charts as hand-built inline SVG (one `<svg>` per chart): clients connected with fault bands,
//! heartbeat RTT p50/p99 per second, disconnects by cause and reconnects per second, and the
//! heartbeat RTT and reconnect time distributions on a log axis; then thresholds, faults and
//! every figure in tables.

use std::fmt::Write;
use std::io;
use std::path::Path;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::summary::human_us;
use super::{
    FAULT_COLUMNS, FaultRecord, HISTOGRAM_COLUMNS, HistogramSummary, Report, STORM_COLUMN,
};

/// Chart size in SVG user units (the page scales them to its width).
const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 54.0;
const BOTTOM: f64 = 48.0;
/// Most bars a per-second chart draws; longer runs are summed into wider buckets.
const MAX_BARS: usize = 300;
/// Bins per decade in the distribution charts.
const BINS_PER_DECADE: f64 = 10.0;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;\
max-width:1240px;padding:0 16px;color:#1d1d1f;background:#fff}\
h1{font-size:26px;margin:0 0 6px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #ddd;\
padding-bottom:4px}.meta{color:#555;margin:0 0 12px}.verdict{display:inline-block;padding:6px 14px;\
border-radius:4px;font-weight:600;font-size:17px}.pass{background:#e3f5e1;color:#1b5e20}\
.fail{background:#fde2e1;color:#b71c1c}.none{background:#eee;color:#333}\
table{border-collapse:collapse;font-size:15px;margin:6px 0}th,td{border:1px solid #d0d0d0;\
padding:4px 10px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
svg{width:100%;height:auto;display:block;font-size:15px}.note{color:#555;font-size:14px}";

const CAUSES: [(&str, &str); 6] = [
    ("heartbeat timeout", "#9467bd"),
    ("close frame", "#8c564b"),
    ("I/O error", "#e377c2"),
    ("protocol error", "#7f7f7f"),
    ("server gone", "#ff7f0e"),
    ("dropped", "#bcbd22"),
];

pub fn render(report: &Report) -> String {
    let s = &report.scenario;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>wschaos report: {name}</title><style>{STYLE}</style></head><body>\n\
         <h1>wschaos report: {name}</h1>\n<p class=\"meta\">{clients} clients against {target} \
         for {duration:.0}s (ran {elapsed:.1}s) &middot; seed {seed} &middot; started {started} \
         &middot; {tool}</p>\n",
        name = esc(&s.name),
        clients = s.clients,
        target = esc(&s.target),
        duration = s.duration_s,
        elapsed = report.elapsed_s,
        seed = s.seed,
        started = esc(&report.started_at),
        tool = esc(&report.tool),
    );
    let (class, verdict) = if report.interrupted {
        ("fail", "INTERRUPTED: the run was cut short by Ctrl-C")
    } else if report.thresholds.is_empty() {
        ("none", "no thresholds")
    } else if report.thresholds_hold() {
        ("pass", "PASS: every threshold holds")
    } else {
        ("fail", "FAIL: a threshold failed")
    };
    let _ = writeln!(out, "<div class=\"verdict {class}\">{verdict}</div>");

    thresholds_table(&mut out, report);

    let end_s = report.elapsed_s.max(s.duration_s).max(1.0);
    let _ = writeln!(out, "<h2>Clients connected</h2>");
    out.push_str(&connected_chart(report, end_s));
    let _ = writeln!(out, "<h2>Heartbeat RTT per second</h2>");
    out.push_str(&rtt_chart(report, end_s));
    let _ = writeln!(out, "<h2>Disconnects and reconnects per second</h2>");
    out.push_str(&events_chart(report, end_s));
    let _ = writeln!(out, "<h2>Heartbeat RTT distribution</h2>");
    out.push_str(&distribution_chart(
        report.histograms.get("heartbeat_rtt"),
        "#1f77b4",
    ));
    let _ = writeln!(out, "<h2>Reconnect time distribution</h2>");
    out.push_str(&distribution_chart(
        report.histograms.get("reconnect_time"),
        "#ff7f0e",
    ));

    faults_table(&mut out, report);
    histograms_table(&mut out, report);
    counters_table(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

pub fn write_html(report: &Report, dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("report.html"), render(report))
}

/// Escapes text for HTML and SVG. An `h` starting `http` becomes `&#104;` too: the page shows
/// the same text, and never holds anything a check for external references would flag.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if c == 'h' && text[i..].starts_with("http") {
            out.push_str("&#104;");
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

fn thresholds_table(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Thresholds</h2>");
    if report.thresholds.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">No thresholds were set.</p>");
        return;
    }
    let _ = writeln!(
        out,
        "<table><tr><th>threshold</th><th>measured</th><th>result</th></tr>"
    );
    for t in &report.thresholds {
        let (class, result) = if t.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{class}\">{result}</td></tr>",
            esc(&t.expr),
            esc(&t.measured_display)
        );
    }
    let _ = writeln!(out, "</table>");
}

fn faults_table(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Faults</h2>");
    if report.faults.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">No faults were injected.</p>");
        return;
    }
    let _ = write!(out, "<table><tr>");
    for title in FAULT_COLUMNS.iter().chain([&STORM_COLUMN]) {
        let _ = write!(out, "<th>{title}</th>");
    }
    let _ = writeln!(out, "</tr>");
    for f in &report.faults {
        let _ = write!(out, "<tr>");
        for cell in f.cells() {
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table>");
}

fn histograms_table(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Histograms</h2>");
    let _ = write!(out, "<table><tr><th>histogram</th>");
    for title in HISTOGRAM_COLUMNS {
        let _ = write!(out, "<th>{title}</th>");
    }
    let _ = writeln!(out, "</tr>");
    for (name, h) in &report.histograms {
        if h.count == 0 {
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td>0</td><td colspan=\"7\">no samples</td></tr>"
            );
            continue;
        }
        let _ = write!(out, "<tr><td>{name}</td>");
        for cell in h.cells(name) {
            let _ = write!(out, "<td>{cell}</td>");
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table>");
}

fn counters_table(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Counters and ratios</h2>");
    let _ = writeln!(out, "<table><tr><th>figure</th><th>value</th></tr>");
    if let Ok(serde_json::Value::Object(counters)) = serde_json::to_value(&report.counters) {
        for (name, value) in counters {
            let _ = writeln!(out, "<tr><td>{}</td><td>{value}</td></tr>", esc(&name));
        }
    }
    for (name, ratio) in [
        ("reconnect success", report.ratios.reconnect_success),
        ("heartbeats delivered", report.ratios.heartbeat_delivered),
        ("messages delivered", report.ratios.message_delivered),
    ] {
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td>{:.3}%</td></tr>",
            ratio * 100.0
        );
    }
    for (code, n) in &report.close_codes {
        let _ = writeln!(
            out,
            "<tr><td>close code {}</td><td>{n}</td></tr>",
            esc(code)
        );
    }
    let _ = writeln!(out, "</table>");
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// A plot area with linear (or log10) axes, in SVG coordinates.
struct Frame {
    x_min: f64,
    x_max: f64,
    x_log: bool,
    /// Bottom of the y axis: 0, or a power of ten when `y_log`.
    y_min: f64,
    y_max: f64,
    y_log: bool,
}

impl Frame {
    /// Linear axes: seconds of the run across, 0..`y_max` up.
    fn over_time(end_s: f64, y_max: f64) -> Self {
        Self {
            x_min: 0.0,
            x_max: end_s,
            x_log: false,
            y_min: 0.0,
            y_max,
            y_log: false,
        }
    }

    fn x(&self, v: f64) -> f64 {
        let (lo, hi, v) = if self.x_log {
            (
                self.x_min.log10(),
                self.x_max.log10(),
                v.max(self.x_min).log10(),
            )
        } else {
            (self.x_min, self.x_max, v)
        };
        LEFT + (v - lo) / (hi - lo).max(f64::EPSILON) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let share = if self.y_log {
            let lo = self.y_min.log10();
            (v.max(self.y_min).log10() - lo) / (self.y_max.log10() - lo).max(f64::EPSILON)
        } else {
            (v - self.y_min) / (self.y_max - self.y_min).max(f64::EPSILON)
        };
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    }
}

/// "Nice" tick step (1, 2 or 5 times a power of ten) for about `ticks` ticks up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(f64::MIN_POSITIVE)
}

/// The y scale: a nice maximum above `max` and its step.
fn y_scale(max: f64, integer: bool) -> (f64, f64) {
    let max = if max <= 0.0 { 1.0 } else { max };
    let mut step = nice_step(max, 5.0);
    if integer {
        step = step.max(1.0).round();
    }
    ((max / step).ceil() * step, step)
}

/// Opens an SVG chart: background, grid, y ticks (labelled by `label`) and a linear x time axis.
fn open_chart(
    out: &mut String,
    frame: &Frame,
    y_step: f64,
    y_label: &str,
    label: impl Fn(f64) -> String,
) {
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\"><rect x=\"0\" y=\"0\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" fill=\"#fff\"/>"
    );
    let mut ticks = Vec::new();
    if frame.y_log {
        // Every power of ten; 2x and 5x as well when the axis spans few decades.
        let few = frame.y_max / frame.y_min <= 100.0;
        let mut decade = frame.y_min;
        while decade <= frame.y_max * 1.000_001 {
            for m in [1.0, 2.0, 5.0] {
                if (m == 1.0 || few) && decade * m <= frame.y_max * 1.000_001 {
                    ticks.push(decade * m);
                }
            }
            decade *= 10.0;
        }
    } else {
        let mut v = frame.y_min;
        while v <= frame.y_max + y_step * 1e-6 {
            ticks.push(v);
            v += y_step;
        }
    }
    for v in ticks {
        let y = frame.y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e6e6e6\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 5.0,
            esc(&label(v))
        );
    }
    let _ = write!(
        out,
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\" \
         fill=\"#444\">{}</text>",
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        esc(y_label)
    );
}

fn time_axis(out: &mut String, frame: &Frame) {
    let step = nice_step(frame.x_max - frame.x_min, 10.0).max(1.0);
    let mut t = 0.0;
    while t <= frame.x_max + 1e-9 {
        let x = frame.x(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 5.0,
            HEIGHT - BOTTOM + 22.0,
            time_label(t)
        );
        t += step;
    }
    axis_lines(out, "time since start");
}

fn time_label(t: f64) -> String {
    if t >= 120.0 && (t % 60.0).abs() < 1e-9 {
        format!("{}m", t / 60.0)
    } else {
        format!("{t}s")
    }
}

fn axis_lines(out: &mut String, x_label: &str) {
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b:.1}\" stroke=\"#444\"/>\
         <line x1=\"{LEFT}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"#444\"/>\
         <text x=\"{c:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
        HEIGHT - 6.0,
        esc(x_label),
        b = HEIGHT - BOTTOM,
        r = WIDTH - RIGHT,
        c = (LEFT + WIDTH - RIGHT) / 2.0,
    );
}

/// Shaded bands for the faults (a thin band for instant ones), labelled at the top.
fn fault_bands(out: &mut String, frame: &Frame, faults: &[FaultRecord]) {
    for f in faults {
        let color = match f.kind.as_str() {
            "server_kill" => "#d62728",
            "drop" => "#ff7f0e",
            _ => "#7f7f7f",
        };
        let x1 = frame.x(f.started_s);
        let x2 = frame.x(f.ended_s.unwrap_or(frame.x_max));
        let width = (x2 - x1).max(3.0);
        let _ = write!(
            out,
            "<rect x=\"{x1:.1}\" y=\"{TOP}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{color}\" \
             fill-opacity=\"0.18\" stroke=\"{color}\" stroke-opacity=\"0.6\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" font-weight=\"600\">{}</text>",
            HEIGHT - TOP - BOTTOM,
            x1 + 4.0,
            TOP - 8.0,
            esc(&f.kind)
        );
    }
}

/// Polylines through the points; `None` breaks the line.
fn line(out: &mut String, frame: &Frame, points: &[(f64, Option<f64>)], color: &str, dashed: bool) {
    let mut segment: Vec<String> = Vec::new();
    let dash = if dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let flush = |segment: &mut Vec<String>, out: &mut String| {
        if segment.len() == 1 {
            let xy: Vec<&str> = segment[0].split(',').collect();
            let _ = write!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{color}\"/>",
                xy[0],
                xy.get(1).unwrap_or(&"0")
            );
        } else if segment.len() > 1 {
            let _ = write!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                segment.join(" ")
            );
        }
        segment.clear();
    };
    for (x, y) in points {
        match y {
            Some(y) => segment.push(format!("{:.1},{:.1}", frame.x(*x), frame.y(*y))),
            None => flush(&mut segment, out),
        }
    }
    flush(&mut segment, out);
}

fn legend(out: &mut String, entries: &[(&str, &str)]) {
    let mut x = WIDTH - RIGHT;
    for (name, color) in entries.iter().rev() {
        x -= 14.0 + 8.5 * name.len() as f64 + 18.0;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"8\" width=\"14\" height=\"14\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"20\" fill=\"#333\">{}</text>",
            x + 19.0,
            esc(name)
        );
    }
}

fn no_data(out: &mut String, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#888\" font-size=\"18\">{}</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        esc(text)
    );
}

fn connected_chart(report: &Report, end_s: f64) -> String {
    let target = f64::from(report.scenario.clients);
    let max = report
        .timeline
        .iter()
        .map(|p| p.connected as f64)
        .fold(target, f64::max);
    let (y_max, step) = y_scale(max, true);
    let frame = Frame::over_time(end_s, y_max);
    let mut out = String::new();
    open_chart(&mut out, &frame, step, "connections open", |v| {
        format!("{v:.0}")
    });
    fault_bands(&mut out, &frame, &report.faults);
    line(
        &mut out,
        &frame,
        &[(0.0, Some(target)), (end_s, Some(target))],
        "#999",
        true,
    );
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
        &[("connected", "#1f77b4"), ("clients in scenario", "#999")],
    );
    out.push_str("</svg>\n");
    out
}

fn rtt_chart(report: &Report, end_s: f64) -> String {
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
    let series = |f: fn(&super::TimelinePoint) -> u64| -> Vec<(f64, Option<f64>)> {
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

fn events_chart(report: &Report, end_s: f64) -> String {
    let bucket = report.timeline.len().div_ceil(MAX_BARS).max(1);
    // Per bucket: its end time, disconnects per cause, reconnects.
    let buckets: Vec<(f64, [u64; 6], u64)> = report
        .timeline
        .chunks(bucket)
        .map(|chunk| {
            let mut causes = [0u64; 6];
            let mut reconnects = 0;
            for p in chunk {
                for (sum, n) in causes.iter_mut().zip([
                    p.disconnects_heartbeat_timeout,
                    p.disconnects_close_frame,
                    p.disconnects_io_error,
                    p.disconnects_protocol_error,
                    p.disconnects_server_gone,
                    p.disconnects_dropped,
                ]) {
                    *sum += n;
                }
                reconnects += p.reconnects;
            }
            let end = chunk.last().map_or(0.0, |p| p.t_s);
            (end, causes, reconnects)
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
        for (n, (_, color)) in causes.iter().zip(CAUSES) {
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
    let mut entries: Vec<(&str, &str)> = CAUSES
        .iter()
        .enumerate()
        .filter(|(i, _)| buckets.iter().any(|(_, causes, _)| causes[*i] > 0))
        .map(|(_, c)| *c)
        .collect();
    entries.push(("reconnects", "#17becf"));
    legend(&mut out, &entries);
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
fn distribution_chart(summary: Option<&HistogramSummary>, color: &str) -> String {
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

/// A microsecond tick label without a needless decimal: `0`, `500us`, `2ms`, `1.5s`.
fn tick_us(us: f64) -> String {
    if us <= 0.0 {
        return "0".into();
    }
    let (value, unit) = if us < 1e3 {
        (us, "us")
    } else if us < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.trim_end_matches(".0"))
}

/// The log x axis: a labelled tick at every power of ten, faint ticks at 2..9 times it.
fn decade_axis(out: &mut String, frame: &Frame) {
    let mut decade = frame.x_min;
    while decade <= frame.x_max * 1.000_001 {
        let x = frame.x(decade);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e6e6e6\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            HEIGHT - BOTTOM + 5.0,
            HEIGHT - BOTTOM + 22.0,
            tick_us(decade)
        );
        for m in 2..10 {
            let minor = decade * f64::from(m);
            if minor < frame.x_max {
                let x = frame.x(minor);
                let _ = write!(
                    out,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#999\"/>",
                    HEIGHT - BOTTOM,
                    HEIGHT - BOTTOM + 4.0
                );
            }
        }
        decade *= 10.0;
    }
    axis_lines(out, "value (log scale)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(esc("ws://httpbin/"), "ws://&#104;ttpbin/");
    }

    #[test]
    fn tick_labels_and_steps() {
        assert_eq!(tick_us(0.0), "0");
        assert_eq!(tick_us(500.0), "500us");
        assert_eq!(tick_us(2000.0), "2ms");
        assert_eq!(tick_us(1_500_000.0), "1.5s");
        assert_eq!(nice_step(45.0, 10.0), 5.0);
        assert_eq!(nice_step(1800.0, 10.0), 200.0);
        assert_eq!(y_scale(2000.0, true), (2000.0, 500.0));
        assert_eq!(y_scale(0.0, true), (1.0, 1.0));
    }

    #[test]
    fn faults_become_bands_even_when_instant_or_unfinished() {
        let frame = Frame::over_time(10.0, 1.0);
        let fault = |kind: &str, started_s, ended_s| FaultRecord {
            ended_s,
            ..FaultRecord::started(0, kind, started_s, 1)
        };
        let mut out = String::new();
        fault_bands(
            &mut out,
            &frame,
            &[
                fault("drop", 2.0, Some(2.0)),
                fault("server_kill", 5.0, None),
            ],
        );
        assert_eq!(out.matches("<rect").count(), 2);
        assert!(
            out.contains("width=\"3.0\""),
            "an instant fault is a thin band: {out}"
        );
        let to_end = format!("width=\"{:.1}\"", frame.x(10.0) - frame.x(5.0));
        assert!(
            out.contains(&to_end),
            "an unfinished one runs to the end: {out}"
        );
    }
}
