//! What a client counts: one function per event of its state machine, each recording into the
//! metrics of the client's own arbiter (`metrics::record`: a thread-local, no lock shared by all
//! clients, no histogram per client). The transitions in `actor` say what happened; this file
//! says how it is counted.

use std::time::{Duration, Instant};

use super::commands::FaultStarted;
use super::connection::{ConnectError, ConnectTimes};
use super::live::Outbound;
use super::stream::{Followed, Seen};
use crate::metrics::{self, ATTEMPT_WINDOW, record_us, record_us_corrected, slot};

/// Why an open connection ended (each cause has its own disconnect counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    HeartbeatTimeout,
    CloseFrame(u16),
    IoError,
    /// A TLS alert or failure on an open connection.
    TlsError,
    ProtocolError,
    ServerGone,
    Dropped,
    SendTimeout,
    /// The server did not answer an `on_open` item as expected in time.
    HandshakeRejected,
    /// graphql-ws: the server did not acknowledge `connection_init`.
    NoConnectionAck,
}

/// A connection that came back after a loss.
#[derive(Debug, Clone, Copy)]
pub struct Reopen {
    /// From the loss to this open.
    pub took: Duration,
    /// Connect attempts it needed.
    pub attempts: u32,
    /// The fault that cost the connection, if one did.
    pub fault: Option<FaultStarted>,
}

pub fn client_started() {
    metrics::record(|m| m.counters.clients_started += 1);
}

pub fn client_stopped() {
    metrics::record(|m| m.counters.clients_stopped += 1);
}

/// A connect attempt starts `at`; attempts are also counted per window from the run's start.
pub fn connect_attempt(run_started: Instant, at: Instant) {
    let window = (at.saturating_duration_since(run_started).as_millis()
        / ATTEMPT_WINDOW.as_millis()) as usize;
    metrics::record(|m| {
        m.counters.connect_attempts += 1;
        m.attempts.bump(window);
    });
}

/// A failed attempt, counted by cause: a timeout, TLS, an HTTP status instead of 101, or the
/// tool's own lack of descriptors or ports (besides the total).
pub fn connect_failed(err: &ConnectError) {
    let timed_out = matches!(err, ConnectError::Timeout);
    let tls = matches!(err, ConnectError::Tls(_));
    let local = out_of_local_resources(err);
    let extension = matches!(err, ConnectError::Extension(_));
    let rejected = matches!(err, ConnectError::Rejected(_));
    metrics::record(|m| {
        m.counters.connect_failures += 1;
        m.counters.connect_failures_rejected += u64::from(rejected);
        m.counters.connect_failures_extension += u64::from(extension);
        m.counters.connect_timeouts += u64::from(timed_out);
        m.counters.connect_failures_tls += u64::from(tls);
        m.counters.connect_failures_local += u64::from(local);
    });
}

/// True when the attempt failed on this machine's limits, before the target had a say: no
/// descriptor for the socket (EMFILE: this process, ENFILE: the system) or no local address
/// and port to connect from (EADDRNOTAVAIL, EADDRINUSE).
fn out_of_local_resources(err: &ConnectError) -> bool {
    let ConnectError::Io(io) = err else {
        return false;
    };
    matches!(
        io.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EADDRNOTAVAIL | libc::EADDRINUSE)
    )
}

/// The first TLS failure of the process goes to the log as a warning (a certificate the
/// clients do not trust fails every attempt the same way: once is enough to say why).
pub fn warn_tls_once(err: &rustls::Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| tracing::warn!("TLS failed: {err} (counted as tls_error)"));
}

/// The first extension negotiation failure of the process goes to the log as a warning: a
/// server that answers the offer wrongly does so on every attempt.
pub fn warn_extension_once(why: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "extension negotiation failed: {why} (counted as connect_failures_extension)"
        )
    });
}

/// The server accepted permessage-deflate on a connection just opened.
pub fn compression_negotiated() {
    metrics::record(|m| m.counters.compression_negotiated += 1);
}

