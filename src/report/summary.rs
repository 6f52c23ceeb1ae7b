//! The terminal summary printed at the end of a run.

use std::fmt::Write;

use super::{DisconnectsByCause, FAULT_COLUMNS, Report, STORM_COLUMN};

/// The histogram table's name column: every histogram name fits it (a test checks), so the
/// columns stay aligned.
const HISTOGRAM_NAME_WIDTH: usize = 20;

/// Formats microseconds for people: `850us`, `12.3ms`, `4.20s`.
pub fn human_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// What a reader must know about how much of the run the figures cover: a merge without some
/// shards, a process that joined a run already going (`--start-at`).
pub(super) fn run_notes(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if report.partial {
        notes.push(format!(
            "PARTIAL: merged without shard {}: the figures cover only the shards present",
            super::merge::list_shards(&report.missing_shards)
        ));
    }
    if let Some(late_s) = report.joined_late_s {
        notes.push(format!(
            "joined late: started {late_s:.1}s after the common start (--start-at); its clients \
             and faults due by then began at once"
        ));
    }
    notes
}

pub fn render(report: &Report) -> String {
    let c = &report.counters;
    let mut out = String::new();
    let s = &report.scenario;
    let _ = writeln!(
        out,
        "\n{} — {} clients against {} for {:.0}s (seed {}){}",
        s.name,
        s.clients,
        s.target,
        s.duration_s,
        s.seed,
        if report.interrupted {
            " — INTERRUPTED"
        } else {
            ""
        }
    );
    if s.tls_insecure {
        let _ = writeln!(out, "{}", crate::run::INSECURE_WARNING);
    }
    for note in run_notes(report) {
        let _ = writeln!(out, "{note}");
    }
    if let Some(line) = report.load_generator.as_ref().and_then(|t| t.headline()) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "clients   connected {}/{}  gave up {}  reconnects {}  connect failures {} ({} timeouts{}{}{})",
        c.clients_connected,
        s.clients,
        c.gave_up,
        c.reconnects,
        c.connect_failures,
        c.connect_timeouts,
        if c.connect_failures_tls > 0 {
            format!(", {} TLS", c.connect_failures_tls)
        } else {
            String::new()
        },
        if c.connect_failures_rejected > 0 {
            format!(
                ", {} rejected: HTTP status, not 101",
                c.connect_failures_rejected
            )
        } else {
            String::new()
        },
        if c.connect_failures_local > 0 {
            format!(
                ", {} local: no descriptor or port",
                c.connect_failures_local
            )
        } else {
            String::new()
        }
    );
    if let Some(line) = compression_line(report) {
        let _ = writeln!(out, "compress  {line}");
    }
    if let Some(tool) = &report.load_generator {
        let _ = writeln!(out, "tool      {}", tool_line(tool));
    }
    if let Some(target) = &report.target {
        let _ = writeln!(out, "target    {}", target.line());
    }
    let causes: Vec<String> = DisconnectsByCause::of(c)
        .iter()
        .map(|(cause, n)| format!("{} {n}", cause.short))
        .collect();
    let _ = writeln!(out, "lost      {}", causes.join("  "));
    let _ = writeln!(
        out,
        "heartbeat sent {}  acked {} ({:.3}%)  missed {}",
        c.heartbeats_sent,
        c.heartbeat_acks,
        report.ratios.heartbeat_delivered * 100.0,
        c.heartbeat_misses
    );
    if c.socketio_pings + c.socketio_connect_errors + c.socketio_server_disconnects > 0 {
        let _ = writeln!(
            out,
            "socketio  pings answered {}  connect errors {}  server disconnects {}",
            c.socketio_pings, c.socketio_connect_errors, c.socketio_server_disconnects
        );
    }
    if c.messages_sent > 0 || c.messages_dropped_backpressure > 0 {
        let _ = writeln!(
            out,
            "messages  sent {}  echoed {}  lost {}  dropped (send queue full) {}",
            c.messages_sent, c.messages_received, c.messages_lost, c.messages_dropped_backpressure
        );
    }
    if let Some(line) = super::push::line(report) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\n{:<NAME$} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "histogram",
        "count",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        NAME = HISTOGRAM_NAME_WIDTH
    );
    for (name, h) in &report.histograms {
        if h.count == 0 {
            continue;
        }
        let cells = h.cells(name);
        let _ = writeln!(
            out,
            "{:<NAME$} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            cells[0],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            NAME = HISTOGRAM_NAME_WIDTH
        );
    }
    if !report.faults.is_empty() {
        let widths = [13, 7, 7, 7, 6, 7, 6, 10, 10, 9, 9, 9, 16];
        let _ = write!(out, "\n{:<13}", FAULT_COLUMNS[0]);
        for (title, width) in FAULT_COLUMNS.iter().zip(widths).skip(1) {
            let _ = write!(out, " {title:>width$}");
        }
        let _ = writeln!(out, " {STORM_COLUMN}");
        for f in &report.faults {
            let cells = f.cells();
            let _ = write!(out, "{:<13}", cells[0]);
            for (cell, width) in cells.iter().zip(widths).skip(1) {
                let _ = write!(out, " {cell:>width$}");
            }
            let _ = writeln!(out, " {}", cells[13]);
        }
    }
    if !report.thresholds.is_empty() {
        let _ = writeln!(out);
        for t in &report.thresholds {
            let _ = writeln!(out, "threshold {t}");
        }
    }
    out
}

/// Whether permessage-deflate was offered and on how many connections the server took it;
/// `None` for a run that neither offered it nor met a server answering with an extension.
pub fn compression_line(report: &Report) -> Option<String> {
    let c = &report.counters;
    let refused = if c.connect_failures_extension > 0 {
        format!(
            "  {} attempts failed on the server's extension answer",
            c.connect_failures_extension
        )
    } else {
        String::new()
    };
    if report.scenario.compression_offered {
        Some(format!(
            "permessage-deflate offered, negotiated on {} of {} connections{refused}",
            c.compression_negotiated, c.connects
        ))
    } else if !refused.is_empty() {
        Some(format!("no extension offered{refused}"))
    } else {
        None
    }
}

/// The tool's own figures in one line: CPU seconds, busiest and mean second, send lag.
pub fn tool_line(tool: &super::LoadGenerator) -> String {
    let share = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.0}%", v * 100.0));
    format!(
        "cpu {} s on {} cores  busiest second {}  mean {}  send lag p99 {} outside faults (bound {})",
        tool.cpu_s.map_or("n/a".to_string(), |s| format!("{s:.2}")),
        tool.cores,
        share(tool.cpu_max_share),
        share(tool.cpu_mean_share),
        human_us(tool.send_lag_p99_us),
        human_us(tool.send_lag_bound_us)
    )
}

pub fn print_summary(report: &Report) {
    print!("{}", render(report));
}

#[cfg(test)]
mod tests {
    use super::HISTOGRAM_NAME_WIDTH;

    #[test]
    fn every_histogram_name_fits_the_tables_name_column() {
        for (name, _) in crate::metrics::Histograms::default().named() {
            assert!(name.len() <= HISTOGRAM_NAME_WIDTH, "{name} is too long");
        }
    }
}
