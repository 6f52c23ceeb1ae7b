//! `report.html`: the run as one self-contained page — no JavaScript, no external reference,
//! charts as hand-built inline SVG (one `<svg>` per chart): clients connected with fault bands,
//! heartbeat RTT p50/p99 per second, disconnects by cause and reconnects per second, the tool's
//! own CPU per second, and the heartbeat RTT and reconnect time distributions on a log axis; then thresholds, faults and
//! every figure in tables. Every text from the report (scenario name, target, threshold
//! expressions, fault kinds) goes through [`esc`], so it shows as text and never as markup.

mod capacity;
mod charts;
mod svg;
mod tables;

use std::fmt::Write;
use std::io;
use std::path::Path;

use super::Report;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;\
max-width:1240px;padding:0 16px;color:#1d1d1f;background:#fff}\
h1{font-size:26px;margin:0 0 6px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #ddd;\
padding-bottom:4px}.meta{color:#555;margin:0 0 12px}.verdict{display:inline-block;padding:6px 14px;\
border-radius:4px;font-weight:600;font-size:17px}.pass{background:#e3f5e1;color:#1b5e20}\
.fail{background:#fde2e1;color:#b71c1c}.none{background:#eee;color:#333}\
table{border-collapse:collapse;font-size:15px;margin:6px 0}th,td{border:1px solid #d0d0d0;\
padding:4px 10px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
svg{width:100%;height:auto;display:block;font-size:15px}.note{color:#555;font-size:14px}";

pub fn render(report: &Report) -> String {
    let s = &report.scenario;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>wschaos report: {name}</title><style>{STYLE}</style></head><body>\n\
         <h1>wschaos report: {name}</h1>\n<p class=\"meta\">{what} &middot; seed {seed} \
         &middot; started {started} &middot; {tool}</p>\n",
        name = esc(&s.name),
        what = esc(&super::markdown::what_ran(report)),
        seed = s.seed,
        started = esc(&report.started_at),
        tool = esc(&report.tool),
    );
    let capacity_verdict = report.capacity.as_ref().map(capacity::verdict);
    let (class, verdict) = if let Some((class, verdict)) = &capacity_verdict {
        (*class, verdict.as_str())
    } else if report.interrupted {
        ("fail", "INTERRUPTED: the run was cut short by Ctrl-C")
    } else if report.thresholds.is_empty() {
        ("none", "no thresholds")
    } else if report.thresholds_hold() {
        ("pass", "PASS: every threshold holds")
    } else {
        ("fail", "FAIL: a threshold failed")
    };
    let _ = writeln!(out, "<div class=\"verdict {class}\">{verdict}</div>");
    if let Some(line) = report.load_generator.as_ref().and_then(|t| t.headline()) {
        let _ = writeln!(
            out,
            "<p class=\"verdict fail saturated\">{}</p>",
            esc(&line)
        );
    }

    if let Some(search) = &report.capacity {
        capacity::section(&mut out, search);
    }
    tables::thresholds(&mut out, report);

    let end_s = chart_end_s(report);
    let _ = writeln!(out, "<h2>Clients connected</h2>");
    out.push_str(&charts::connected(report, end_s));
    let _ = writeln!(out, "<h2>Heartbeat RTT per second</h2>");
    out.push_str(&charts::rtt(report, end_s));
    let _ = writeln!(out, "<h2>Disconnects and reconnects per second</h2>");
    out.push_str(&charts::events(report, end_s));
    if let Some(tool) = &report.load_generator {
        let _ = writeln!(
            out,
            "<h2>Load generator CPU per second</h2>\n<p class=\"note\">{}</p>",
            esc(&crate::report::summary::tool_line(tool))
        );
        out.push_str(&charts::cpu(report, end_s));
    }
    if let Some(target) = &report.target {
        let _ = writeln!(
            out,
            "<h2>Target memory per second</h2>\n<p class=\"note\">{}</p>",
            esc(&target.line())
        );
        out.push_str(&charts::target_rss(report, end_s));
    }
    let _ = writeln!(out, "<h2>Heartbeat RTT distribution</h2>");
    out.push_str(&charts::distribution(
        report.histograms.get("heartbeat_rtt"),
        "#1f77b4",
    ));
    let _ = writeln!(out, "<h2>Reconnect time distribution</h2>");
    out.push_str(&charts::distribution(
        report.histograms.get("reconnect_time"),
        "#ff7f0e",
    ));

    tables::faults(&mut out, report);
    tables::push(&mut out, report);
    tables::histograms(&mut out, report);
    tables::counters(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// Where the time charts end: the planned duration for a run that went the whole way, the
/// seconds that ran for one cut short (Ctrl-C) or a capacity search (it stops at the step that
/// breaks, long before its last planned step).
fn chart_end_s(report: &Report) -> f64 {
    let end_s = if report.interrupted || report.capacity.is_some() {
        report.elapsed_s
    } else {
        report.elapsed_s.max(report.scenario.duration_s)
    };
    end_s.max(1.0)
}

pub fn write_html(report: &Report, dir: &Path) -> io::Result<()> {
    super::atomic::write_atomically(&dir.join("report.html"), render(report).as_bytes())
}

/// Escapes text for HTML and SVG, in element content and in quoted attribute values alike.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

#[cfg(test)]
mod tests;
