//! The real binary: `serve --port 0` and `run` with --out and --seed.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn wschaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wschaos"))
}

#[test]
fn serve_on_port_zero_prints_its_address_and_echoes() {
    let mut child = wschaos()
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let addr: std::net::SocketAddr = first.trim().parse().expect("an address on the first line");
    assert!(addr.ip().is_loopback());

    let mut s = scenario(ws_url(addr), 5, ms(800));
    s.clients.heartbeat.mode = text_heartbeat("ping?", "ping?"); // the echo is the ack
    let report = run_scenario(s).report;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(report.counters.clients_connected, 5);
    assert!(report.counters.heartbeat_acks >= 5);
    assert_eq!(
        report.counters.heartbeat_acks,
        report.counters.heartbeats_sent
    );
}

#[test]
fn run_prints_a_summary_and_writes_report_json_where_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tiny.yaml");
    std::fs::write(
        &file,
        "name: tiny\nseed: 1\nduration: 1s\ntarget: {url: embedded}\n\
         clients: {count: 20, heartbeat: {interval: 200ms, timeout: 400ms}}\n",
    )
    .expect("write scenario");
    let out_dir = dir.path().join("out");
    let out = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .args(["--seed", "99"])
        .output()
        .expect("run wschaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected 20/20"), "{stdout}");
    assert!(stdout.contains("heartbeat_rtt"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report.json"))
            .expect("valid JSON");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["scenario"]["seed"], 99, "--seed overrides the file");
    assert_eq!(json["counters"]["clients_connected"], 20);
    let rtt = &json["histograms"]["heartbeat_rtt"];
    assert!(rtt["count"].as_u64().expect("count") > 0);
    assert!(rtt["hdr"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(json["timeline"].as_array().is_some_and(|t| !t.is_empty()));
}
