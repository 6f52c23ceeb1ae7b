//! Send timing: every heartbeat and message written counts one send-lag sample, the precise
//! timer (a `timer_resolution` below 1 ms, the default) loses no heartbeat, and a coarse
//! `timer_resolution` gathers a fleet's heartbeats into fewer send instants.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;
use wschaos::scenario::*;

#[test]
fn every_heartbeat_and_message_written_counts_one_send_lag_sample() {
    for rate in [MessageRate::PerSecond(20.0), MessageRate::Closed] {
        let mut s = scenario(TargetUrl::Embedded, 10, ms(1500));
        s.clients.heartbeat.interval = ms(100);
        s.clients.messages = Some(Messages { rate, size: 64 });
        let report = run_scenario(s).report;
        let c = &report.counters;
        let heartbeats = &report.histograms["send_lag_heartbeat"];
        let messages = &report.histograms["send_lag_message"];
        assert!(c.heartbeats_sent >= 10 * 10, "{rate:?}: {c:?}");
        assert_eq!(heartbeats.count, c.heartbeats_sent, "{rate:?}");
        assert!(c.messages_sent >= 10 * 20, "{rate:?}: {c:?}");
        assert_eq!(messages.count, c.messages_sent, "{rate:?}");
        assert_eq!(c.disconnects(), 0, "{rate:?}: {c:?}");
        // A second's p99 never exceeds the run's largest lag.
        let worst = heartbeats.max.max(messages.max);
        assert!(report.timeline.iter().any(|p| p.send_lag_p99_us > 0));
        assert!(
            report
                .timeline
                .iter()
                .all(|p| p.send_lag_p99_us <= worst + worst / 100),
            "{rate:?}"
        );
    }
}

/// With the precise timer (the default on Linux, and any `timer_resolution` below 1 ms) every
/// heartbeat due is sent, reaches the server, is acked, and counts one send-lag sample.
#[test]
fn with_the_precise_timer_every_heartbeat_is_sent_acked_and_counted_once() {
    for resolution in [
        wschaos::client::DEFAULT_TIMER_RESOLUTION,
        Duration::ZERO,
        Duration::from_micros(250),
    ] {
        let server = TestServer::start(Behaviour::default());
        let clients = 20;
        let mut s = scenario(server.url(), clients, ms(1500));
        s.clients.heartbeat.mode = text_heartbeat(HEARTBEAT, ACK);
        s.clients.heartbeat.interval = ms(50);
        s.clients.heartbeat.timeout = ms(1000);
        s.clients.timer_resolution = resolution;
        let report = run_scenario(s).report;
        let c = &report.counters;
        assert_eq!(c.clients_connected, u64::from(clients), "{resolution:?}");
        let per_connection: Vec<usize> = server
            .connections()
            .iter()
            .map(|conn| conn.heartbeats.len())
            .collect();
        // 1.5 s of 50 ms heartbeats is 30 a client; a clock that lost its wakeup would send
        // one or two.
        assert!(
            per_connection.iter().all(|&sent| sent >= 5),
            "{resolution:?}: heartbeats per connection {per_connection:?}"
        );
        assert_eq!(c.heartbeat_misses, 0, "{resolution:?}: {c:?}");
        assert_eq!(c.disconnects(), 0, "{resolution:?}: {c:?}");
        assert_eq!(c.heartbeat_acks, c.heartbeats_sent, "{resolution:?}");
        assert_eq!(
            report.histograms["send_lag_heartbeat"].count, c.heartbeats_sent,
            "{resolution:?}"
        );
        let received: usize = per_connection.iter().sum();
        assert_eq!(received as u64, c.heartbeats_sent, "{resolution:?}");
    }
}

#[test]
fn a_run_without_messages_has_an_empty_message_send_lag_in_every_report_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = scenario(TargetUrl::Embedded, 3, ms(1500));
    s.clients.heartbeat.interval = ms(100);
    let finished = run_scenario_in(s, dir.path(), wschaos::run::RunOptions::default());
    let json = read_json(&finished.dir.join("report.json"));
    assert!(json["histograms"]["send_lag_heartbeat"]["count"].as_u64() > Some(0));
    assert_eq!(json["histograms"]["send_lag_message"]["count"], 0);
    assert!(json["timeline"][0]["send_lag_p99_us"].is_u64());
    let summary = std::fs::read_to_string(finished.dir.join("summary.md")).expect("summary.md");
    assert!(summary.contains("| send_lag_heartbeat |"), "{summary}");
    assert!(summary.contains("| send_lag_message | 0 |"), "{summary}");
    let html = std::fs::read_to_string(finished.dir.join("report.html")).expect("report.html");
    assert!(html.contains("<td>send_lag_heartbeat</td>"));
    let terminal = wschaos::report::render_summary(&finished.report);
    assert!(terminal.contains("send_lag_heartbeat"), "{terminal}");
}

/// Distinct milliseconds (from the first) in which the server saw a heartbeat, over every
/// connection of `clients` clients heartbeating every 100 ms with `resolution`.
fn heartbeat_instants(clients: u32, resolution: Duration) -> usize {
    let server = TestServer::start(Behaviour::default());
    let mut s = scenario(server.url(), clients, ms(1200));
    s.clients.heartbeat.mode = text_heartbeat(HEARTBEAT, ACK);
    s.clients.heartbeat.interval = ms(100);
    s.clients.timer_resolution = resolution;
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, u64::from(clients));
    let arrivals: Vec<_> = server
        .connections()
        .into_iter()
        .flat_map(|c| c.heartbeats)
        .collect();
    assert!(arrivals.len() >= clients as usize * 5, "{}", arrivals.len());
    let Some(first) = arrivals.iter().min().copied() else {
        return 0;
    };
    let buckets: BTreeSet<u128> = arrivals
        .iter()
        .map(|at| (*at - first).as_millis())
        .collect();
    buckets.len()
}

#[test]
fn a_coarse_timer_resolution_sends_a_fleets_heartbeats_at_fewer_instants() {
    // 100 clients at 10 heartbeats per second with random first offsets: sent when due they
    // land in most milliseconds; on a 10 ms grid in about one of ten.
    let exact = heartbeat_instants(100, Duration::ZERO);
    let coarse = heartbeat_instants(100, ms(10));
    assert!(
        coarse * 2 < exact,
        "10ms grid: {coarse} instants, exact: {exact}"
    );
}
