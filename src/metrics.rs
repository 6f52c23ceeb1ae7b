//! Run metrics. Clients record into the histograms and counters of their own arbiter thread
//! (a thread-local: no lock shared by all clients, no histogram per client); the coordinator takes
//! each arbiter's share every second and merges it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest value a histogram holds: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// Declares the counters once: the struct, its merge, its lookup by name and its JSON all follow
/// from the list.
macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Event counts of a run (or of one arbiter's share of one second of it). A counter
        /// missing from a `report.json` (written before it existed) reads as 0.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters { $( $(#[$doc])* pub $name: u64, )* }

        impl Counters {
            /// Every counter's name (its field and JSON key), in declaration order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name) ),*];

            pub fn add(&mut self, other: &Counters) {
                $( self.$name += other.$name; )*
            }

            /// The counter called `name` (as in [`Counters::NAMES`]).
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $( stringify!($name) => Some(self.$name), )*
                    _ => None,
                }
            }
        }
    };
}

counters! {
    /// Client actors started.
    clients_started,
    /// Client actors that have finished (manually closed or gave up).
    clients_stopped,
    /// Clients that were open at least once.
    clients_connected,
    /// TCP connect + upgrade attempts.
    connect_attempts,
    /// Attempts that ended in an open WebSocket.
    connects,
    /// Attempts that failed (refused, reset, bad upgrade, timeout).
    connect_failures,
    /// Failed attempts that hit `connect_timeout`.
    connect_timeouts,
    /// Failed attempts whose TLS handshake failed (certificate, alert, protocol).
    connect_failures_tls,
    /// Failed attempts for lack of local resources: no file descriptor left (EMFILE, ENFILE)
    /// or no local address and port (EADDRNOTAVAIL, EADDRINUSE). The tool's limit, not the
    /// target's.
    connect_failures_local,
    /// Open connections declared dead by `max_missed` heartbeat timeouts.
    disconnects_heartbeat_timeout,
    /// Open connections the server closed with a close frame.
    disconnects_close_frame,
    /// Open connections that ended in a socket error (reset, broken pipe).
    disconnects_io_error,
    /// Open connections that ended in a TLS alert or failure.
    disconnects_tls_error,
    /// Open connections whose server sent something that is not valid WebSocket.
    disconnects_protocol_error,
    /// Open connections that ended without a close frame (EOF): the server went away.
    disconnects_server_gone,
    /// Open connections the tool itself dropped for a `drop` fault.
    disconnects_dropped,
    /// Open connections whose socket took no bytes for `send_timeout` while some were queued.
    disconnects_send_timeout,
    /// Open connections whose server did not send the answer an `on_open` item expects within
    /// its `within` (authentication or subscription refused, or never answered).
    disconnects_handshake_rejected,
    /// Open connections closed on purpose (close 1000) at the end of the run.
    closed_manually,
    /// graphql-ws: open connections whose server did not acknowledge `connection_init`: it
    /// sent another message first (a server that does not speak graphql-ws) or nothing within
    /// `connect_timeout`.
    disconnects_no_connection_ack,
    /// Successful re-opens after a lost connection.
    reconnects,
    /// Lost connections whose reconnect was still pending (backoff or connecting) when the
    /// client was manually closed: the run ended before it could come back.
    reconnects_pending_at_end,
    /// Clients that hit `max_attempts` and stopped.
    gave_up,
    heartbeats_sent,
    heartbeat_acks,
    heartbeat_misses,
    messages_sent,
    messages_received,
    /// Messages sent whose echo had not arrived when their connection died.
    messages_lost,
    /// Messages not sent because their connection's send queue was full (`send_buffer`).
    messages_dropped_backpressure,
    /// Data frames from the server that were neither a heartbeat ack nor an echo (nor an
    /// `on_open` answer): messages the server pushed.
    push_received,
    /// With `clients.stream`: sequence numbers skipped inside a connection (a jump from n to
    /// n + k counts k - 1 when it arrives; a late arrival afterwards is also a reordering).
    push_gaps,
    /// With `clients.stream`: a sequence number this connection already had (or one more than
    /// 64 behind the highest, too old to tell).
    push_duplicates,
    /// With `clients.stream`: a sequence number below the highest seen that had not been seen
    /// (it arrived late; it was counted in a gap when the higher one came).
    push_reordered,
    /// With `clients.stream`: on the first pushed message after a reconnect, the sequence
    /// numbers between the last one seen before the loss and it (0 when the server resumed).
    push_missed_across_outage,
    /// With `clients.stream`: pushed frames whose sequence number (or `sent_at`) was not where
    /// `clients.stream` says.
    push_unparsed,
    /// Connections whose server accepted permessage-deflate (`clients.compression: deflate`).
    compression_negotiated,
    /// Failed attempts whose server answered the extension offer wrongly (an extension not
    /// offered, a bad parameter): the server's protocol error.
    connect_failures_extension,
    /// Failed attempts the server answered with an HTTP status instead of 101 Switching
    /// Protocols: it refused the upgrade (503 from a server at its connection limit, 401, 429).
    connect_failures_rejected,
    /// `target.protocol: socketio`: pings from the server, each answered with a pong.
    socketio_pings,
    /// `target.protocol: socketio`: namespace connects the server refused (`44`); each is
    /// also a `disconnects_handshake_rejected`.
    socketio_connect_errors,
    /// `target.protocol: socketio`: sessions the server closed (Engine.IO `1`, namespace
    /// `41`); each is also a `disconnects_server_gone`.
    socketio_server_disconnects,
    /// graphql-ws: `error` messages for the subscription (the server refused or ended it).
    graphql_ws_errors,
    /// graphql-ws: `complete` messages for the subscription (the server ended it).
    graphql_ws_completes,
    /// graphql-ws: the server's own `ping` messages, each answered with a `pong`.
    graphql_ws_server_pings,
}

