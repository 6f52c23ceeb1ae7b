//! `target.command`: wschaos starts the server itself (here: `wschaos serve`), kills or freezes
//! it for `server_kill`, and never leaves it running.

use crate::common::*;
use wschaos::scenario::*;

fn managed_serve(count: u32, duration_ms: u64, signal: KillSignal) -> (Scenario, String) {
    let addr = closed_port();
    let port = addr.port().to_string();
    let mut s = scenario(ws_url(addr), count, ms(duration_ms));
    s.target.command = Some(TargetCommand::Argv(vec![
        WSCHAOS.into(),
        "serve".into(),
        "--port".into(),
        port.clone(),
    ]));
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(400);
    s.clients.connect_timeout = ms(500);
    s.faults = vec![fault(
        800,
        FaultKind::ServerKill {
            downtime: ms(1200),
            signal,
        },
    )];
    (s, format!("serve --port {port}"))
}

#[test]
fn signal_kill_makes_every_client_reconnect_after_the_downtime_and_leaves_nothing_running() {
    let (s, needle) = managed_serve(50, 3500, KillSignal::Kill);
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(s, dir.path(), Default::default());
    let report = finished.report;
    let c = &report.counters;
    assert_eq!(c.clients_connected, 50);
    assert_eq!(
        c.disconnects_server_gone + c.disconnects_io_error,
        50,
        "{c:?}"
    );
    assert_eq!(c.reconnects, 50);
    assert!(
        report.histograms["reconnect_time"].min >= 1_000_000,
        "back only after the downtime"
    );
    let kill = &report.faults[0];
    assert_eq!((kill.noticed, kill.reopened), (50, 50));
    assert!(kill.recovery_us.and_then(|r| r.all).is_some());
    assert!(finished.dir.join("target.stdout.log").exists());
    assert!(
        processes_with(&needle).is_empty(),
        "the target is gone after the run"
    );
}

#[test]
fn signal_stop_freezes_the_server_so_clients_detect_by_heartbeat_timeout() {
    let (s, needle) = managed_serve(20, 3500, KillSignal::Stop);
    let report = run_scenario(s).report;
    let c = &report.counters;
    assert_eq!(c.disconnects_heartbeat_timeout, 20, "{c:?}");
    assert_eq!(
        c.disconnects_server_gone + c.disconnects_io_error,
        0,
        "the sockets stayed open"
    );
    assert_eq!(c.reconnects, 20, "back after SIGCONT");
    let stop = &report.faults[0];
    let detection = stop.detection_us.expect("detection measured");
    // Detected by a missed ack: at least one timeout after the freeze, within two intervals more.
    assert!(
        detection.p50 >= 300_000 && detection.max < 1_200_000,
        "{detection:?}"
    );
    assert!(processes_with(&needle).is_empty());
}
