//! The real binary: `wschaos proxy` in front of `wschaos serve`, and its errors.

use crate::common::*;

#[test]
fn a_run_through_the_standalone_proxy_connects_and_sees_its_fault() {
    let (_server, server_addr) = start(&["serve", "--port", "0"]);
    let upstream = format!("ws://{server_addr}");
    let (_proxy, proxy_addr) = start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--fault",
        "delay_pongs delay=100ms",
    ]);
    assert!(proxy_addr.ip().is_loopback());

    let report = run_scenario(scenario(ws_url(proxy_addr), 5, ms(1000))).report;
    assert_eq!(report.counters.clients_connected, 5);
    assert!(report.counters.heartbeat_acks >= 5);
    let rtt = &report.histograms["heartbeat_rtt"];
    assert!(rtt.min >= 95_000, "every pong was held 100 ms: {rtt:?}");
}

#[test]
fn a_bad_fault_spec_is_exit_code_2_with_what_was_expected() {
    let out = wschaos()
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "ws://127.0.0.1:9",
        ])
        .args(["--fault", "frame_loss probability=2"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expected a number from 0 to 1, found `2`"),
        "{stderr}"
    );

    let out = wschaos()
        .args(["proxy", "--upstream", "http://127.0.0.1:9"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));
}