impl Counters {
    pub fn disconnects(&self) -> u64 {
        self.disconnects_heartbeat_timeout
            + self.disconnects_close_frame
            + self.disconnects_io_error
            + self.disconnects_tls_error
            + self.disconnects_protocol_error
            + self.disconnects_server_gone
            + self.disconnects_dropped
            + self.disconnects_send_timeout
            + self.disconnects_handshake_rejected
            + self.disconnects_no_connection_ack
    }

    /// Connections open right now, if these are run totals.
    pub fn open_connections(&self) -> u64 {
        self.connects
            .saturating_sub(self.disconnects() + self.closed_manually)
    }
}

/// The run's latency histograms, in microseconds (reconnect_attempts: a plain count). Each is
/// created on its first value, so a share with nothing in it costs nothing to take and merge.
#[derive(Debug, Clone, Default)]
pub struct Histograms {
    pub connect_time: Option<Histogram<u64>>,
    /// The phases of `connect_time`: TCP connect, TLS handshake (`wss://` only), upgrade.
    pub tcp_connect_time: Option<Histogram<u64>>,
    pub tls_handshake_time: Option<Histogram<u64>>,
    pub upgrade_time: Option<Histogram<u64>>,
    pub heartbeat_rtt: Option<Histogram<u64>>,
    pub reconnect_time: Option<Histogram<u64>>,
    pub reconnect_attempts: Option<Histogram<u64>>,
    pub detection: Option<Histogram<u64>>,
    pub message_rtt: Option<Histogram<u64>>,
    /// A heartbeat's due time -> the socket took its last byte.
    pub send_lag_heartbeat: Option<Histogram<u64>>,
    /// An application message's due time (closed loop: when it was queued) -> the socket took
    /// its last byte.
    pub send_lag_message: Option<Histogram<u64>>,
    /// A pushed message's `sent_at` (the server's clock) -> received (the client's clock).
    pub push_latency: Option<Histogram<u64>>,
    /// `target.protocol: socketio`: the gap between two pings of the server on one connection.
    pub socketio_ping_gap: Option<Histogram<u64>>,
    /// graphql-ws: `connection_init` sent -> `connection_ack` received.
    pub connection_ack_time: Option<Histogram<u64>>,
}

