//! Hostile servers: a short run against each ends on time, every client stops cleanly, and the
//! report counts the cause under the right name.

use std::time::{Duration, Instant};

use crate::common::hostile::{Hostile, HostileServer};
use crate::common::*;
use wschaos::report::Report;

const CLIENTS: u32 = 2;
const DURATION_MS: u64 = 1500;

/// Runs two clients against `behaviour` and checks what holds for every hostile server.
fn run_against(behaviour: Hostile) -> Report {
    let server = HostileServer::start(behaviour);
    let mut s = scenario(server.url(), CLIENTS, ms(DURATION_MS));
    s.clients.connect_timeout = ms(500);
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(300);
    s.clients.reconnect.initial = ms(100);
    let started = Instant::now();
    let report = run_scenario(s).report;
    let took = started.elapsed();
    assert!(
        took < ms(DURATION_MS) + Duration::from_secs(3),
        "{behaviour:?}: the run took {took:?}"
    );
    assert_eq!(
        report.counters.clients_stopped,
        u64::from(CLIENTS),
        "{behaviour:?}: every client stopped: {:?}",
        report.counters
    );
    assert!(server.accepted() >= 1, "{behaviour:?}: never dialled");
    report
}

#[test]
fn a_failed_upgrade_is_a_connect_failure() {
    for behaviour in [Hostile::NoUpgrade, Hostile::Ok200, Hostile::WrongAccept] {
        let c = run_against(behaviour).counters;
        assert_eq!(c.clients_connected, 0, "{behaviour:?}: {c:?}");
        assert!(c.connect_failures >= 2, "{behaviour:?}: {c:?}");
    }
}

#[test]
fn a_broken_frame_is_a_protocol_error() {
    for behaviour in [
        Hostile::GarbageAfterUpgrade,
        Hostile::MaskedFrame,
        Hostile::ReservedOpcode,
        Hostile::FragmentedControl,
    ] {
        let c = run_against(behaviour).counters;
        assert!(c.clients_connected >= 1, "{behaviour:?}: {c:?}");
        assert!(c.disconnects_protocol_error >= 1, "{behaviour:?}: {c:?}");
        assert_eq!(
            c.disconnects_protocol_error,
            c.disconnects(),
            "{behaviour:?}: nothing else: {c:?}"
        );
    }
}

#[test]
fn a_server_that_never_answers_is_a_heartbeat_timeout_even_while_it_floods_pings() {
    for behaviour in [Hostile::IgnoresPings, Hostile::PingFlood] {
        let c = run_against(behaviour).counters;
        assert!(c.clients_connected >= 1, "{behaviour:?}: {c:?}");
        assert_eq!(c.heartbeat_acks, 0, "{behaviour:?}: {c:?}");
        assert!(c.disconnects_heartbeat_timeout >= 1, "{behaviour:?}: {c:?}");
    }
}

#[test]
fn a_valid_close_code_is_counted_under_its_code() {
    for code in [1000, 1001, 1011, 3000, 4999] {
        let report = run_against(Hostile::CloseCode(code));
        let c = &report.counters;
        assert!(c.disconnects_close_frame >= 1, "{code}: {c:?}");
        assert_eq!(
            report.close_codes.get(&code.to_string()).copied(),
            Some(c.disconnects_close_frame),
            "{code}: {:?}",
            report.close_codes
        );
    }
}

#[test]
fn a_reset_mid_frame_is_an_io_error() {
    let c = run_against(Hostile::ResetMidFrame).counters;
    assert!(c.clients_connected >= 1, "{c:?}");
    assert!(c.disconnects_io_error >= 1, "{c:?}");
}

#[test]
fn an_invalid_close_code_is_a_protocol_error() {
    for code in [0, 999, 1005, 1006, 1015, 5000] {
        let c = run_against(Hostile::CloseCode(code)).counters;
        assert!(c.disconnects_protocol_error >= 1, "{code}: {c:?}");
        assert_eq!(c.disconnects_close_frame, 0, "{code}: {c:?}");
    }
}
