//! The real binary cut short: SIGINT, SIGTERM or SIGHUP mid-run still writes the whole report
//! (exit 128 + the signal) and stops the target; a SIGKILL leaves no child behind; and a target
//! that dies for good does not keep the report from being written.

use std::net::SocketAddr;
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

/// A 30 s scenario whose target is `wschaos serve` on a free port, started by wschaos itself;
/// returns the file, the target's address and a string only the target's command line holds.
fn managed_target_scenario(dir: &std::path::Path) -> (std::path::PathBuf, SocketAddr, String) {
    let addr = closed_port();
    let port = addr.port();
    let file = scenario_file(
        dir,
        "managed.yaml",
        &format!(
            "name: managed\nseed: 5\nduration: 30s\n\
             target: {{url: \"ws://{addr}/\", command: [\"{exe}\", serve, --port, \"{port}\"]}}\n\
             clients: {{count: 10, heartbeat: {{interval: 200ms, timeout: 400ms}}}}\n",
            exe = env!("CARGO_BIN_EXE_wschaos"),
        ),
    );
    (file, addr, format!("serve --port {port}"))
}
#[test]
fn sigterm_writes_a_complete_interrupted_report_stops_the_target_and_exits_143() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, addr, needle) = managed_target_scenario(dir.path());
    let out_dir = dir.path().join("out");
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start wschaos");
    assert!(eventually(Duration::from_secs(15), || accepts(addr)));
    std::thread::sleep(ms(1000));
    signal(&child, libc::SIGTERM);
    let status = wait_bounded(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{status:?}");

    for name in REPORT_FILES {
        assert!(out_dir.join(name).is_file(), "{name} missing");
    }
    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["interrupted"], true);
    assert!(json["elapsed_s"].as_f64().is_some_and(|e| e < 30.0));
    assert_eq!(
        json["counters"]["closed_manually"], 10,
        "every client closed"
    );
    assert!(!accepts(addr), "nothing listens on {addr} after the run");
    assert_eq!(
        processes_with(&needle),
        Vec::<u32>::new(),
        "the target is gone"
    );
}

#[test]
fn sighup_writes_an_interrupted_report_and_exits_129() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "long.yaml",
        "name: long\nseed: 5\nduration: 30s\ntarget: {url: embedded}\n\
         clients: {count: 10, heartbeat: {interval: 200ms, timeout: 400ms}}\n",
    );
    let out_dir = dir.path().join("out");
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start wschaos");
    std::thread::sleep(ms(1500));
    signal(&child, libc::SIGHUP);
    let status = wait_bounded(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(129), "{status:?}");
    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["counters"]["closed_manually"], 10);
}

#[test]
fn sigkill_of_wschaos_leaves_no_target_command_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, addr, needle) = managed_target_scenario(dir.path());
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wschaos");
    assert!(eventually(Duration::from_secs(15), || accepts(addr)));
    assert!(!processes_with(&needle).is_empty());
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    assert!(
        eventually(Duration::from_secs(5), || processes_with(&needle)
            .is_empty()),
        "target left running: {:?}",
        processes_with(&needle)
    );
    assert!(eventually(Duration::from_secs(5), || !accepts(addr)));
}

#[test]
fn sigkill_of_wschaos_procs_leaves_no_shard_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "procs-orphans.yaml",
        "name: orphans\nseed: 5\nduration: 30s\ntarget: {url: embedded}\n\
         clients: {count: 4, heartbeat: {interval: 200ms, timeout: 400ms}}\n",
    );
    let needle = file.display().to_string();
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .args(["--procs", "2", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .spawn()
        .expect("start wschaos");
    let shards_up = || processes_with(&format!("{needle} --shard")).len() == 2;
    assert!(eventually(Duration::from_secs(10), shards_up));
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    assert!(
        eventually(Duration::from_secs(5), || processes_with(&needle)
            .is_empty()),
        "shards left running: {:?}",
        processes_with(&needle)
    );
}
