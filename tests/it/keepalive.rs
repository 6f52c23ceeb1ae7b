//! `clients.tcp_keepalive`: the OS keepalive options land on the client's socket.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::endpoint;
use wschaos::client::connection::{Dial, open};
use wschaos::scenario::TcpKeepalive;
use wschaos::server::EmbeddedServer;

#[test]
fn keepalive_settings_are_applied_to_the_socket() {
    actix_rt::System::new().block_on(async {
        let server =
            EmbeddedServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).expect("server");
        let endpoint = endpoint(server.addr(), 1 << 16);
        let keepalive = TcpKeepalive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(2),
            count: 4,
        };
        let dial = |keepalive| Dial {
            source: None,
            key: [1; 16],
            client_id: None,
            keepalive,
            since: None,
        };
        let (_reader, writer) = open(&endpoint, dial(Some(keepalive))).await.expect("open");
        writer.with_socket(|socket| {
            assert!(socket.keepalive().expect("SO_KEEPALIVE"));
            assert_eq!(
                socket.tcp_keepalive_time().expect("TCP_KEEPIDLE"),
                keepalive.idle
            );
            assert_eq!(
                socket.tcp_keepalive_interval().expect("TCP_KEEPINTVL"),
                keepalive.interval
            );
            assert_eq!(
                socket.tcp_keepalive_retries().expect("TCP_KEEPCNT"),
                keepalive.count
            );
        });

        let (_reader, plain) = open(&endpoint, dial(None)).await.expect("open");
        assert!(!plain.with_socket(|s| s.keepalive().expect("SO_KEEPALIVE")));
    });
}
