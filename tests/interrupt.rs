//! The real binary cut short: SIGINT, SIGTERM or SIGHUP mid-run still writes the whole report
//! (exit 128 + the signal) and stops the target; a SIGKILL leaves no child behind; and a target
//! that dies for good does not keep the report from being written.
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Waits for `child`, killing it (and failing) if it takes far longer than it should.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(ms(50));
    }
}

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
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report.json"))
            .expect("valid JSON");
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
    let mut server = wschaos()
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("address line");
    let addr: std::net::SocketAddr = first.trim().parse().expect("an address");

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
    let _ = server.wait();

    let status = wait_bounded(&mut run, Duration::from_secs(20));
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    for name in REPORT_FILES {
        assert!(out_dir.join(name).is_file(), "{name} missing");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report.json"))
            .expect("valid JSON");
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

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A zombie has an empty command line: it holds nothing.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Polls `done` every 50 ms for up to `limit`; true once it holds.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(ms(50));
    }
    done()
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

fn accepts(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, ms(200)).is_ok()
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child, not yet reaped; no memory effects.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

fn report_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
        .expect("valid JSON")
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
    let json = report_json(&out_dir);
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
    let json = report_json(&out_dir);
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
    assert!(!accepts(addr));
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
