//! The tables of `report.html`: thresholds, faults, pushed messages, histograms, and counters with ratios and
//! close codes.

use std::fmt::Write;

use super::esc;
use crate::metrics::Counters;
use crate::report::{FAULT_COLUMNS, HISTOGRAM_COLUMNS, Report, STORM_COLUMN};

pub(super) fn thresholds(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Thresholds</h2>");
    if let Some(search) = &report.capacity {
        // A search judges its thresholds per step, never over the whole run.
        let exprs: Vec<String> = search
            .thresholds
            .iter()
            .map(|expr| format!("<code>{}</code>", esc(expr)))
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"note\">Judged per step, each over its own ramp and hold, not over the \
             whole run (see the step table under Capacity above): {}.</p>",
            exprs.join(", ")
        );
        return;
    }
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

pub(super) fn faults(out: &mut String, report: &Report) {
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

/// Pushed messages (nothing when the server pushed none).
pub(super) fn push(out: &mut String, report: &Report) {
    let Some(rows) = crate::report::push::rows(report) else {
        return;
    };
    let _ = writeln!(out, "<h2>Pushed messages</h2>");
    let _ = writeln!(out, "<table><tr><th>figure</th><th>value</th></tr>");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><td>{name}</td><td>{}</td></tr>", esc(&value));
    }
    let _ = writeln!(out, "</table>");
}

pub(super) fn histograms(out: &mut String, report: &Report) {
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

pub(super) fn counters(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<h2>Counters and ratios</h2>");
    let _ = writeln!(out, "<table><tr><th>figure</th><th>value</th></tr>");
    // In name order, as report.json lists them.
    let mut names = Counters::NAMES.to_vec();
    names.sort_unstable();
    for name in names {
        let value = report.counters.get(name).unwrap_or(0);
        let _ = writeln!(out, "<tr><td>{name}</td><td>{value}</td></tr>");
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
