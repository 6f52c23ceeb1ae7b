//! The target's own cost: a `target.command`'s processes, or the tree under `--target-pid`,
//! sampled each second into the timeline (`target_cpu_share`, `target_rss_kib`) and summed up
//! in report.json's `target` section (peak RSS, RSS per connection, CPU per heartbeat).

use std::process::Command;

use crate::common::*;
use wschaos::report::Report;
use wschaos::run::RunOptions;
use wschaos::scenario::*;

/// `count` clients arriving over `ramp_ms` and staying, against `url`, for `duration_ms`.
fn ramped(url: TargetUrl, count: u32, ramp_ms: u64, duration_ms: u64) -> Scenario {
    let mut s = scenario(url, count, ms(duration_ms));
    s.clients.stages = vec![Stage::Ramp {
        to: count,
        over: ms(ramp_ms),
    }];
    s.clients.heartbeat.interval = ms(500);
    s.clients.heartbeat.timeout = ms(2000);
    s
}

fn rss_samples(report: &Report) -> Vec<u64> {
    report
        .timeline
        .iter()
        .filter_map(|p| p.target_rss_kib)
        .collect()
}

#[test]
fn a_target_command_is_sampled_and_its_memory_grows_with_the_connections() {
    let addr = closed_port();
    let mut s = ramped(ws_url(addr), 400, 4000, 6000);
    s.target.command = Some(TargetCommand::Argv(vec![
        WSCHAOS.into(),
        "serve".into(),
        "--port".into(),
        addr.port().to_string(),
    ]));
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, 400);
    let samples = rss_samples(&report);
    assert!(samples.len() >= 4, "{samples:?}");
    assert!(samples.iter().all(|kib| *kib > 0), "{samples:?}");
    let target = report.target.as_ref().expect("a target section");
    assert_eq!(target.sampled, "target.command");
    assert_eq!(
        target.peak_rss_kib,
        samples.iter().copied().max().unwrap_or(0)
    );
    assert!(target.connected_spread >= 200, "{target:?}");
    let per_conn = target.rss_per_conn_kib.expect("a slope: connected ramped");
    assert!(per_conn > 0.0, "{target:?}");
    assert!(target.cpu_s > 0.0, "{target:?}");
    assert!(
        target.cpu_per_heartbeat_us.is_some_and(|us| us > 0.0),
        "{target:?}"
    );
    assert!(
        report
            .timeline
            .iter()
            .any(|p| p.target_cpu_share.is_some_and(|s| s > 0.0))
    );
}

#[test]
fn target_pid_samples_a_server_wschaos_did_not_start() {
    let (server, addr) = start(&["serve", "--port", "0"]);
    let pid = server.0.id() as i32;
    let s = ramped(ws_url(addr), 200, 1500, 3000);
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        target_pid: Some(pid),
        ..RunOptions::default()
    };
    let finished = run_scenario_in(s, dir.path(), options);
    let report = finished.report;
    let samples = rss_samples(&report);
    assert!(samples.len() >= 2, "{samples:?}");
    assert!(samples.iter().all(|kib| *kib > 0), "{samples:?}");
    let target = report.target.as_ref().expect("a target section");
    assert_eq!(target.sampled, format!("--target-pid {pid}"));
    let json = read_json(&finished.dir.join("report.json"));
    assert!(
        json["target"]["peak_rss_kib"]
            .as_u64()
            .is_some_and(|k| k > 0)
    );
    assert!(json["timeline"][0]["target_rss_kib"].is_u64());
    let markdown = std::fs::read_to_string(finished.dir.join("summary.md")).expect("summary.md");
    assert!(markdown.contains("## Target"), "{markdown}");
    let html = std::fs::read_to_string(finished.dir.join("report.html")).expect("report.html");
    assert!(html.contains("Target memory per second"));
}

#[test]
fn a_target_that_dies_mid_run_stops_its_samples() {
    let mut short_lived = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start sleep");
    let pid = short_lived.id();
    let s = ramped(TargetUrl::Embedded, 5, 0, 3500);
    let dir = tempfile::tempdir().expect("temp dir");
    let (progress, seconds) = std::sync::mpsc::channel();
    // Killed after the run's second second (samples before it), reaped at once.
    let killer = std::thread::spawn(move || {
        let _ = seconds.recv_timeout(ms(10_000));
        let _ = seconds.recv_timeout(ms(10_000));
        let _ = short_lived.kill();
        let _ = short_lived.wait();
        // The channel stays open until the run drops its sender.
        while seconds.recv_timeout(ms(10_000)).is_ok() {}
    });
    let options = RunOptions {
        target_pid: Some(pid as i32),
        progress: Some(progress),
        ..RunOptions::default()
    };
    let report = run_scenario_in(s, dir.path(), options).report;
    let _ = killer.join();
    let sampled: Vec<bool> = report
        .timeline
        .iter()
        .map(|p| p.target_rss_kib.is_some())
        .collect();
    assert_eq!(sampled.first(), Some(&true), "{sampled:?}");
    assert_eq!(sampled.last(), Some(&false), "{sampled:?}");
    assert!(report.target.is_some(), "the seconds sampled still count");
}

#[test]
fn target_pid_of_no_process_refuses_to_run() {
    let s = ramped(TargetUrl::Embedded, 1, 0, 500);
    let options = RunOptions {
        // Above the kernel's pid_max (2^22 at most).
        target_pid: Some(i32::MAX),
        ..RunOptions::default()
    };
    let refused = wschaos::run::run_unwritten(s, &options);
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("--target-pid")),
        "{:?}",
        refused.as_ref().err()
    );
}

#[test]
fn an_embedded_target_is_not_sampled_and_says_so() {
    let s = ramped(TargetUrl::Embedded, 5, 0, 1200);
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(s, dir.path(), RunOptions::default());
    assert!(finished.report.target.is_none());
    assert!(rss_samples(&finished.report).is_empty());
    let markdown = std::fs::read_to_string(finished.dir.join("summary.md")).expect("summary.md");
    assert!(markdown.contains("not sampled: the embedded server runs inside wschaos"));
}
