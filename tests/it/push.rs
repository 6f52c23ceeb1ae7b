//! Server-pushed streams against the embedded server's push mode: what a client counts (gaps,
//! duplicates, reorderings, messages missed across an outage) checked against what the server
//! counted on its side, through a server kill with and without resume and through frame loss
//! in the chaos proxy.

use crate::common::*;
use wschaos::chaos::toxics::FrameLoss;
use wschaos::report::Report;
use wschaos::scenario::*;

/// Messages per second on the stream.
const RATE: f64 = 50.0;

/// `count` clients of the embedded server pushing `RATE` messages a second, following the
/// stream and sending `?since=<last seq>` on reconnect (the server counts what they missed
/// from it, and replays it with `resume`).
fn pushed(count: u32, duration_ms: u64, resume: bool) -> Scenario {
    let mut s = scenario(TargetUrl::Embedded, count, ms(duration_ms));
    s.target.push = Some(Push {
        rate_per_s: RATE,
        size: 96,
        resume,
    });
    s.clients.stream = Some(Stream {
        seq: Place::JsonField("seq".into()),
        sent_at: Some(Place::JsonField("sent_at".into())),
        resume_param: Some("since".into()),
    });
    s
}

fn assert_nothing_lost_inside_connections(report: &Report) {
    let c = &report.counters;
    assert_eq!(
        [
            c.push_gaps,
            c.push_duplicates,
            c.push_reordered,
            c.push_unparsed
        ],
        [0, 0, 0, 0],
        "{c:?}"
    );
    assert!(report.histograms["push_latency"].count > 0);
}

#[test]
fn without_faults_every_pushed_message_arrives_in_order() {
    let report = run_scenario(pushed(3, 1500, false)).report;
    let server = report.server.expect("embedded server counts");
    let c = &report.counters;
    assert_nothing_lost_inside_connections(&report);
    // At 50/s for about 1.5 s, to each of the three.
    assert!(c.push_received >= 3 * 40, "{}", c.push_received);
    assert_eq!(c.push_received, server.pushed, "everything pushed arrived");
    assert_eq!(c.push_missed_across_outage, 0);
    assert_eq!(report.histograms["push_latency"].count, c.push_received);
    let per_second: u64 = report.timeline.iter().map(|p| p.pushed).sum();
    assert!(per_second > 0 && per_second <= c.push_received);
}

#[test]
fn one_timer_serves_hundreds_of_connections_each_tick() {
    // Past tokio's cooperative budget (128 channel operations per task poll): a tick that
    // stopped there would reach fewer than half of these per message.
    let count = 300;
    let report = run_scenario(pushed(count, 2000, false)).report;
    let c = &report.counters;
    assert_eq!(c.clients_connected, u64::from(count));
    let expected = f64::from(count) * RATE * 2.0;
    assert!(
        c.push_received as f64 >= expected * 0.6,
        "{} of about {expected}",
        c.push_received
    );
    assert_nothing_lost_inside_connections(&report);
}

#[test]
fn a_server_kill_costs_each_client_what_the_stream_pushed_while_it_was_away() {
    let count = 4;
    let downtime_ms = 800;
    let mut s = pushed(count, 3000, false);
    s.faults = vec![fault(1000, kill(downtime_ms))];
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(s, dir.path(), Default::default());
    let report = finished.report;
    let server = report.server.expect("embedded server counts");
    let c = &report.counters;
    assert_nothing_lost_inside_connections(&report);
    assert_eq!(report.faults[0].reopened, u64::from(count), "all back");

    // Every summary shows the stream's figures, and the per-fault table what the kill cost.
    let missed_row = format!(
        "| messages missed across the outage | {} |",
        c.push_missed_across_outage
    );
    let summary = std::fs::read_to_string(finished.dir.join("summary.md")).expect("summary.md");
    for part in [
        missed_row.as_str(),
        "| push latency p50 / p99 |",
        "missed in outage",
    ] {
        assert!(summary.contains(part), "{part} not in\n{summary}");
    }
    let html = std::fs::read_to_string(finished.dir.join("report.html")).expect("report.html");
    for part in [
        "Pushed messages",
        "messages missed across the outage",
        "push_latency",
    ] {
        assert!(html.contains(part), "{part} not in report.html");
    }
    let json = read_json(&finished.dir.join("report.json"));
    assert_eq!(
        json["faults"][0]["push_missed"].as_u64(),
        Some(c.push_missed_across_outage)
    );
    assert_eq!(
        json["server"]["push_missed"].as_u64(),
        Some(server.push_missed)
    );

    // The server counts, on the first message to each reconnecting client, the messages
    // between the client's `since` and that one: what it pushed while the client was away.
    let missed = c.push_missed_across_outage;
    assert!(
        missed.abs_diff(server.push_missed) <= u64::from(count),
        "clients {missed}, server {}",
        server.push_missed
    );
    // Each client was away for the downtime at least.
    let per_client_floor = (RATE * downtime_ms as f64 / 1000.0) as u64 - 1;
    assert!(
        missed >= u64::from(count) * per_client_floor,
        "{missed} < {count} x {per_client_floor}"
    );
    assert!(missed <= u64::from(count) * RATE as u64 * 2, "{missed}");
    assert_eq!(
        report.faults[0].push_missed,
        Some(missed),
        "all of it the kill's"
    );
    assert_eq!(server.push_replayed, 0);
}