/// An empty histogram with the bounds every histogram of a run shares.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

impl Histograms {
    /// Names and histograms, in report order.
    pub fn named(&self) -> [(&'static str, Option<&Histogram<u64>>); 14] {
        [
            ("connect_time", self.connect_time.as_ref()),
            ("tcp_connect_time", self.tcp_connect_time.as_ref()),
            ("tls_handshake_time", self.tls_handshake_time.as_ref()),
            ("upgrade_time", self.upgrade_time.as_ref()),
            ("heartbeat_rtt", self.heartbeat_rtt.as_ref()),
            ("reconnect_time", self.reconnect_time.as_ref()),
            ("reconnect_attempts", self.reconnect_attempts.as_ref()),
            ("detection", self.detection.as_ref()),
            ("message_rtt", self.message_rtt.as_ref()),
            ("send_lag_heartbeat", self.send_lag_heartbeat.as_ref()),
            ("send_lag_message", self.send_lag_message.as_ref()),
            ("push_latency", self.push_latency.as_ref()),
            ("socketio_ping_gap", self.socketio_ping_gap.as_ref()),
            ("connection_ack_time", self.connection_ack_time.as_ref()),
        ]
    }

    pub fn add(&mut self, other: &Histograms) {
        for (mine, theirs) in [
            (&mut self.connect_time, &other.connect_time),
            (&mut self.tcp_connect_time, &other.tcp_connect_time),
            (&mut self.tls_handshake_time, &other.tls_handshake_time),
            (&mut self.upgrade_time, &other.upgrade_time),
            (&mut self.heartbeat_rtt, &other.heartbeat_rtt),
            (&mut self.reconnect_time, &other.reconnect_time),
            (&mut self.reconnect_attempts, &other.reconnect_attempts),
            (&mut self.detection, &other.detection),
            (&mut self.message_rtt, &other.message_rtt),
            (&mut self.send_lag_heartbeat, &other.send_lag_heartbeat),
            (&mut self.send_lag_message, &other.send_lag_message),
            (&mut self.push_latency, &other.push_latency),
            (&mut self.socketio_ping_gap, &other.socketio_ping_gap),
            (&mut self.connection_ack_time, &other.connection_ack_time),
        ] {
            if let Some(theirs) = theirs {
                // Same bounds on both sides, and values are clamped on record: cannot fail.
                let _ = slot(mine).add(theirs);
            }
        }
    }
}

/// Records a duration in microseconds, clamped into the histogram's range.
pub fn record_us(h: &mut Option<Histogram<u64>>, d: Duration) {
    slot(h).saturating_record(clamp_us(d));
}

/// Records with coordinated-omission correction: a value longer than `expected_interval` also
/// stands for the samples that would have been taken meanwhile.
pub fn record_us_corrected(
    h: &mut Option<Histogram<u64>>,
    d: Duration,
    expected_interval: Duration,
) {
    let _ = slot(h).record_correct(clamp_us(d), clamp_us(expected_interval));
}

fn clamp_us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

/// What the clients a fault touched went through (one per fault on the timeline).
#[derive(Debug, Clone, Default)]
pub struct FaultShare {
    /// Touched clients that lost their connection while the fault was on them.
    pub noticed: u64,
    /// Of those, the ones that were open again.
    pub reopened: u64,
    pub messages_lost: u64,
    /// Pushed messages the clients that came back missed across the outage.
    pub push_missed: u64,
    /// Fault start -> the client declared its connection dead (microseconds).
    pub detection: Option<Histogram<u64>>,
    /// Fault start -> the client was open again (microseconds).
    pub reopen: Option<Histogram<u64>>,
    /// Connect attempts each client needed to get back.
    pub attempts: Option<Histogram<u64>>,
}

impl FaultShare {
    pub fn add(&mut self, other: &FaultShare) {
        self.noticed += other.noticed;
        self.reopened += other.reopened;
        self.messages_lost += other.messages_lost;
        self.push_missed += other.push_missed;
        for (mine, theirs) in [
            (&mut self.detection, &other.detection),
            (&mut self.reopen, &other.reopen),
            (&mut self.attempts, &other.attempts),
        ] {
            if let Some(theirs) = theirs {
                // Auto-resizing: cannot fail for values within `MAX_US`.
                let _ = mine.get_or_insert_with(fault_histogram).add(theirs);
            }
        }
    }
}

/// An empty histogram for the merged share of one fault. The run keeps one set per fault on
/// the timeline, so they stay small: two significant figures (1 %, enough for a fault's
/// percentiles) and only as many buckets as the largest value needs, instead of the fixed
/// one-hour range at three figures of `histogram()`.
pub fn fault_histogram() -> Histogram<u64> {
    Histogram::new(2).expect("static histogram precision is valid")
}

/// Lazily creates a histogram slot (most faults never fill all three).
pub fn slot(h: &mut Option<Histogram<u64>>) -> &mut Histogram<u64> {
    h.get_or_insert_with(histogram)
}

/// Connect attempts per 100 ms window since the run started (the reconnect-storm shape).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptSeries {
    /// Index of `counts[0]`.
    pub first: usize,
    pub counts: Vec<u32>,
}

