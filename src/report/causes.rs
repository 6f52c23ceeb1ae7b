//! Disconnect causes: the one list every report output goes by (terminal summary, summary.md,
//! report.html, the timeline of report.json), and the per-cause counts of one timeline second.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::Counters;

/// One way an open connection can be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectCause {
    /// Its counter in `report.counters` (one of `Counters::NAMES`), also its key in each
    /// timeline second.
    pub counter: &'static str,
    /// How tables name it.
    pub label: &'static str,
    /// How the terminal line and the chart legend name it.
    pub short: &'static str,
}

const fn cause(counter: &'static str, label: &'static str, short: &'static str) -> DisconnectCause {
    DisconnectCause {
        counter,
        label,
        short,
    }
}

/// How many causes there are.
pub const CAUSE_COUNT: usize = 10;

/// Every disconnect cause, in report order. Their counters add up to `Counters::disconnects`.
pub const DISCONNECT_CAUSES: [DisconnectCause; CAUSE_COUNT] = [
    cause(
        "disconnects_heartbeat_timeout",
        "heartbeat timeout",
        "heartbeat timeout",
    ),
    cause("disconnects_close_frame", "close frame", "close frame"),
    cause("disconnects_io_error", "I/O error", "I/O error"),
    cause(
        "disconnects_tls_error",
        "TLS error (alert, certificate)",
        "TLS error",
    ),
    cause(
        "disconnects_protocol_error",
        "protocol error",
        "protocol error",
    ),
    cause(
        "disconnects_server_gone",
        "server gone (EOF)",
        "server gone",
    ),
    cause("disconnects_dropped", "dropped by a fault", "dropped"),
    cause(
        "disconnects_send_timeout",
        "send timeout (the socket took no bytes)",
        "send timeout",
    ),
    cause(
        "disconnects_handshake_rejected",
        "handshake rejected (on_open answer missing)",
        "handshake rejected",
    ),
    cause(
        "disconnects_no_connection_ack",
        "no connection_ack (graphql-ws)",
        "no connection_ack",
    ),
];

/// Disconnects per cause, in [`DISCONNECT_CAUSES`] order. In JSON, one key per cause (its
/// counter name), so a timeline second reads `"disconnects_io_error": 2` as it always did; a
/// cause missing from an older report.json reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisconnectsByCause(pub [u64; CAUSE_COUNT]);

impl DisconnectsByCause {
    pub fn of(counters: &Counters) -> Self {
        Self(DISCONNECT_CAUSES.map(|cause| counters.get(cause.counter).unwrap_or(0)))
    }

    pub fn add(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The count of the cause whose counter is `counter` (`disconnects_send_timeout`).
    pub fn count(&self, counter: &str) -> Option<u64> {
        self.iter()
            .find(|(cause, _)| cause.counter == counter)
            .map(|(_, n)| n)
    }

    /// Each cause with its count, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static DisconnectCause, u64)> + '_ {
        DISCONNECT_CAUSES.iter().zip(self.0)
    }
}

