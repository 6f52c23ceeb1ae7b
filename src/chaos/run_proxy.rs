//! The proxy `wschaos run` puts between its clients and the target when the scenario has proxy
//! faults: acks recognised by the scenario's heartbeat mode (Socket.IO: the server's pings),
//! randomness from its seed, TLS towards a `wss://` target with the scenario's settings.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{AckMatcher, ProxyConfig, ProxyControl, RunningProxy, UpstreamTls};
use crate::scenario::{HeartbeatMode, Scenario};
use crate::tls::ClientTls;

/// How the proxy recognises acks for this scenario's heartbeat.
fn ack_matcher(scenario: &Scenario) -> AckMatcher {
    if scenario.target.protocol.socketio().is_some() {
        return AckMatcher::engine_io_ping();
    }
    if scenario.target.protocol.graphql_ws().is_some()
        && scenario.clients.heartbeat.mode != HeartbeatMode::None
    {
        return AckMatcher::GraphqlWsPong;
    }
    match &scenario.clients.heartbeat.mode {
        HeartbeatMode::Ping => AckMatcher::Pong,
        HeartbeatMode::Text { ack, .. } => AckMatcher::Text(bytes::Bytes::from(ack.clone())),
        HeartbeatMode::None => AckMatcher::Nothing,
    }
}

/// Starts the proxy in front of `upstream` (on this thread, on a loopback port), speaking TLS
/// to it with `tls` if given, and returns it with the control the coordinator switches faults
/// through. Dropping the proxy closes it.
pub fn start_for_run(
    scenario: &Scenario,
    upstream: SocketAddr,
    tls: Option<&ClientTls>,
) -> std::io::Result<(RunningProxy, Arc<ProxyControl>)> {
    let control = Arc::new(ProxyControl::new());
    let config = ProxyConfig {
        ack: ack_matcher(scenario),
        seed: scenario.seed,
        tls: tls.map(|tls| UpstreamTls {
            connector: tls.proxy_connector(),
            server_name: tls.server_name.clone(),
        }),
        ..ProxyConfig::new(upstream)
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy = super::spawn(loopback, config, control.clone())?;
    Ok((proxy, control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_protocol_makes_its_own_heartbeat_frame_the_ack() {
        let scenario = |target: &str| {
            let text = format!("name: t\nduration: 1s\ntarget: {target}\nclients: {{count: 1}}\n");
            crate::scenario::parse(&text, "s.yaml").expect("a valid scenario")
        };
        let socketio = scenario("{url: \"ws://h:1\", protocol: socketio}");
        assert_eq!(
            ack_matcher(&socketio),
            AckMatcher::Text(bytes::Bytes::from("2"))
        );
        assert_eq!(ack_matcher(&scenario("{url: embedded}")), AckMatcher::Pong);
        let graphql_ws = scenario("{url: \"ws://h:1\", protocol: graphql-ws}");
        assert_eq!(ack_matcher(&graphql_ws), AckMatcher::GraphqlWsPong);
    }
}
