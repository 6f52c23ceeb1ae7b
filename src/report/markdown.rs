//! `summary.md`: the run on one page of Markdown (for a PR comment or a CI job summary):
//! thresholds with measured values, clients, pushed messages, disconnect causes, histograms and
//! faults.

use std::fmt::Write;
use std::io;
use std::path::Path;

use super::{DisconnectsByCause, FAULT_COLUMNS, HISTOGRAM_COLUMNS, Report, STORM_COLUMN};
use crate::scenario::Protocol;

pub fn render(report: &Report) -> String {
    let s = &report.scenario;
    let c = &report.counters;
    let mut out = String::new();
    let _ = writeln!(out, "# wschaos report: {}\n", s.name);
    let capacity_verdict = report
        .capacity
        .as_ref()
        .map(crate::capacity::report::markdown_verdict);
    let verdict = if let Some(verdict) = &capacity_verdict {
        verdict.as_str()
    } else if report.interrupted {
        "**INTERRUPTED** (Ctrl-C): the figures cover the part that ran"
    } else if report.thresholds.is_empty() {
        "no thresholds"
    } else if report.thresholds_hold() {
        "**PASS**: every threshold holds"
    } else {
        "**FAIL**: a threshold failed"
    };
    let _ = writeln!(
        out,
        "{}, seed {}, started {}, {}.\n\n{verdict}\n",
        what_ran(report),
        s.seed,
        report.started_at,
        report.tool
    );
    for note in super::summary::run_notes(report) {
        let _ = writeln!(out, "**{note}**\n");
    }
    // A search's stages are its steps, which its own section lays out.
    if s.stages.len() > 1 && report.capacity.is_none() {
        let _ = writeln!(
            out,
            "Stages (from 0 clients): {}.\n",
            super::StageInfo::describe(&s.stages)
        );
    }

    if let Some(capacity) = &report.capacity {
        out.push_str(&crate::capacity::report::markdown(capacity));
    }
    if !report.thresholds.is_empty() {
        let _ = writeln!(out, "## Thresholds\n");
        let _ = writeln!(out, "| threshold | measured | result |\n|---|---:|---|");
        for t in &report.thresholds {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                t.expr,
                t.measured_display,
                if t.passed { "pass" } else { "**FAIL**" }
            );
        }
        out.push('\n');
    }

    if s.tls_insecure {
        let _ = writeln!(out, "**{}**\n", crate::run::INSECURE_WARNING);
    }
    if let Some(line) = report.load_generator.as_ref().and_then(|t| t.headline()) {
        let _ = writeln!(out, "**{line}**\n");
    }
    if let Some(line) = super::summary::compression_line(report) {
        let _ = writeln!(out, "Compression: {line}\n");
    }
    let _ = writeln!(out, "## Clients\n");
    let _ = writeln!(out, "| figure | value |\n|---|---:|");
    let rows: [(&str, String); 15] = [
        (
            "connected at least once",
            format!("{} / {}", c.clients_connected, s.clients),
        ),
        ("gave up", c.gave_up.to_string()),
        ("connects", c.connects.to_string()),
        ("reconnects", c.reconnects.to_string()),
        (
            "reconnect success",
            percent(report.ratios.reconnect_success),
        ),
        (
            "connect failures (timeouts)",
            format!("{} ({})", c.connect_failures, c.connect_timeouts),
        ),
        ("connect failures: TLS", c.connect_failures_tls.to_string()),
        (
            "connect failures: rejected (HTTP status, not 101)",
            c.connect_failures_rejected.to_string(),
        ),
        (
            "connect failures: local (no descriptor or port)",
            c.connect_failures_local.to_string(),
        ),
        ("heartbeats sent", c.heartbeats_sent.to_string()),
        (
            "heartbeats acked",
            format!(
                "{} ({})",
                c.heartbeat_acks,
                percent(report.ratios.heartbeat_delivered)
            ),
        ),
        ("heartbeats missed", c.heartbeat_misses.to_string()),
        (
            "messages sent / echoed / lost",
            format!(
                "{} / {} / {}",
                c.messages_sent, c.messages_received, c.messages_lost
            ),
        ),
        (
            "messages dropped (send queue full)",
            c.messages_dropped_backpressure.to_string(),
        ),
        (
            "closed manually (run end, down-stages)",
            c.closed_manually.to_string(),
        ),
    ];
    for (name, value) in rows.into_iter().chain(protocol_rows(report)) {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');

    if let Some(tool) = &report.load_generator {
        let _ = writeln!(out, "## Load generator\n");
        let _ = writeln!(out, "| figure | value |\n|---|---:|");
        let share = |v: Option<f64>| v.map_or("n/a".to_string(), percent);
        let rows = [
            (
                "saturated",
                if tool.saturated { "**yes**" } else { "no" }.to_string(),
            ),
            (
                "CPU seconds",
                tool.cpu_s.map_or("n/a".to_string(), |s| format!("{s:.2}")),
            ),
            ("cores it may use", tool.cores.to_string()),
            (
                "busiest second (share of the cores)",
                share(tool.cpu_max_share),
            ),
            (
                "mean second (share of the cores)",
                share(tool.cpu_mean_share),
            ),
            (
                "send lag p99 outside faults (bound)",
                format!(
                    "{} ({})",
                    super::human_us(tool.send_lag_p99_us),
                    super::human_us(tool.send_lag_bound_us)
                ),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        out.push('\n');
    }

    if let Some(target) = &report.target {
        let _ = writeln!(out, "## Target\n");
        let _ = writeln!(out, "| figure | value |\n|---|---:|");
        let rows = [
            ("sampled", target.sampled.clone()),
            ("seconds sampled", target.samples.to_string()),
            (
                "peak RSS",
                format!("{:.1} MiB", target.peak_rss_kib as f64 / 1024.0),
            ),
            (
                "RSS per connection (slope)",
                target.rss_per_conn_kib.map_or_else(
                    || {
                        format!(
                            "n/a: connected varied by {} (needs {})",
                            target.connected_spread,
                            super::MIN_CONNECTED_SPREAD
                        )
                    },
                    |kib| format!("{kib:.2} KiB"),
                ),
            ),
            ("CPU seconds", format!("{:.2}", target.cpu_s)),
            (
                "CPU per heartbeat acked",
                target
                    .cpu_per_heartbeat_us
                    .map_or("n/a".to_string(), |us| format!("{us:.1} us")),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        out.push('\n');
    } else if report.scenario.target.starts_with("embedded") {
        let _ = writeln!(
            out,
            "## Target\n\nnot sampled: the embedded server runs inside wschaos, so its CPU and \
             memory are part of the load generator's figures.\n"
        );
    }

    if let Some(rows) = super::push::rows(report) {
        let _ = writeln!(out, "## Pushed messages\n");
        let _ = writeln!(out, "| figure | value |\n|---|---:|");
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Disconnects by cause\n");
    let _ = writeln!(out, "| cause | count |\n|---|---:|");
    for (cause, n) in DisconnectsByCause::of(c).iter() {
        let _ = writeln!(out, "| {} | {n} |", cause.label);
    }
    out.push('\n');

    let _ = writeln!(out, "## Histograms\n");
    let _ = writeln!(
        out,
        "| histogram | {} |\n|---|{}",
        HISTOGRAM_COLUMNS.join(" | "),
        "---:|".repeat(HISTOGRAM_COLUMNS.len())
    );
    for (name, h) in &report.histograms {
        if h.count == 0 {
            let _ = writeln!(out, "| {name} | 0 | | | | | | | no samples |");
            continue;
        }
        let _ = writeln!(out, "| {name} | {} |", h.cells(name).join(" | "));
    }
    out.push('\n');

    if !report.faults.is_empty() {
        let _ = writeln!(out, "## Faults\n");
        let _ = writeln!(
            out,
            "| {} | {STORM_COLUMN} |\n|---|{}---:|",
            FAULT_COLUMNS.join(" | "),
            "---:|".repeat(FAULT_COLUMNS.len() - 1)
        );
        for f in &report.faults {
            let _ = writeln!(out, "| {} |", f.cells().join(" | "));
        }
        out.push('\n');
    }
    out
}

/// What was planned and what ran, for the head of `summary.md` and `report.html`: a capacity
/// search says its steps (its scenario's client count is only the largest step planned).
pub(super) fn what_ran(report: &Report) -> String {
    let s = &report.scenario;
    match &report.capacity {
        Some(search) => crate::capacity::report::header(search, &s.target, report.elapsed_s),
        None => format!(
            "{} clients against {} for {:.0}s (ran {:.1}s)",
            s.clients, s.target, s.duration_s, report.elapsed_s
        ),
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.3}%", ratio * 100.0)
}

pub fn write_markdown(report: &Report, dir: &Path) -> io::Result<()> {
    super::atomic::write_atomically(&dir.join("summary.md"), render(report).as_bytes())
}

/// What `target.protocol` counted on its own (nothing for raw).
fn protocol_rows(report: &Report) -> Vec<(&'static str, String)> {
    let c = &report.counters;
    match report.scenario.protocol.as_str() {
        Protocol::SOCKETIO => vec![
            (
                "Socket.IO server pings answered",
                c.socketio_pings.to_string(),
            ),
            (
                "Socket.IO namespace connects refused",
                c.socketio_connect_errors.to_string(),
            ),
            (
                "Socket.IO sessions closed by the server",
                c.socketio_server_disconnects.to_string(),
            ),
        ],
        Protocol::GRAPHQL_WS => vec![
            (
                "graphql-ws connections without connection_ack",
                c.disconnects_no_connection_ack.to_string(),
            ),
            (
                "graphql-ws server pings answered",
                c.graphql_ws_server_pings.to_string(),
            ),
            (
                "graphql-ws subscription errors / completed by the server",
                format!("{} / {}", c.graphql_ws_errors, c.graphql_ws_completes),
            ),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::capacity::report::tests::search;
    use crate::report::{Report, RunRecord, ScenarioInfo, StageInfo};

    fn report(scenario: ScenarioInfo, elapsed_s: f64) -> Report {
        let mut report = Report::new(scenario, "t0".into(), RunRecord::default(), None);
        report.elapsed_s = elapsed_s;
        report
    }

    #[test]
    fn a_capacity_summary_says_what_was_planned_and_judges_its_thresholds_per_step() {
        let mut scenario = ScenarioInfo::for_test("capacity", 9500, 665.0);
        scenario.target = "embedded".into();
        scenario.stages = vec![
            StageInfo::Ramp {
                to: 500,
                over_s: 5.0,
            },
            StageInfo::Hold { hold_s: 30.0 },
        ];
        let mut searched = report(scenario, 105.0);
        searched.capacity = Some(search(2));
        let markdown = render(&searched);
        assert!(
            markdown.contains(
                "capacity search against embedded: steps from 500 clients, +500 a step, up to \
                 9500 planned (19 steps of 5s ramp and 30s hold); stopped after step 3 (1500 \
                 clients) at 105.0s, seed 7"
            ),
            "{markdown}"
        );
        assert!(!markdown.contains("9500 clients against"), "{markdown}");
        assert!(!markdown.contains("Stages (from 0 clients)"), "{markdown}");
        assert!(
            markdown.contains("Thresholds (per step):\n\n- `connect.failures == 0`\n"),
            "{markdown}"
        );
        assert!(!markdown.contains("## Thresholds"), "{markdown}");
    }

    #[test]
    fn an_ordinary_summary_keeps_its_clients_and_duration() {
        let markdown = render(&report(ScenarioInfo::for_test("plain", 3, 2.0), 2.04));
        assert!(
            markdown.contains("3 clients against ws://127.0.0.1:1/ for 2s (ran 2.0s), seed 7"),
            "{markdown}"
        );
    }
}
