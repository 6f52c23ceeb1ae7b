//! The terminal summary printed at the end of a run.

use std::fmt::Write;

use super::Report;

/// Formats microseconds for people: `850us`, `12.3ms`, `4.20s`.
pub fn human_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
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
    let _ = writeln!(
        out,
        "clients   connected {}/{}  gave up {}  reconnects {}  connect failures {} ({} timeouts)",
        c.clients_connected,
        s.clients,
        c.gave_up,
        c.reconnects,
        c.connect_failures,
        c.connect_timeouts
    );
    let _ = writeln!(
        out,
        "lost      heartbeat timeout {}  close frame {}  io error {}  protocol error {}  server gone {}  dropped {}",
        c.disconnects_heartbeat_timeout,
        c.disconnects_close_frame,
        c.disconnects_io_error,
        c.disconnects_protocol_error,
        c.disconnects_server_gone,
        c.disconnects_dropped
    );
    let _ = writeln!(
        out,
        "heartbeat sent {}  acked {} ({:.3}%)  missed {}",
        c.heartbeats_sent,
        c.heartbeat_acks,
        report.ratios.heartbeat_delivered * 100.0,
        c.heartbeat_misses
    );
    if c.messages_sent > 0 {
        let _ = writeln!(
            out,
            "messages  sent {}  echoed {}  lost {}",
            c.messages_sent, c.messages_received, c.messages_lost
        );
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "histogram", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    for (name, h) in &report.histograms {
        if h.count == 0 {
            continue;
        }
        let fmt = |v: u64| {
            if *name == "reconnect_attempts" {
                v.to_string()
            } else {
                human_us(v)
            }
        };
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            h.count,
            fmt(h.p50),
            fmt(h.p90),
            fmt(h.p99),
            fmt(h.p99_9),
            fmt(h.max)
        );
    }
    if !report.faults.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<13} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "fault",
            "at",
            "touched",
            "noticed",
            "back",
            "detect50",
            "detect99",
            "back50%",
            "back99%",
            "back100%",
            "storm peak"
        );
    }
    for f in &report.faults {
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), human_us);
        let rec = f.recovery_us;
        let _ = writeln!(
            out,
            "{:<13} {:>6.1}s {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            f.kind,
            f.started_s,
            f.clients_targeted,
            f.noticed,
            f.reopened,
            opt(f.detection_us.map(|d| d.p50)),
            opt(f.detection_us.map(|d| d.p99)),
            opt(rec.and_then(|r| r.p50)),
            opt(rec.and_then(|r| r.p99)),
            opt(rec.and_then(|r| r.all)),
            f.storm.map_or_else(
                || "-".to_string(),
                |s| format!("{}/{:.0}", s.peak_per_100ms, s.mean_per_100ms)
            ),
        );
    }
    if !report.thresholds.is_empty() {
        let _ = writeln!(out);
        for t in &report.thresholds {
            let _ = writeln!(out, "threshold {t}");
        }
    }
    out
}

pub fn print_summary(report: &Report) {
    print!("{}", render(report));
}
