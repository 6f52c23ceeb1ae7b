//! The upgrade response is checked like awc checks it: a 101 without `Connection: upgrade` is a
//! failed upgrade (a connect failure), not an open connection.

use crate::common::hostile::*;
use crate::common::*;
use wschaos::scenario::HeartbeatMode;

#[test]
fn a_101_without_connection_upgrade_is_a_connect_failure() {
    let server = HostileServer::start(Hostile::NoConnectionUpgrade);
    let mut s = scenario(server.url(), 1, ms(1000));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.reconnect.max_attempts = 2;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert_eq!(c.connect_failures, 2, "{c:?}");
    assert_eq!(c.gave_up, 1);
}

#[test]
fn a_101_with_upgrade_in_a_connection_list_opens() {
    let server = RawServer::start(|mut stream, _| {
        if upgrade_with(&mut stream, Some("keep-alive, upgrade")) {
            serve(&mut stream);
        }
    });
    let mut s = scenario(server.url(), 1, ms(500));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connects, 1, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(c.closed_manually, 1);
}

#[test]
fn a_frame_that_arrives_with_the_101_is_read_at_once() {
    // A close frame 4000 in the same segment as the response, then silence with the socket open.
    let server = RawServer::start(|mut stream, index| {
        if index == 0 && upgrade_and_send(&mut stream, &frame(0x88, &4000u16.to_be_bytes())) {
            std::thread::sleep(ms(3000));
        } else if upgrade(&mut stream) {
            serve(&mut stream);
        }
    });
    let mut s = scenario(server.url(), 1, ms(800));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    let report = run_scenario(s).report;
    assert_eq!(
        report.counters.disconnects_close_frame, 1,
        "{:?}",
        report.counters
    );
    assert_eq!(report.close_codes.get("4000"), Some(&1));
    assert_eq!(report.counters.reconnects, 1);
}
