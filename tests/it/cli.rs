//! The real binary: `serve --port 0` and `run` with --out and --seed.

use crate::common::*;

#[test]
fn serve_on_port_zero_prints_its_address_and_echoes() {
    let (mut child, addr) = start(&["serve", "--port", "0"]);
    assert!(addr.ip().is_loopback());

    let mut s = scenario(ws_url(addr), 5, ms(800));
    s.clients.heartbeat.mode = text_heartbeat("ping?", "ping?"); // the echo is the ack
    let report = run_scenario(s).report;
    let _ = child.kill();
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
    let file = tiny_scenario_file(dir.path(), 20);
    let out_dir = dir.path().join("out");
    let (stdout, _) = exits(run_command(&file, &out_dir).args(["--seed", "99"]), 0);
    assert!(stdout.contains("connected 20/20"), "{stdout}");
    assert!(stdout.contains("heartbeat_rtt"), "{stdout}");

    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["scenario"]["seed"], 99, "--seed overrides the file");
    assert_eq!(json["counters"]["clients_connected"], 20);
    let rtt = &json["histograms"]["heartbeat_rtt"];
    assert!(rtt["count"].as_u64().expect("count") > 0);
    assert!(rtt["hdr"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(json["timeline"].as_array().is_some_and(|t| !t.is_empty()));
}
