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
        stderr.contains("`frame_loss` probability: expected a number from 0.0 to 1.0, found 2"),
        "{stderr}"
    );

    let out = wschaos()
        .args(["proxy", "--upstream", "http://127.0.0.1:9"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--upstream"));
    // The proxy has no embedded server to offer: it says what it takes.
    assert!(
        stderr
            .contains("--upstream: expected ws://host[:port][/path], found \"http://127.0.0.1:9\""),
        "{stderr}"
    );
    assert!(!stderr.contains("embedded"), "{stderr}");
}

/// What `wschaos proxy --fault SPEC` prints on stderr; it must exit 2 without starting.
fn rejected_fault(spec: &str) -> String {
    let out = wschaos()
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "ws://127.0.0.1:9",
            "--fault",
            spec,
        ])
        .output()
        .expect("run wschaos");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn embedded_is_no_upstream() {
    let out = wschaos()
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", "embedded"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--upstream: expected ws://host[:port][/path], found \"embedded\""),
        "{stderr}"
    );
    let out = wschaos()
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "wss://127.0.0.1:9",
        ])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wss:// is not supported yet; use ws://\n"),
        "{stderr}"
    );
}

#[test]
fn a_duration_past_the_cap_is_refused_before_the_proxy_starts() {
    // Added to an Instant on the first frame, this used to panic the connection task.
    let stderr = rejected_fault("latency latency=9223372036854775807s");
    assert!(
        stderr.contains(
            "`latency` latency: expected a duration of at most 365 days, found \"9223372036854775807s\""
        ),
        "{stderr}"
    );
    let stderr = rejected_fault("idle_timeout idle=9223372036854775807s");
    assert!(
        stderr.contains("`idle_timeout` idle: expected a duration of at most 365 days"),
        "{stderr}"
    );
}

#[test]
fn a_zero_delay_is_refused_as_in_a_scenario_file() {
    for (spec, knob) in [
        ("delay_pongs delay=0s", "`delay_pongs` delay"),
        ("latency latency=0s", "`latency` latency"),
    ] {
        let stderr = rejected_fault(spec);
        assert!(
            stderr.contains(&format!(
                "{knob}: expected a duration greater than zero like 500ms, 5s or 2m, found \"0s\""
            )),
            "{stderr}"
        );
    }
}
