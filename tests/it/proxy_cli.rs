//! The real binary: `wschaos proxy` in front of `wschaos serve`, and its errors.

use crate::common::*;

#[test]
fn a_run_through_the_standalone_proxy_connects_and_sees_its_fault() {
    let (_server, server_addr) = start(&["serve", "--port", "0"]);
    let upstream = format!("ws://{server_addr}");
    let (_proxy, proxy_addr) = start(&proxy_args(&upstream, "delay_pongs delay=100ms"));
    assert!(proxy_addr.ip().is_loopback());

    let report = run_scenario(scenario(ws_url(proxy_addr), 5, ms(1000))).report;
    assert_eq!(report.counters.clients_connected, 5);
    assert!(report.counters.heartbeat_acks >= 5);
    let rtt = &report.histograms["heartbeat_rtt"];
    assert!(rtt.min >= 95_000, "every pong was held 100 ms: {rtt:?}");
}

#[test]
fn a_wss_upstream_is_spoken_to_in_tls_with_the_ca_file_and_refused_without_it() {
    let pki = pki::Pki::new();
    let (cert, key, _) = pki.leaf(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = pki::write(dir.path(), "cert.pem", &cert);
    let key = pki::write(dir.path(), "key.pem", &key);
    let ca = pki::write(dir.path(), "ca.pem", &pki.ca_pem);
    let serve = [
        "serve",
        "--port",
        "0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    let (_server, server_addr) = start(&serve);
    let upstream = format!("wss://127.0.0.1:{}", server_addr.port());

    let mut trusting = proxy_args(&upstream, "delay_pongs delay=100ms").to_vec();
    trusting.extend(["--ca-file", &ca]);
    let (_proxy, proxy_addr) = start(&trusting);
    let report = run_scenario(scenario(ws_url(proxy_addr), 5, ms(1000))).report;
    assert_eq!(
        report.counters.clients_connected, 5,
        "{:?}",
        report.counters
    );
    assert!(report.counters.heartbeat_acks >= 5);
    let rtt = &report.histograms["heartbeat_rtt"];
    assert!(rtt.min >= 95_000, "every pong was held 100 ms: {rtt:?}");

    // Without the CA the proxy's handshake fails: every client gets a 502, none connects.
    let (_untrusting, untrusting_addr) = start(&proxy_args(&upstream, "delay_pongs delay=100ms"));
    let report = run_scenario(scenario(ws_url(untrusting_addr), 2, ms(600))).report;
    let c = &report.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert!(c.connect_failures > 0, "{c:?}");
    assert_eq!(c.connect_failures_tls, 0, "the clients speak no TLS: {c:?}");
}

/// What `wschaos proxy ARGS` prints on stderr; it must exit 2 without starting.
fn rejected_proxy(args: &[&str]) -> String {
    refused(wschaos().arg("proxy").args(args))
}

/// What `wschaos proxy --fault SPEC` prints on stderr; it must exit 2 without starting.
fn rejected_fault(spec: &str) -> String {
    refused(wschaos().args(proxy_args("ws://127.0.0.1:9", spec)))
}

#[test]
fn a_bad_fault_spec_is_exit_code_2_with_what_was_expected() {
    for (spec, expected) in [
        (
            "frame_loss probability=2",
            "`frame_loss` probability: expected a number from 0.0 to 1.0, found 2",
        ),
        // Past the cap: added to an Instant on the first frame, this used to panic the
        // connection task.
        (
            "latency latency=9223372036854775807s",
            "`latency` latency: expected a duration of at most 365 days, found \"9223372036854775807s\"",
        ),
        (
            "idle_timeout idle=9223372036854775807s",
            "`idle_timeout` idle: expected a duration of at most 365 days",
        ),
        // A zero delay is refused as in a scenario file.
        (
            "delay_pongs delay=0s",
            "`delay_pongs` delay: expected a duration greater than zero like 500ms, 5s or 2m, found \"0s\"",
        ),
        (
            "latency latency=0s",
            "`latency` latency: expected a duration greater than zero like 500ms, 5s or 2m, found \"0s\"",
        ),
    ] {
        let stderr = rejected_fault(spec);
        assert!(stderr.contains(expected), "{spec}: {stderr}");
    }
}

#[test]
fn an_upstream_that_is_not_ws_is_exit_code_2_saying_what_it_takes() {
    for (args, expected) in [
        (
            &["--upstream", "http://127.0.0.1:9"][..],
            "--upstream: expected ws[s]://host[:port][/path], found \"http://127.0.0.1:9\"",
        ),
        (
            &["--listen", "127.0.0.1:0", "--upstream", "embedded"],
            "--upstream: expected ws[s]://host[:port][/path], found \"embedded\"",
        ),
        (
            &["--upstream", "ws://127.0.0.1:9", "--ca-file", "ca.pem"],
            "--ca-file, --insecure, --server-name and --client-cert are for a wss:// --upstream",
        ),
        (
            &[
                "--upstream",
                "wss://127.0.0.1:9",
                "--ca-file",
                "/nonexistent/ca.pem",
            ],
            "cannot read \"/nonexistent/ca.pem\"",
        ),
    ] {
        let stderr = rejected_proxy(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // The proxy has no embedded server to offer: it does not suggest one.
        if !args.contains(&"embedded") {
            assert!(!stderr.contains("embedded"), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_send_timeout_is_checked_like_a_scenario_duration() {
    for (value, expected) in [
        ("0s", "expected a duration greater than zero"),
        ("400d", "expected a duration of at most 365 days"),
        ("soon", "expected a duration greater than zero"),
    ] {
        let stderr = rejected_proxy(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "ws://127.0.0.1:9",
            "--send-timeout",
            value,
        ]);
        assert!(stderr.contains("--send-timeout"), "{value}: {stderr}");
        assert!(stderr.contains(expected), "{value}: {stderr}");
    }
}