/// Width of one window of [`AttemptSeries`].
pub const ATTEMPT_WINDOW: Duration = Duration::from_millis(100);

impl AttemptSeries {
    pub fn bump(&mut self, window: usize) {
        if let Some(n) = window
            .checked_sub(self.first)
            .and_then(|i| self.counts.get_mut(i))
        {
            *n += 1;
            return;
        }
        self.add(&AttemptSeries {
            first: window,
            counts: vec![1],
        });
    }

    pub fn add(&mut self, other: &AttemptSeries) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.clone_from(other);
            return;
        }
        let first = self.first.min(other.first);
        let end = (self.first + self.counts.len()).max(other.first + other.counts.len());
        if first == self.first && end == self.first + self.counts.len() {
            // The common case: `other` falls inside what we already have.
            for (i, n) in other.counts.iter().enumerate() {
                self.counts[other.first - first + i] += n;
            }
            return;
        }
        let mut merged = vec![0; end - first];
        for series in [&*self, other] {
            for (i, n) in series.counts.iter().enumerate() {
                merged[series.first - first + i] += n;
            }
        }
        self.first = first;
        self.counts = merged;
    }

    /// Attempts in window `i` (0 outside the recorded range).
    pub fn at(&self, window: usize) -> u32 {
        window
            .checked_sub(self.first)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }
}

/// One arbiter's share of metrics since the last take.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub counters: Counters,
    pub hist: Histograms,
    /// Close frames received from the server, by close code.
    pub close_codes: BTreeMap<u16, u64>,
    /// Per fault on the timeline, by its index.
    pub faults: Vec<FaultShare>,
    pub attempts: AttemptSeries,
    /// When the last client to open for the first time did so (the fleet was complete).
    pub last_first_open: Option<Instant>,
}

impl Metrics {
    pub fn add(&mut self, other: &Metrics) {
        self.counters.add(&other.counters);
        self.hist.add(&other.hist);
        for (code, n) in &other.close_codes {
            *self.close_codes.entry(*code).or_default() += n;
        }
        if self.faults.len() < other.faults.len() {
            self.faults
                .resize_with(other.faults.len(), FaultShare::default);
        }
        for (mine, theirs) in self.faults.iter_mut().zip(&other.faults) {
            mine.add(theirs);
        }
        self.attempts.add(&other.attempts);
        self.last_first_open = self.last_first_open.max(other.last_first_open);
    }