/// An attempt opened at `now` after `connect_time` (its phases in `times`); `first` if the
/// client was never open before.
pub fn opened(
    now: Instant,
    connect_time: Duration,
    times: ConnectTimes,
    first: bool,
    reopen: Option<Reopen>,
) {
    metrics::record(|m| {
        m.counters.connects += 1;
        if first {
            m.counters.clients_connected += 1;
            m.last_first_open = Some(now);
        }
        record_us(&mut m.hist.connect_time, connect_time);
        record_us(&mut m.hist.tcp_connect_time, times.tcp);
        if let Some(tls) = times.tls {
            record_us(&mut m.hist.tls_handshake_time, tls);
        }
        record_us(&mut m.hist.upgrade_time, times.upgrade);
        let Some(reopen) = reopen else { return };
        m.counters.reconnects += 1;
        record_us(&mut m.hist.reconnect_time, reopen.took);
        slot(&mut m.hist.reconnect_attempts).saturating_record(u64::from(reopen.attempts));
        if let Some(f) = reopen.fault {
            let share = m.fault(f.fault);
            share.reopened += 1;
            record_us(&mut share.reopen, now.saturating_duration_since(f.at));
            slot(&mut share.attempts).saturating_record(u64::from(reopen.attempts));
        }
    });
}

/// An open connection ended at `now` for `cause`, with `lost_messages` unanswered; `noticed` is
/// the fault it was under, if any (its detection time counts from the fault's start).
pub fn lost(cause: Cause, now: Instant, lost_messages: u64, noticed: Option<FaultStarted>) {
    metrics::record(|m| {
        let c = &mut m.counters;
        match cause {
            Cause::HeartbeatTimeout => c.disconnects_heartbeat_timeout += 1,
            Cause::CloseFrame(_) => c.disconnects_close_frame += 1,
            Cause::IoError => c.disconnects_io_error += 1,
            Cause::TlsError => c.disconnects_tls_error += 1,
            Cause::ProtocolError => c.disconnects_protocol_error += 1,
            Cause::ServerGone => c.disconnects_server_gone += 1,
            Cause::Dropped => c.disconnects_dropped += 1,
            Cause::SendTimeout => c.disconnects_send_timeout += 1,
            Cause::HandshakeRejected => c.disconnects_handshake_rejected += 1,
            Cause::NoConnectionAck => c.disconnects_no_connection_ack += 1,
        }
        c.messages_lost += lost_messages;
        if let Some(f) = noticed {
            let detection = now.saturating_duration_since(f.at);
            record_us(&mut m.hist.detection, detection);
            let share = m.fault(f.fault);
            share.noticed += 1;
            share.messages_lost += lost_messages;
            record_us(&mut share.detection, detection);
        }
    });
}

/// The server sent a close frame with `code` (1005: none given).
pub fn close_frame(code: u16) {
    metrics::record(|m| *m.close_codes.entry(code).or_default() += 1);
}

pub fn gave_up() {
    metrics::record(|m| m.counters.gave_up += 1);
}

pub fn closed_manually() {
    metrics::record(|m| m.counters.closed_manually += 1);
}

/// Manually closed while lost and not back yet: the reconnect the run's end prevented.
pub fn reconnect_pending_at_end() {
    metrics::record(|m| m.counters.reconnects_pending_at_end += 1);
}

pub fn heartbeat_sent() {
    metrics::record(|m| m.counters.heartbeats_sent += 1);
}

pub fn heartbeat_missed() {
    metrics::record(|m| m.counters.heartbeat_misses += 1);
}

/// An ack arrived; `rtt` if its heartbeat was still remembered, corrected for coordinated
/// omission at `interval`.
pub fn heartbeat_acked(rtt: Option<Duration>, interval: Duration) {
    metrics::record(|m| {
        m.counters.heartbeat_acks += 1;
        if let Some(rtt) = rtt {
            record_us_corrected(&mut m.hist.heartbeat_rtt, rtt, interval);
        }
    });
}

pub fn message_sent() {
    metrics::record(|m| m.counters.messages_sent += 1);
}

/// A message found its connection's send queue full and was not sent.
pub fn message_dropped() {
    metrics::record(|m| m.counters.messages_dropped_backpressure += 1);
}

/// Heartbeats and messages whose last byte the socket took, each with its send lag (due ->
/// written).
pub fn frames_written(written: impl Iterator<Item = (Outbound, Duration)>) {
    metrics::record(|m| {
        for (kind, lag) in written {
            let h = match kind {
                Outbound::Heartbeat => &mut m.hist.send_lag_heartbeat,
                Outbound::Message => &mut m.hist.send_lag_message,
            };
            record_us(h, lag);
        }
    });
}

