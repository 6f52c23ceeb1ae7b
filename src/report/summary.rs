//! The terminal summary printed at the end of a run.

use std::fmt::Write;

use super::{DisconnectsByCause, FAULT_COLUMNS, Report, STORM_COLUMN};
use crate::scenario::Protocol;

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
    for line in heartbeat_lines(report) {
        let _ = writeln!(out, "{line}");
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

/// The heartbeat as the protocol has it: the client's pings and their acks (raw, graphql-ws),
/// or the server's pings the client answered (Socket.IO, where the client sends no ping of its
/// own and a dead connection is one whose server stopped pinging); then what the protocol
/// itself counted.
fn heartbeat_lines(report: &Report) -> Vec<String> {
    let c = &report.counters;
    let mut lines = Vec::new();
    if report.scenario.protocol == Protocol::SOCKETIO {
        lines.push(format!(
            "heartbeat server pings {}, each answered  dead (no ping within pingInterval + \
             pingTimeout) {}",
            c.socketio_pings, c.disconnects_heartbeat_timeout
        ));
        lines.push(format!(
            "socketio  connect errors {}  server disconnects {}",
            c.socketio_connect_errors, c.socketio_server_disconnects
        ));
        return lines;
    }
    lines.push(format!(
        "heartbeat sent {}  acked {} ({:.3}%)  missed {}",
        c.heartbeats_sent,
        c.heartbeat_acks,
        report.ratios.heartbeat_delivered * 100.0,
        c.heartbeat_misses
    ));
    if report.scenario.protocol == Protocol::GRAPHQL_WS {
        let acks = report
            .histograms
            .get("connection_ack_time")
            .map_or(0, |h| h.count);
        lines.push(format!(
            "graphql   connection acks {acks}  no ack {}  server pings answered {}  \
             subscription errors {}  completed by the server {}",
            c.disconnects_no_connection_ack,
            c.graphql_ws_server_pings,
            c.graphql_ws_errors,
            c.graphql_ws_completes
        ));
    }
    lines
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
    use super::{HISTOGRAM_NAME_WIDTH, render};
    use crate::metrics::Metrics;
    use crate::report::{Report, RunRecord, ScenarioInfo};

    fn run_of(protocol: &str, fill: impl FnOnce(&mut Metrics)) -> Report {
        let mut scenario = ScenarioInfo::for_test(protocol, 2, 1.0);
        scenario.protocol = protocol.into();
        let mut totals = Metrics::default();
        fill(&mut totals);
        let record = RunRecord {
            totals,
            elapsed_s: 1.0,
            ..RunRecord::default()
        };
        Report::new(scenario, "2024-01-01T00:00:00Z".into(), record, None)
    }

    #[test]
    fn a_socketio_run_shows_the_servers_pings_not_heartbeats_it_never_sent() {
        let text = render(&run_of("socketio", |m| {
            m.counters.socketio_pings = 36;
            m.counters.disconnects_heartbeat_timeout = 2;
            m.counters.socketio_server_disconnects = 1;
        }));
        assert!(
            text.contains("heartbeat server pings 36, each answered"),
            "{text}"
        );
        assert!(text.contains("pingTimeout) 2\n"), "{text}");
        assert!(text.contains("server disconnects 1"), "{text}");
        assert!(!text.contains("heartbeat sent"), "{text}");
    }

    #[test]
    fn a_graphql_ws_run_adds_what_the_protocol_counted() {
        let text = render(&run_of("graphql-ws", |m| {
            m.counters.heartbeats_sent = 10;
            m.counters.heartbeat_acks = 9;
            m.counters.disconnects_no_connection_ack = 3;
            m.counters.graphql_ws_server_pings = 4;
            m.counters.graphql_ws_completes = 1;
            for _ in 0..5 {
                crate::metrics::record_us(
                    &mut m.hist.connection_ack_time,
                    std::time::Duration::from_millis(1),
                );
            }
        }));
        assert!(text.contains("heartbeat sent 10  acked 9"), "{text}");
        assert!(
            text.contains(
                "graphql   connection acks 5  no ack 3  server pings answered 4  \
                 subscription errors 0  completed by the server 1"
            ),
            "{text}"
        );
        let raw = render(&run_of("raw", |m| m.counters.heartbeats_sent = 1));
        assert!(
            !raw.contains("graphql") && !raw.contains("socketio"),
            "{raw}"
        );
    }

    #[test]
    fn every_histogram_name_fits_the_tables_name_column() {
        for (name, _) in crate::metrics::Histograms::default().named() {
            assert!(name.len() <= HISTOGRAM_NAME_WIDTH, "{name} is too long");
        }
    }
}
