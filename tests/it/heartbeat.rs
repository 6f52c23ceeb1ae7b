//! Heartbeat transitions against a scripted server: what resets the timeout, miss tolerance,
//! and detection of a server that stops acking.

use crate::common::*;
use wschaos::scenario::*;

fn text_client(server: &TestServer, duration_ms: u64) -> Scenario {
    let mut s = scenario(server.url(), 1, ms(duration_ms));
    s.clients.heartbeat.mode = text_heartbeat(HEARTBEAT, ACK);
    s
}

#[test]
fn reset_on_any_is_kept_alive_by_other_messages_but_reset_on_ack_is_not() {
    // The server never acks, but sends a non-ack text every 100 ms.
    let behaviour = Behaviour {
        ack_first: Some(0),
        chatter: Some(ms(100)),
        ..Behaviour::default()
    };

    let any_server = TestServer::start(behaviour.clone());
    let mut any = text_client(&any_server, 2000);
    any.clients.heartbeat.reset_on = ResetOn::Any;
    any.clients.heartbeat.timeout = ms(300);
    let any = run_scenario(any).report;
    assert_eq!(any.counters.disconnects_heartbeat_timeout, 0);
    assert_eq!(any.counters.heartbeat_acks, 0);
    assert!(any.counters.heartbeats_sent >= 5);
    assert_eq!(any_server.connections().len(), 1, "never reconnected");

    let ack_server = TestServer::start(behaviour);
    let mut ack = text_client(&ack_server, 2000);
    ack.clients.heartbeat.reset_on = ResetOn::Ack;
    ack.clients.heartbeat.timeout = ms(300);
    let ack = run_scenario(ack).report;
    assert!(ack.counters.disconnects_heartbeat_timeout >= 1);
    assert!(
        ack_server.connections().len() >= 2,
        "reconnected after the timeout"
    );
}

#[test]
fn max_missed_three_closes_after_the_third_consecutive_miss_not_before() {
    let server = TestServer::start(Behaviour {
        ack_first: Some(0),
        ..Behaviour::default()
    });
    let mut s = text_client(&server, 1500);
    // Heartbeats at 0, 200, 400 ms (after the random offset); misses at 100, 300, 500 ms.
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(100);
    s.clients.heartbeat.max_missed = 3;
    s.clients.reconnect.initial = ms(5000); // one connection is enough to look at
    let report = run_scenario(s).report;

    let first = &server.connections()[0];
    assert_eq!(
        first.heartbeats.len(),
        3,
        "dropped after the third miss, before a fourth heartbeat"
    );
    assert_eq!(report.counters.disconnects_heartbeat_timeout, 1);
    assert_eq!(report.counters.heartbeat_misses, 3);
    let ended = first.ended.expect("connection ended");
    assert!(
        ended >= first.heartbeats[2] + ms(90),
        "not before the third timeout"
    );
}

#[test]
fn an_ack_between_misses_resets_the_count() {
    // Every third heartbeat is acked: two misses, an ack, two misses, ... never three in a row.
    let server = TestServer::start(Behaviour {
        ack_every: 3,
        ..Behaviour::default()
    });
    let mut s = text_client(&server, 2500);
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(100);
    s.clients.heartbeat.max_missed = 3;
    let report = run_scenario(s).report;

    assert_eq!(report.counters.disconnects_heartbeat_timeout, 0);
    assert!(
        report.counters.heartbeat_misses >= 4,
        "{:?}",
        report.counters
    );
    assert!(report.counters.heartbeat_acks >= 2);
    assert_eq!(server.connections().len(), 1);
}

#[test]
fn a_server_that_acks_four_heartbeats_then_goes_quiet_is_detected_after_the_fifth_timeout() {
    // Seed 003's test server: answers four heartbeats, then stays silent with the socket open.
    let server = TestServer::start(Behaviour {
        ack_first: Some(4),
        ..Behaviour::default()
    });
    let mut s = text_client(&server, 2000);
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(300);
    s.clients.heartbeat.max_missed = 1;
    let report = run_scenario(s).report;

    let conns = server.connections();
    let first = &conns[0];
    let fifth = first.heartbeats[4];
    let ended = first.ended.expect("first connection ended");
    assert!(
        ended >= fifth + ms(280),
        "detected only after heartbeat 5's timeout"
    );
    assert!(
        ended < fifth + ms(300 + 2 * 200),
        "detected at heartbeat 5's timeout"
    );
    assert_eq!(report.counters.disconnects_heartbeat_timeout, 1);
    assert_eq!(report.counters.reconnects, 1, "one reconnect, not two");
    assert_eq!(conns.len(), 2);
    assert_eq!(
        report.histograms["heartbeat_rtt"].count,
        4 + 4.min(conns[1].heartbeats.len() as u64)
    );
}

#[test]
fn ping_mode_uses_protocol_pings_and_measures_rtt() {
    let server = TestServer::start(Behaviour::default());
    let mut s = scenario(server.url(), 3, ms(1200));
    s.clients.heartbeat.mode = HeartbeatMode::Ping;
    let report = run_scenario(s).report;
    assert!(report.counters.heartbeat_acks >= 9);
    assert_eq!(
        report.counters.heartbeat_acks,
        report.histograms["heartbeat_rtt"].count
    );
    assert_eq!(report.ratios.heartbeat_delivered, 1.0);
    assert!(server.connections().iter().all(|c| c.heartbeats.len() >= 3));
}