    /// The share of fault `index`, created on first use.
    pub fn fault(&mut self, index: usize) -> &mut FaultShare {
        if self.faults.len() <= index {
            self.faults.resize_with(index + 1, FaultShare::default);
        }
        &mut self.faults[index]
    }
}

thread_local! {
    static LOCAL: RefCell<Metrics> = RefCell::new(Metrics::default());
}

/// Records into this thread's metrics.
pub fn record(f: impl FnOnce(&mut Metrics)) {
    LOCAL.with(|m| f(&mut m.borrow_mut()));
}

/// Takes this thread's metrics since the last take, leaving fresh ones.
pub fn take_local() -> Metrics {
    LOCAL.with(|m| std::mem::take(&mut *m.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_name_are_their_json_fields() {
        // A distinct value per counter, set through JSON, read back by name.
        let json: serde_json::Map<String, serde_json::Value> = Counters::NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), (i as u64 + 1).into()))
            .collect();
        let counters: Counters =
            serde_json::from_value(serde_json::Value::Object(json)).expect("every counter");
        for (i, name) in Counters::NAMES.iter().enumerate() {
            assert_eq!(counters.get(name), Some(i as u64 + 1), "{name}");
        }
        assert_eq!(counters.get("nope"), None);
        let written = serde_json::to_value(&counters).expect("serialise");
        let keys: Vec<&String> = written.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), Counters::NAMES.len());
        assert!(keys.iter().all(|k| Counters::NAMES.contains(&k.as_str())));
    }

    #[test]
    fn a_counter_missing_from_json_reads_as_zero() {
        let counters: Counters =
            serde_json::from_str(r#"{"connects": 3}"#).expect("partial counters");
        assert_eq!(counters.connects, 3);
        assert_eq!(counters.get("gave_up"), Some(0));
    }

    /// One arbiter's share of a fault as clients record it (full-size histograms).
    fn arbiter_share(clients: u64) -> FaultShare {
        let mut share = FaultShare::default();
        for i in 0..clients {
            share.noticed += 1;
            share.reopened += 1;
            record_us(
                &mut share.detection,
                Duration::from_micros(200_000 + i * 2_000),
            );
            record_us(
                &mut share.reopen,
                Duration::from_micros(1_000_000 + i * 3_000),
            );
            slot(&mut share.attempts).saturating_record(1 + i % 5);
        }
        share
    }

    fn buckets(share: &FaultShare) -> usize {
        [&share.detection, &share.reopen, &share.attempts]
            .iter()
            .filter_map(|h| h.as_ref().map(Histogram::distinct_values))
            .sum()
    }

    #[test]
    fn a_faults_merged_share_is_small_and_keeps_its_percentiles_within_one_percent() {
        let recorded = arbiter_share(1000);
        let mut merged = FaultShare::default();
        merged.add(&recorded);
        let mut totals = FaultShare::default();
        totals.add(&merged);

        let full = 3 * histogram().distinct_values();
        assert_eq!(buckets(&recorded), full);
        // Kept once per fault for the whole run: far below three full-range histograms.
        assert!(
            buckets(&totals) * 10 < full,
            "{} of {full}",
            buckets(&totals)
        );

        for (kept, exact) in [
            (&totals.detection, &recorded.detection),
            (&totals.reopen, &recorded.reopen),
            (&totals.attempts, &recorded.attempts),
        ] {
            let (kept, exact) = (kept.as_ref().expect("kept"), exact.as_ref().expect("exact"));
            assert_eq!(kept.len(), exact.len());
            for q in [0.5, 0.99, 1.0] {
                let (a, b) = (
                    kept.value_at_quantile(q) as f64,
                    exact.value_at_quantile(q) as f64,
                );
                assert!((a - b).abs() <= b * 0.01, "q {q}: {a} vs {b}");
            }
        }
        assert_eq!((totals.noticed, totals.reopened), (1000, 1000));
    }
}