impl Serialize for DisconnectsByCause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(CAUSE_COUNT))?;
        for (cause, n) in self.iter() {
            map.serialize_entry(cause.counter, &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DisconnectsByCause {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CausesVisitor;

        impl<'de> Visitor<'de> for CausesVisitor {
            type Value = DisconnectsByCause;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("disconnect counts by cause")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut counts = DisconnectsByCause::default();
                // Flattened into a timeline second: the keys of its other fields come by too.
                while let Some(key) = map.next_key::<String>()? {
                    match DISCONNECT_CAUSES.iter().position(|c| c.counter == key) {
                        Some(i) => counts.0[i] = map.next_value()?,
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(counts)
            }
        }

        deserializer.deserialize_map(CausesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_causes_are_every_disconnects_counter_and_add_up_to_disconnects() {
        let names: Vec<&str> = Counters::NAMES
            .iter()
            .copied()
            .filter(|n| n.starts_with("disconnects_"))
            .collect();
        let listed: Vec<&str> = DISCONNECT_CAUSES.iter().map(|c| c.counter).collect();
        assert_eq!(names, listed);

        let mut counters = Counters::default();
        for (i, cause) in DISCONNECT_CAUSES.iter().enumerate() {
            let json = serde_json::json!({ cause.counter: 1u64 << i });
            let one: Counters = serde_json::from_value(json).expect("one counter");
            counters.add(&one);
        }
        let by_cause = DisconnectsByCause::of(&counters);
        assert_eq!(by_cause.0.iter().sum::<u64>(), counters.disconnects());
        assert_eq!(by_cause.0[CAUSE_COUNT - 1], 1 << (CAUSE_COUNT - 1));
    }

    use crate::metrics::Metrics;
    use crate::report::{Report, RunRecord, ScenarioInfo, TimelinePoint};

    /// A two-second run: one send timeout in the second second, and messages dropped on a full
    /// send queue.
    fn stalled_run() -> Report {
        let scenario = ScenarioInfo::for_test("stalled", 3, 2.0);
        let mut first = Metrics::default();
        first.counters.connects = 3;
        first.counters.disconnects_io_error = 1;
        let mut second = Metrics::default();
        second.counters.disconnects_send_timeout = 1;
        second.counters.messages_sent = 40;
        second.counters.messages_dropped_backpressure = 17;
        let mut totals = Metrics::default();
        totals.counters.add(&first.counters);
        let point_1 = TimelinePoint::new(1.0, &totals.counters, &first);
        totals.counters.add(&second.counters);
        let point_2 = TimelinePoint::new(2.0, &totals.counters, &second);
        let record = RunRecord {
            totals,
            timeline: vec![point_1, point_2],
            elapsed_s: 2.0,
            ..RunRecord::default()
        };
        Report::new(scenario, "2024-01-01T00:00:00Z".into(), record, None)
    }

    #[test]
    fn a_send_timeout_shows_in_every_output_and_survives_report_json_and_a_merge() {
        let report = stalled_run();

        let markdown = crate::report::markdown::render(&report);
        assert!(
            markdown.contains("| send timeout (the socket took no bytes) | 1 |"),
            "{markdown}"
        );
        assert!(markdown.contains("| I/O error | 1 |"), "{markdown}");
        assert!(
            markdown.contains("| messages dropped (send queue full) | 17 |"),
            "{markdown}"
        );

        let html = crate::report::html::render(&report);
        // The events chart's legend lists the causes that happened, the table every counter.
        assert!(html.contains(">send timeout</text>"), "{html}");
        assert!(!html.contains(">protocol error</text>"), "{html}");
        assert!(
            html.contains("<tr><td>disconnects_send_timeout</td><td>1</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><td>messages_dropped_backpressure</td><td>17</td></tr>"),
            "{html}"
        );

        let terminal = crate::report::summary::render(&report);
        assert!(
            terminal.contains("  send timeout 1  handshake rejected 0  no connection_ack 0\n"),
            "{terminal}"
        );
        assert!(
            terminal.contains("dropped (send queue full) 17"),
            "{terminal}"
        );

        // report.json keeps the per-second causes as flat keys, and reads them back.
        let json = serde_json::to_value(&report).expect("serialise");
        assert_eq!(json["timeline"][1]["disconnects_send_timeout"], 1);
        assert_eq!(json["timeline"][0]["disconnects_io_error"], 1);
        let dir = tempfile::tempdir().expect("temp dir");
        crate::report::write_json(&report, dir.path()).expect("write");
        let read = Report::read(dir.path()).expect("read back");
        assert_eq!(read.timeline, report.timeline);

        // Two shards: the per-second causes add up like the counters.
        let shards = [
            (dir.path().to_path_buf(), read.clone()),
            (dir.path().to_path_buf(), read),
        ];
        let merged =
            crate::report::merge(&shards, crate::report::MergeOptions::default()).expect("merge");
        assert_eq!(
            merged.timeline[1]
                .disconnects_by_cause
                .count("disconnects_send_timeout"),
            Some(2)
        );
        assert_eq!(merged.timeline[0].disconnects_by_cause.0[2], 2);
        assert_eq!(merged.counters.disconnects_send_timeout, 2);
    }

    #[test]
    fn a_timeline_second_from_before_send_timeouts_reads_it_as_zero() {
        let json = serde_json::json!({
            "t_s": 1.0, "connected": 1, "connects": 1, "disconnects": 1, "reconnects": 0,
            "connect_failures": 0, "heartbeats_sent": 0, "heartbeat_acks": 0,
            "heartbeat_rtt_p50_us": 0, "heartbeat_rtt_p99_us": 0,
            "disconnects_heartbeat_timeout": 0, "disconnects_close_frame": 0,
            "disconnects_io_error": 0, "disconnects_protocol_error": 0,
            "disconnects_server_gone": 1, "disconnects_dropped": 0
        });
        let point: TimelinePoint = serde_json::from_value(json).expect("an older second");
        assert_eq!(point.disconnects_by_cause.0, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let written = serde_json::to_value(&point).expect("serialise");
        assert_eq!(written["disconnects_send_timeout"], 0);
    }
}