#[test]
fn with_resume_the_server_replays_what_the_outage_cost_and_nothing_is_missed() {
    let count = 4;
    let downtime_ms = 800;
    let mut s = pushed(count, 3000, true);
    s.faults = vec![fault(1000, kill(downtime_ms))];
    let report = run_scenario(s).report;
    let server = report.server.expect("embedded server counts");
    let c = &report.counters;
    assert_nothing_lost_inside_connections(&report);
    assert_eq!(report.faults[0].reopened, u64::from(count), "all back");
    assert_eq!(c.push_missed_across_outage, 0);
    assert_eq!(server.push_missed, 0);
    assert_eq!(report.faults[0].push_missed, Some(0));
    let per_client_floor = (RATE * downtime_ms as f64 / 1000.0) as u64 - 1;
    assert!(
        server.push_replayed >= u64::from(count) * per_client_floor,
        "replayed {}",
        server.push_replayed
    );
    // Replayed messages carry their original send time: the outage shows in the latency.
    assert!(
        report.histograms["push_latency"].max >= downtime_ms * 1000,
        "{}",
        report.histograms["push_latency"].max
    );
}

#[test]
fn frame_loss_in_the_proxy_shows_as_gaps_equal_to_the_messages_dropped() {
    let mut s = pushed(3, 2500, false);
    s.faults = vec![window(
        300,
        1400,
        1.0,
        FaultKind::Proxy(ProxyFault::FrameLoss(FrameLoss {
            direction: Direction::Downstream,
            probability: 0.2,
        })),
    )];
    let report = run_scenario(s).report;
    let server = report.server.expect("embedded server counts");
    let c = &report.counters;
    // Pings are control frames: the loss costs no connection.
    assert_eq!(report.counters.disconnects(), 0);
    let dropped = server.pushed - c.push_received;
    assert!(dropped > 0, "some pushed messages were dropped");
    // The loss window ends long before the run: every dropped message had a successor.
    assert_eq!(c.push_gaps, dropped);
    assert_eq!(
        [c.push_duplicates, c.push_reordered, c.push_unparsed],
        [0, 0, 0]
    );
    assert_eq!(c.push_missed_across_outage, 0);
}

#[test]
fn serve_pushes_a_stream_that_clients_of_any_ws_target_follow() {
    let (_server, addr) = start(&[
        "serve",
        "--port",
        "0",
        "--push-rate",
        "20/s",
        "--push-resume",
    ]);
    let mut s = pushed(2, 1500, false);
    s.target = target(ws_url(addr));
    let report = run_scenario(s).report;
    assert!(report.server.is_none(), "not the run's own server");
    assert!(
        report.counters.push_received >= 2 * 20,
        "{:?}",
        report.counters
    );
    assert_nothing_lost_inside_connections(&report);
}

#[test]
fn serve_refuses_a_push_rate_it_cannot_keep_and_push_over_several_processes() {
    let too_fast = refused(wschaos().args(["serve", "--port", "0", "--push-rate", "2000/s"]));
    assert!(
        too_fast.contains("--push-rate: expected at most 1000/s"),
        "{too_fast}"
    );
    let tiny = refused(wschaos().args(["serve", "--push-rate", "1/s", "--push-size", "8"]));
    assert!(
        tiny.contains("--push-size: expected a whole number of bytes from 16"),
        "{tiny}"
    );
    let procs = refused(wschaos().args(["serve", "--push-rate", "10/s", "--procs", "2"]));
    assert!(procs.contains("--procs 1"), "{procs}");
}
