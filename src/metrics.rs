//! Run metrics. Clients record into the histograms and counters of their own arbiter thread
//! (a thread-local: no lock shared by all clients, no histogram per client); the coordinator takes
//! each arbiter's share every second and merges it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest value a histogram holds: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// Declares the counters once: the struct, its merge and its JSON all follow from the list.
macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Event counts of a run (or of one arbiter's share of one second of it).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
        pub struct Counters { $( $(#[$doc])* pub $name: u64, )* }

        impl Counters {
            pub fn add(&mut self, other: &Counters) {
                $( self.$name += other.$name; )*
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
    /// Open connections declared dead by `max_missed` heartbeat timeouts.
    disconnects_heartbeat_timeout,
    /// Open connections the server closed with a close frame.
    disconnects_close_frame,
    /// Open connections that ended in a socket error (reset, broken pipe).
    disconnects_io_error,
    /// Open connections whose server sent something that is not valid WebSocket.
    disconnects_protocol_error,
    /// Open connections that ended without a close frame (EOF): the server went away.
    disconnects_server_gone,
    /// Open connections the tool itself dropped for a `drop` fault.
    disconnects_dropped,
    /// Open connections closed on purpose (close 1000) at the end of the run.
    closed_manually,
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
}

impl Counters {
    pub fn disconnects(&self) -> u64 {
        self.disconnects_heartbeat_timeout
            + self.disconnects_close_frame
            + self.disconnects_io_error
            + self.disconnects_protocol_error
            + self.disconnects_server_gone
            + self.disconnects_dropped
    }

    /// Connections open right now, if these are run totals.
    pub fn open_connections(&self) -> u64 {
        self.connects
            .saturating_sub(self.disconnects() + self.closed_manually)
    }
}

/// The run's latency histograms, in microseconds (reconnect_attempts: a plain count).
#[derive(Debug, Clone)]
pub struct Histograms {
    pub connect_time: Histogram<u64>,
    pub heartbeat_rtt: Histogram<u64>,
    pub reconnect_time: Histogram<u64>,
    pub reconnect_attempts: Histogram<u64>,
    pub detection: Histogram<u64>,
    pub message_rtt: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

impl Default for Histograms {
    fn default() -> Self {
        Self {
            connect_time: histogram(),
            heartbeat_rtt: histogram(),
            reconnect_time: histogram(),
            reconnect_attempts: histogram(),
            detection: histogram(),
            message_rtt: histogram(),
        }
    }
}

impl Histograms {
    /// Names and histograms, in report order.
    pub fn named(&self) -> [(&'static str, &Histogram<u64>); 6] {
        [
            ("connect_time", &self.connect_time),
            ("heartbeat_rtt", &self.heartbeat_rtt),
            ("reconnect_time", &self.reconnect_time),
            ("reconnect_attempts", &self.reconnect_attempts),
            ("detection", &self.detection),
            ("message_rtt", &self.message_rtt),
        ]
    }

    pub fn add(&mut self, other: &Histograms) {
        // Same bounds on both sides, and values are clamped on record: adding cannot fail.
        let _ = self.connect_time.add(&other.connect_time);
        let _ = self.heartbeat_rtt.add(&other.heartbeat_rtt);
        let _ = self.reconnect_time.add(&other.reconnect_time);
        let _ = self.reconnect_attempts.add(&other.reconnect_attempts);
        let _ = self.detection.add(&other.detection);
        let _ = self.message_rtt.add(&other.message_rtt);
    }
}

/// Records a duration in microseconds, clamped into the histogram's range.
pub fn record_us(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(clamp_us(d));
}

/// Records with coordinated-omission correction: a value longer than `expected_interval` also
/// stands for the samples that would have been taken meanwhile.
pub fn record_us_corrected(h: &mut Histogram<u64>, d: Duration, expected_interval: Duration) {
    let _ = h.record_correct(clamp_us(d), clamp_us(expected_interval));
}

fn clamp_us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

/// One arbiter's share of metrics since the last take.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub counters: Counters,
    pub hist: Histograms,
    /// Close frames received from the server, by close code.
    pub close_codes: BTreeMap<u16, u64>,
}

impl Metrics {
    pub fn add(&mut self, other: &Metrics) {
        self.counters.add(&other.counters);
        self.hist.add(&other.hist);
        for (code, n) in &other.close_codes {
            *self.close_codes.entry(*code).or_default() += n;
        }
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
