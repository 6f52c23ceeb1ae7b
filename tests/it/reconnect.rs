//! Reconnect transitions: give-up after max_attempts, attempt counter reset on open, exactly one
//! reconnect per loss, and manual close never reconnecting; plus every other edge of the state
//! machine (connect timeout, the backoff delay, each way an open connection can end, manual close
//! while connecting or backing off) against raw servers that misbehave on cue.

use std::io::Write;
use std::net::TcpStream;

use crate::common::hostile::*;
use crate::common::*;
use wschaos::report::Report;
use wschaos::scenario::*;

/// One client without heartbeats (raw servers do not answer them unless asked).
fn quiet(url: TargetUrl, duration_ms: u64) -> Scenario {
    let mut s = scenario(url, 1, ms(duration_ms));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s
}

#[test]
fn max_attempts_three_against_a_closed_port_gives_up_after_exactly_three_attempts() {
    let mut s = scenario(ws_url(closed_port()), 1, ms(2000));
    s.clients.reconnect.max_attempts = 3;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connect_attempts, 3);
    assert_eq!(c.connect_failures, 3);
    assert_eq!(c.gave_up, 1);
    assert_eq!(c.clients_connected, 0);
    assert_eq!(c.clients_stopped, 1, "a client that gave up has stopped");
}

#[test]
fn a_successful_open_resets_the_attempt_count() {
    // Every connection is closed by the server after 150 ms: more losses than max_attempts,
    // but each reconnect opens, so the client never gives up.
    let server = TestServer::start(Behaviour {
        close_after: Some(ms(150)),
        close_code: 4000,
        ..Behaviour::default()
    });
    let mut s = scenario(server.url(), 1, ms(2000));
    s.clients.reconnect.max_attempts = 2;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.gave_up, 0);
    assert!(c.reconnects >= 4, "{c:?}");
    assert_eq!(c.connect_failures, 0);
}

#[test]
fn a_server_close_produces_exactly_one_reconnect() {
    // The server sends close 4000 and drops the socket: the client sees both a close frame and
    // the end of the stream, and must reconnect once (the seeds' lockReconnect).
    let server = TestServer::start(Behaviour {
        close_after: Some(ms(300)),
        close_code: 4000,
        close_connections: 1,
        ..Behaviour::default()
    });
    let s = scenario(server.url(), 1, ms(1500));
    let report = run_scenario(s).report;
    assert_eq!(report.counters.disconnects_close_frame, 1);
    assert_eq!(report.counters.disconnects(), 1);
    assert_eq!(report.counters.reconnects, 1);
    assert_eq!(report.close_codes.get("4000"), Some(&1));
    assert_eq!(server.connections().len(), 2);
}

#[test]
fn manual_close_at_the_end_sends_1000_and_never_reconnects() {
    let server = TestServer::start(Behaviour::default());
    let s = scenario(server.url(), 20, ms(800));
    let report = run_scenario(s).report;
    std::thread::sleep(ms(500)); // a reconnect would show up here
    let conns = server.connections();
    assert_eq!(conns.len(), 20);
    assert!(
        conns.iter().all(|c| c.client_close == Some(1000)),
        "{conns:?}"
    );
    assert_eq!(report.counters.reconnects, 0);
    assert_eq!(report.counters.closed_manually, 20);
    assert_eq!(report.counters.clients_stopped, 20);
}

#[test]
fn drop_close_sends_1001_and_drop_reset_sends_no_close_frame_and_both_reconnect() {
    for (mode, code) in [(DropMode::Close, Some(1001)), (DropMode::Reset, None)] {
        let server = TestServer::start(Behaviour::default());
        let mut s = scenario(server.url(), 10, ms(1500));
        s.faults = vec![fault(500, FaultKind::Drop { mode })];
        let report = run_scenario(s).report;
        assert_eq!(report.counters.disconnects_dropped, 10, "{mode:?}");
        assert_eq!(report.counters.reconnects, 10, "{mode:?}");
        assert_eq!(report.faults[0].connections_cut, 10);
        let conns = server.connections();
        assert_eq!(conns.len(), 20);
        assert!(
            conns[..10].iter().all(|c| c.client_close == code),
            "{mode:?}: {conns:?}"
        );
    }
}

#[test]
fn an_upgrade_that_never_comes_times_out_into_backoff() {
    // Connecting --timeout--> Backoff: the server takes the request and never answers.
    let server = RawServer::start(|mut stream, _| {
        let _ = read_request(&mut stream);
        std::thread::sleep(ms(3000));
    });
    let mut s = quiet(server.url(), 1500);
    s.clients.connect_timeout = ms(200);
    s.clients.reconnect.max_attempts = 2;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connect_attempts, 2, "{c:?}");
    assert_eq!(c.connect_timeouts, 2, "{c:?}");
    assert_eq!(c.connect_failures, 2, "{c:?}");
    assert_eq!(c.gave_up, 1);
    assert_eq!(server.accepted().len(), 2);
}

