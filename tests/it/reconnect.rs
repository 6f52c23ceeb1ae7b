//! Reconnect transitions: give-up after max_attempts, attempt counter reset on open, exactly one
//! reconnect per loss, and manual close never reconnecting.

use crate::common::*;
use wschaos::scenario::*;

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
