//! Messages the server pushed, as every summary shows them: received, and when the clients
//! followed the stream (`clients.stream`) its gaps, duplicates, reorderings, messages missed
//! across outages, unparsed frames and the delivery latency; with the embedded server in push
//! mode also what it pushed on its side. Nothing when no message was pushed.

use std::fmt::Write;

use super::{Report, human_us};

/// Whether the clients followed the stream (any figure beyond the count exists).
fn followed(report: &Report) -> bool {
    let c = &report.counters;
    c.push_gaps + c.push_duplicates + c.push_reordered + c.push_missed_across_outage > 0
        || c.push_unparsed > 0
        || report
            .histograms
            .get("push_latency")
            .is_some_and(|h| h.count > 0)
        || report.faults.iter().any(|f| f.push_missed.is_some())
}

/// The figures as `(name, value)` rows for the Markdown and HTML tables; `None` when nothing
/// was pushed.
pub fn rows(report: &Report) -> Option<Vec<(&'static str, String)>> {
    let c = &report.counters;
    let pushed_by_server = report.server.map_or(0, |s| s.pushed);
    if c.push_received == 0 && pushed_by_server == 0 {
        return None;
    }
    let mut rows = vec![("pushed messages received", c.push_received.to_string())];
    if followed(report) {
        rows.extend([
            (
                "gaps (missing inside a connection)",
                c.push_gaps.to_string(),
            ),
            ("duplicates", c.push_duplicates.to_string()),
            ("reorderings (late arrivals)", c.push_reordered.to_string()),
            (
                "messages missed across the outage",
                c.push_missed_across_outage.to_string(),
            ),
            ("unparsed frames", c.push_unparsed.to_string()),
        ]);
    }
    if let Some(h) = report
        .histograms
        .get("push_latency")
        .filter(|h| h.count > 0)
    {
        rows.push((
            "push latency p50 / p99",
            format!("{} / {}", human_us(h.p50), human_us(h.p99)),
        ));
    }
    if let Some(server) = report.server.filter(|s| s.pushed > 0) {
        rows.extend([
            (
                "server: pushed (replayed)",
                format!("{} ({})", server.pushed, server.push_replayed),
            ),
            (
                "server: missed by reconnecting clients",
                server.push_missed.to_string(),
            ),
        ]);
    }
    Some(rows)
}

/// The figures in one line for the terminal; `None` when nothing was pushed.
pub fn line(report: &Report) -> Option<String> {
    let c = &report.counters;
    if c.push_received == 0 {
        return None;
    }
    let mut line = format!("pushed    received {}", c.push_received);
    if followed(report) {
        let _ = write!(
            line,
            "  gaps {}  duplicates {}  reordered {}  missed across outages {}  unparsed {}",
            c.push_gaps,
            c.push_duplicates,
            c.push_reordered,
            c.push_missed_across_outage,
            c.push_unparsed
        );
    }
    if let Some(h) = report
        .histograms
        .get("push_latency")
        .filter(|h| h.count > 0)
    {
        let _ = write!(
            line,
            "  latency p50 {} p99 {}",
            human_us(h.p50),
            human_us(h.p99)
        );
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ScenarioInfo;

    #[test]
    fn nothing_pushed_shows_nothing_and_a_followed_stream_shows_every_figure() {
        let scenario = ScenarioInfo::for_test("t", 1, 1.0);
        let mut report = Report::new(scenario, String::new(), Default::default(), None);
        assert_eq!(rows(&report), None);
        assert_eq!(line(&report), None);

        report.counters.push_received = 10;
        let only_counted = rows(&report).expect("rows");
        assert_eq!(
            only_counted,
            [("pushed messages received", "10".to_string())]
        );
        assert_eq!(line(&report).as_deref(), Some("pushed    received 10"));

        report.counters.push_missed_across_outage = 4;
        let followed = rows(&report).expect("rows");
        assert!(followed.contains(&("messages missed across the outage", "4".to_string())));
        assert!(followed.contains(&("gaps (missing inside a connection)", "0".to_string())));
        let text = line(&report).expect("line");
        assert!(text.contains("missed across outages 4"), "{text}");
    }
}
