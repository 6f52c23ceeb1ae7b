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