pub fn message_echoed(rtt: Duration) {
    metrics::record(|m| {
        m.counters.messages_received += 1;
        record_us(&mut m.hist.message_rtt, rtt);
    });
}

/// graphql-ws: the server acknowledged `connection_init` after `took`.
pub fn connection_acked(took: Duration) {
    metrics::record(|m| record_us(&mut m.hist.connection_ack_time, took));
}

/// graphql-ws: the server sent `error` (`complete: false`) or `complete` for the subscription.
pub fn subscription_ended(complete: bool) {
    metrics::record(|m| {
        if complete {
            m.counters.graphql_ws_completes += 1;
        } else {
            m.counters.graphql_ws_errors += 1;
        }
    });
}

/// graphql-ws: the server sent a `ping` (answered with a `pong`).
pub fn server_pinged() {
    metrics::record(|m| m.counters.graphql_ws_server_pings += 1);
}

/// A frame the server pushed; `followed` when `clients.stream` says where its numbers are.
pub fn pushed(followed: Option<Followed>) {
    metrics::record(|m| {
        m.counters.push_received += 1;
        let Some(f) = followed else { return };
        let c = &mut m.counters;
        c.push_unparsed += u64::from(f.unparsed);
        match f.seen {
            Some(Seen::Gap(missing)) => c.push_gaps += missing,
            Some(Seen::Duplicate) => c.push_duplicates += 1,
            Some(Seen::Reordered) => c.push_reordered += 1,
            Some(Seen::First | Seen::Next) | None => {}
        }
        if let Some((missed, fault)) = f.missed_across {
            c.push_missed_across_outage += missed;
            if let Some(fault) = fault {
                m.fault(fault).push_missed += missed;
            }
        }
        if let Some(latency) = f.latency_us {
            record_us(&mut m.hist.push_latency, Duration::from_micros(latency));
        }
    });
}

/// A Socket.IO server ping, answered; `gap`: since the connection's previous ping (the
/// server's ping interval as observed).
pub fn socketio_ping(gap: Option<Duration>) {
    metrics::record(|m| {
        m.counters.socketio_pings += 1;
        if let Some(gap) = gap {
            record_us(&mut m.hist.socketio_ping_gap, gap);
        }
    });
}

/// A Socket.IO namespace refused the connect (`44`); the first refusal of the process goes to
/// the log with the server's message.
pub fn socketio_refused(message: &[u8]) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        let message = String::from_utf8_lossy(&message[..message.len().min(200)]);
        tracing::warn!(
            "Socket.IO namespace refused the connect: {message} (counted as \
             socketio_connect_errors and disconnects_handshake_rejected)"
        )
    });
    metrics::record(|m| m.counters.socketio_connect_errors += 1);
}

/// The Socket.IO server closed the session (`1`) or the namespace (`41`).
pub fn socketio_server_disconnect() {
    metrics::record(|m| m.counters.socketio_server_disconnects += 1);
}

