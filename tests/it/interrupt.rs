//! The real binary cut short: SIGINT mid-run still writes the whole report (exit 130), and a
//! target that dies for good does not keep the report from being written.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

#[test]
fn sigint_ends_the_run_with_130_and_a_complete_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "long.yaml",
        "name: long\nseed: 5\nduration: 30s\ntarget: {url: embedded}\n\
         clients: {count: 20, heartbeat: {interval: 200ms, timeout: 400ms}}\n\
         thresholds: [\"clients.gave_up == 0\"]\n",
    );
    let out_dir = dir.path().join("out");
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wschaos");
    std::thread::sleep(ms(1500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let status = wait_bounded(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{status:?}");

    for name in REPORT_FILES {
        assert!(out_dir.join(name).is_file(), "{name} missing");
    }
    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["interrupted"], true);
    assert!(json["elapsed_s"].as_f64().is_some_and(|e| e < 30.0));
    let histograms = json["histograms"].as_object().expect("histograms");
    for name in [
        "connect_time",
        "heartbeat_rtt",
        "reconnect_time",
        "reconnect_attempts",
        "detection",
        "message_rtt",
    ] {
        let h = &histograms[name];
        assert!(h["count"].is_u64() && h["hdr"].is_string(), "{name}: {h}");
    }
    assert!(json["histograms"]["heartbeat_rtt"]["count"].as_u64() > Some(0));
    assert_eq!(
        json["counters"]["closed_manually"], 20,
        "every client closed"
    );
    assert_eq!(json["thresholds"][0]["passed"], true);
}

#[test]
fn a_target_that_dies_for_good_still_gets_its_report() {
    let (mut server, addr) = start(&["serve", "--port", "0"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "dies.yaml",
        &format!(
            "name: dies\nseed: 9\nduration: 2500ms\ntarget: {{url: \"ws://{addr}/\"}}\n\
             clients: {{count: 10, heartbeat: {{interval: 200ms, timeout: 400ms}},\n  \
             reconnect: {{backoff: fixed, initial: 100ms, jitter: none}}}}\n\
             thresholds: [\"clients.gave_up == 0\", \"reconnects > 0\"]\n"
        ),
    );
    let out_dir = dir.path().join("out");
    let mut run = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start run");
    std::thread::sleep(ms(1000));
    server.kill().expect("kill the server");

    let status = wait_bounded(&mut run, Duration::from_secs(20));
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    for name in REPORT_FILES {
        assert!(out_dir.join(name).is_file(), "{name} missing");
    }
    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["counters"]["clients_connected"], 10);
    assert!(
        json["counters"]["connect_failures"].as_u64() > Some(0),
        "{json}"
    );
    // Nothing came back: no connection was re-opened, and that threshold fails.
    assert_eq!(json["counters"]["reconnects"], 0);
    assert_eq!(json["thresholds"][1]["passed"], false);
    assert_eq!(status.code(), Some(1));
}
