//! A thousand clients against the embedded server, through a server kill.

use crate::common::*;
use wschaos::scenario::*;

#[test]
fn a_thousand_clients_connect_survive_a_server_kill_and_agree_with_the_server() {
    let mut s = scenario(TargetUrl::Embedded, 1000, ms(5000));
    s.clients.stages = vec![Stage::Ramp {
        to: s.clients.count,
        over: ms(500),
    }];
    s.clients.reconnect.initial = ms(200);
    // A debug build with its server in-process on a busy machine can stall for longer than the
    // shared scenario's 400 ms timeout; the kill, not a heartbeat, is what this test is about.
    s.clients.heartbeat.interval = ms(500);
    s.clients.heartbeat.timeout = ms(2000);
    s.faults = vec![fault(1500, kill(1000))];
    let report = run_scenario(s).report;
    let c = &report.counters;

    assert_eq!(c.clients_connected, 1000, "every client connected");
    assert!(report.histograms["heartbeat_rtt"].count > 1000);
    assert_eq!(
        c.disconnects_server_gone + c.disconnects_io_error,
        1000,
        "{c:?}"
    );
    assert_eq!(c.reconnects, 1000, "every client reconnected");
    assert_eq!(c.gave_up, 0);
    assert_eq!(report.faults[0].connections_cut, 1000);
    // Nobody got back in before the server was: each reconnect took about the downtime.
    assert!(
        report.histograms["reconnect_time"].min >= 900_000,
        "{:?}",
        report.histograms["reconnect_time"]
    );
    assert_eq!(report.histograms["detection"].count, 1000);

    // The report's counters agree with what the server observed.
    let server = report.server.expect("embedded server counts");
    assert_eq!(server.upgrades, c.connects);
    assert_eq!(server.close_frames, c.closed_manually);
    assert_eq!(c.closed_manually, 1000);
    // Pongs in flight when the server died (or at the final close) never reach a client.
    assert!(c.heartbeats_sent >= server.pongs && server.pongs >= c.heartbeat_acks);
    assert!(server.pongs - c.heartbeat_acks <= 2000, "{server:?} {c:?}");
    assert_eq!(c.clients_stopped, 1000);
}