/// The server does not speak Socket.IO as expected; the first time goes to the log.
pub fn socketio_invalid(why: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!("not a Socket.IO server: {why} (counted as disconnects_protocol_error)")
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::take_local;

    #[test]
    fn each_cause_counts_as_its_own_disconnect_and_a_noticed_fault_gets_the_detection() {
        take_local();
        let now = Instant::now();
        for cause in [
            Cause::HeartbeatTimeout,
            Cause::CloseFrame(4000),
            Cause::IoError,
            Cause::TlsError,
            Cause::ProtocolError,
            Cause::ServerGone,
            Cause::Dropped,
            Cause::SendTimeout,
            Cause::HandshakeRejected,
            Cause::NoConnectionAck,
        ] {
            lost(cause, now, 0, None);
        }
        let fault = FaultStarted {
            fault: 2,
            at: now - Duration::from_millis(30),
        };
        lost(Cause::IoError, now, 3, Some(fault));
        let m = take_local();
        let c = &m.counters;
        assert_eq!(
            [
                c.disconnects_heartbeat_timeout,
                c.disconnects_close_frame,
                c.disconnects_io_error,
                c.disconnects_tls_error,
                c.disconnects_protocol_error,
                c.disconnects_server_gone,
                c.disconnects_dropped,
                c.disconnects_send_timeout,
                c.disconnects_handshake_rejected,
                c.disconnects_no_connection_ack,
            ],
            [1, 1, 2, 1, 1, 1, 1, 1, 1, 1]
        );
        assert_eq!(c.messages_lost, 3);
        assert_eq!(m.faults[2].noticed, 1);
        assert_eq!(m.faults[2].messages_lost, 3);
        let detection = m.hist.detection.expect("detection recorded");
        assert_eq!(detection.len(), 1);
        assert!(detection.max() >= 30_000);
    }

    #[test]
    fn a_pushed_frame_counts_its_gap_duplicate_or_reordering_and_what_an_outage_cost() {
        take_local();
        pushed(None);
        let followed = |seen, missed_across, latency_us| Followed {
            seen: Some(seen),
            missed_across,
            latency_us,
            unparsed: false,
        };
        pushed(Some(followed(Seen::First, Some((7, Some(1))), Some(2_000))));
        pushed(Some(followed(Seen::Gap(3), None, None)));
        pushed(Some(followed(Seen::Duplicate, None, None)));
        pushed(Some(followed(Seen::Reordered, None, None)));
        pushed(Some(followed(Seen::First, Some((2, None)), None)));
        pushed(Some(Followed {
            seen: None,
            missed_across: None,
            latency_us: None,
            unparsed: true,
        }));
        let m = take_local();
        let c = &m.counters;
        assert_eq!(c.push_received, 7);
        assert_eq!(
            [
                c.push_gaps,
                c.push_duplicates,
                c.push_reordered,
                c.push_unparsed
            ],
            [3, 1, 1, 1]
        );
        assert_eq!(c.push_missed_across_outage, 9);
        assert_eq!(m.faults[1].push_missed, 7, "only the fault's share");
        let latency = m.hist.push_latency.expect("latency recorded");
        assert_eq!(latency.len(), 1);
        assert!(latency.max() >= 1_990);
    }

    #[test]
    fn a_connect_failure_for_lack_of_descriptors_or_ports_counts_as_local() {
        take_local();
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::EADDRNOTAVAIL,
            libc::EADDRINUSE,
        ] {
            connect_failed(&ConnectError::Io(std::io::Error::from_raw_os_error(errno)));
        }
        connect_failed(&ConnectError::Io(std::io::Error::from_raw_os_error(
            libc::ECONNREFUSED,
        )));
        connect_failed(&ConnectError::Timeout);
        let c = take_local().counters;
        assert_eq!(c.connect_failures, 6);
        assert_eq!(c.connect_failures_local, 4);
        assert_eq!(c.connect_timeouts, 1);
    }

    #[test]
    fn a_reopen_counts_a_reconnect_and_the_fault_recovery_but_a_first_open_does_not() {
        take_local();
        let now = Instant::now();
        let ms = Duration::from_millis;
        let times = ConnectTimes {
            tcp: ms(1),
            tls: None,
            upgrade: ms(1),
        };
        opened(now, ms(2), times, true, None);
        let fault = FaultStarted {
            fault: 0,
            at: now - ms(50),
        };
        let reopen = Reopen {
            took: ms(40),
            attempts: 3,
            fault: Some(fault),
        };
        let tls = ConnectTimes {
            tls: Some(ms(3)),
            ..times
        };
        opened(now, ms(2), tls, false, Some(reopen));
        let m = take_local();
        let handshakes = m
            .hist
            .tls_handshake_time
            .as_ref()
            .expect("handshake recorded");
        assert_eq!(handshakes.len(), 1, "a ws:// open records no handshake");
        assert_eq!(m.hist.tcp_connect_time.as_ref().map(|h| h.len()), Some(2));
        assert_eq!(m.counters.connects, 2);
        assert_eq!(m.counters.clients_connected, 1);
        assert_eq!(m.counters.reconnects, 1);
        assert_eq!(m.faults[0].reopened, 1);
        let attempts = m.hist.reconnect_attempts.expect("attempts recorded");
        assert_eq!(attempts.max(), 3);
    }
}
