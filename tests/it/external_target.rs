//! `target.command`: wschaos starts the server itself (here: `wschaos serve`), kills or freezes
//! it for `server_kill`, and never leaves it running.

use std::net::SocketAddr;

use crate::common::*;
use wschaos::scenario::*;

/// `count` clients for 3.5 s against `addr`, whose server wschaos starts with `command`; at
/// 800 ms the server is sent `signal` and, 1.2 s later, restarted.
fn managed(addr: SocketAddr, command: TargetCommand, count: u32, signal: KillSignal) -> Scenario {
    let mut s = scenario(ws_url(addr), count, ms(3500));
    s.target.command = Some(command);
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
    s
}

/// [`managed`] with `wschaos serve` on a free port as the command; also returns a string only
/// the server's command line holds.
fn managed_serve(count: u32, signal: KillSignal) -> (Scenario, String) {
    let addr = closed_port();
    let port = addr.port().to_string();
    let command = TargetCommand::Argv(vec![
        WSCHAOS.into(),
        "serve".into(),
        "--port".into(),
        port.clone(),
    ]);
    (
        managed(addr, command, count, signal),
        format!("serve --port {port}"),
    )
}

#[test]
fn signal_kill_makes_every_client_reconnect_after_the_downtime_and_leaves_nothing_running() {
    let (s, needle) = managed_serve(50, KillSignal::Kill);
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
    let (s, needle) = managed_serve(20, KillSignal::Stop);
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

/// A target whose server leaves the command's process group, session and parent (a double
/// fork into a new session) while the command itself sleeps on; `scrub_env` also clears the
/// server's environment, so wschaos cannot tell it is the target's.
fn daemonising_serve(count: u32, scrub_env: bool) -> (Scenario, SocketAddr, String) {
    let addr = closed_port();
    let port = addr.port();
    let env = if scrub_env { "env -i " } else { "" };
    let command = TargetCommand::Shell(format!(
        "( setsid {env}{WSCHAOS} serve --port {port} & ) ; sleep 300"
    ));
    (
        managed(addr, command, count, KillSignal::Kill),
        addr,
        format!("serve --port {port}"),
    )
}

#[test]
fn a_daemonising_target_is_killed_restarted_and_not_left_running() {
    let (s, addr, needle) = daemonising_serve(20, false);
    let dir = tempfile::tempdir().expect("temp dir");
    let report = run_scenario_in(s, dir.path(), Default::default()).report;
    let kill = &report.faults[0];
    assert_eq!((kill.noticed, kill.reopened), (20, 20), "{kill:?}");
    assert_eq!(report.counters.reconnects, 20);
    assert!(
        report.histograms["reconnect_time"].min >= 1_000_000,
        "back only after the downtime: the restarted server, not the old one"
    );
    assert!(processes_with(&needle).is_empty(), "the server is gone");
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_kill_that_leaves_the_port_open_fails_the_run_naming_port_and_holder() {
    let (s, addr, needle) = daemonising_serve(5, true);
    let dir = tempfile::tempdir().expect("temp dir");
    let options = wschaos::run::RunOptions {
        out: Some(dir.path().join("report")),
        ..Default::default()
    };
    let result = wschaos::run::run(s, &options);
    let escaped = processes_with(&needle);
    for pid in &escaped {
        // SAFETY: kill(2) on the server this test's scenario started; no memory effects.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    let Err(err) = result else {
        panic!("the run succeeded though its server_kill left {addr} open");
    };
    let message = err.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(
        escaped
            .iter()
            .any(|pid| message.contains(&format!("pid {pid} "))),
        "{message} (escaped: {escaped:?})"
    );
    assert!(
        dir.path().join("report/report.json").is_file(),
        "the report is written all the same"
    );
}

#[test]
fn a_target_behind_a_proxy_is_killed_and_restarted_though_the_proxy_keeps_its_port() {
    // target.url is a `wschaos proxy` in front of the server the command starts: the url's port
    // accepts throughout, so the kill must be checked by the target's processes, not the port.
    let server_port = closed_port().port().to_string();
    let (_proxy, proxy_addr) = start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &format!("ws://127.0.0.1:{server_port}"),
    ]);
    let command = TargetCommand::Argv(vec![
        WSCHAOS.into(),
        "serve".into(),
        "--port".into(),
        server_port.clone(),
    ]);
    let needle = format!("serve --port {server_port}");
    let s = managed(proxy_addr, command, 20, KillSignal::Kill);
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(s, dir.path(), Default::default());
    let report = finished.report;
    let c = &report.counters;
    assert_eq!(c.clients_connected, 20, "{c:?}");
    assert_eq!(report.faults[0].noticed, 20, "{:?}", report.faults[0]);
    assert_eq!(report.faults[0].reopened, 20, "{:?}", report.faults[0]);
    assert!(
        finished.target_failures.is_empty(),
        "{:?}",
        finished.target_failures
    );
    assert!(processes_with(&needle).is_empty(), "the server is gone");
}
