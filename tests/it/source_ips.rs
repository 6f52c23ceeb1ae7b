//! `clients.source_ips`: clients bind the given local addresses in turn.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::common::*;

#[test]
fn clients_spread_over_the_source_addresses() {
    let server = TestServer::start(Behaviour::default());
    let mut s = scenario(server.url(), 30, ms(600));
    let sources: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    s.clients.source_ips = sources.clone();
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, 30);

    let mut per_source: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for conn in server.connections() {
        *per_source
            .entry(conn.peer.expect("peer address").ip())
            .or_default() += 1;
    }
    let expected: BTreeMap<IpAddr, usize> = sources.into_iter().map(|ip| (ip, 10)).collect();
    assert_eq!(per_source, expected);
}

#[test]
fn a_source_address_this_host_does_not_have_fails_the_run_before_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    // TEST-NET-1 (RFC 5737) is never an address of this host: the bind fails, nothing is sent.
    let file = scenario_file(
        dir.path(),
        "foreign.yaml",
        "name: foreign\nduration: 1s\ntarget: {url: embedded}\n\
         clients: {count: 3, source_ips: [127.0.0.2, 192.0.2.1]}\n",
    );
    let out = dir.path().join("out");
    let output = run_command(&file, &out).output().expect("run wschaos");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("clients.source_ips: cannot bind 192.0.2.1 on this host"),
        "{stderr}"
    );
    assert!(!out.join("report.json").exists(), "no run, no report");
}