#[test]
fn backoff_waits_its_delay_before_the_next_attempt() {
    // Connecting --fail--> Backoff --delay--> Connecting: the server hangs up on every request.
    let server = RawServer::start(|mut stream, _| {
        let _ = read_request(&mut stream);
    });
    let mut s = quiet(server.url(), 2000);
    s.clients.reconnect.initial = ms(300);
    s.clients.reconnect.max_attempts = 3;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connect_failures, 3, "{c:?}");
    assert_eq!(c.gave_up, 1);
    let accepted = server.accepted();
    assert_eq!(accepted.len(), 3);
    for pair in accepted.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= ms(290), "attempt {gap:?} after the previous one");
        assert!(gap < ms(900), "attempt {gap:?} after the previous one");
    }
}

/// The first connection opens and then `end` ends it; later ones are served until the run ends.
fn first_connection_ends(end: fn(&mut TcpStream)) -> (Report, usize) {
    let server = RawServer::start(move |mut stream, index| {
        if !upgrade(&mut stream) {
            return;
        }
        if index == 0 {
            std::thread::sleep(ms(100));
            end(&mut stream);
        } else {
            serve(&mut stream);
        }
    });
    let report = run_scenario(quiet(server.url(), 1200)).report;
    (report, server.accepted().len())
}

#[test]
fn an_open_connection_reset_by_the_server_is_an_io_error_and_reconnects_once() {
    let (report, accepted) = first_connection_ends(|stream| {
        let _ = socket2::SockRef::from(&*stream).set_linger(Some(ms(0)));
        let _ = stream.shutdown(std::net::Shutdown::Read);
    });
    let c = &report.counters;
    assert_eq!(c.disconnects_io_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(c.reconnects, 1, "{c:?}");
    assert_eq!(accepted, 2);
}

#[test]
fn an_invalid_frame_from_the_server_is_a_protocol_error_and_reconnects_once() {
    let (report, accepted) = first_connection_ends(|stream| {
        let _ = stream.write_all(&frame(0x83, b"")); // opcode 3 is reserved
        std::thread::sleep(ms(500));
    });
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(c.reconnects, 1, "{c:?}");
    assert_eq!(accepted, 2);
}

#[test]
fn a_server_that_hangs_up_without_a_close_frame_is_gone_and_reconnects_once() {
    let (report, accepted) = first_connection_ends(|stream| {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });
    let c = &report.counters;
    assert_eq!(c.disconnects_server_gone, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(c.reconnects, 1, "{c:?}");
    assert_eq!(accepted, 2);
}

#[test]
fn manual_close_during_backoff_stops_without_reconnecting_and_counts_the_pending_reconnect() {
    let server = TestServer::start(Behaviour {
        close_after: Some(ms(100)),
        close_code: 4000,
        ..Behaviour::default()
    });
    let mut s = scenario(server.url(), 1, ms(700));
    s.clients.reconnect.initial = ms(5000);
    s.clients.reconnect.max = ms(5000);
    let c = run_scenario(s).report.counters;
    std::thread::sleep(ms(300)); // a reconnect would show up here
    assert_eq!(c.disconnects_close_frame, 1, "{c:?}");
    assert_eq!(c.reconnects_pending_at_end, 1, "{c:?}");
    assert_eq!(c.clients_stopped, 1);
    assert_eq!(c.closed_manually, 0);
    assert_eq!(server.connections().len(), 1);
}

#[test]
fn manual_close_while_connecting_cancels_the_attempt() {
    let server = RawServer::start(|mut stream, _| {
        let _ = read_request(&mut stream);
        std::thread::sleep(ms(3000));
    });
    let mut s = quiet(server.url(), 500);
    s.clients.connect_timeout = ms(10_000);
    let started = std::time::Instant::now();
    let c = run_scenario(s).report.counters;
    assert!(
        started.elapsed() < ms(2500),
        "the run waited for the attempt: {:?}",
        started.elapsed()
    );
    assert_eq!(c.connect_attempts, 1, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(
        c.reconnects_pending_at_end, 0,
        "never lost, so nothing pending"
    );
    assert_eq!(c.clients_stopped, 1);
}

#[test]
fn manual_close_gives_up_on_a_server_that_never_answers_the_close_frame() {
    // Open --manual close--> Stopped, ended by `close_grace` rather than the server's answer.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = RawServer::start(move |mut stream, _| {
        if !upgrade(&mut stream) {
            return;
        }
        // Reads what comes, answers nothing, keeps the socket open until the client drops it.
        while let Some((op, payload)) = read_frame(&mut stream) {
            if op == 0x8 {
                log.lock().expect("log").push(close_code(&payload));
            }
        }
    });
    let c = run_scenario(quiet(server.url(), 300)).report.counters;
    assert_eq!(c.closed_manually, 1, "{c:?}");
    assert_eq!(c.clients_stopped, 1, "the grace period ended the close");
    assert_eq!(*seen.lock().expect("log"), vec![Some(1000)]);
}
