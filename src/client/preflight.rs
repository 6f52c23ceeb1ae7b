//! The run's socket options, tried once before any client starts. The kernel can refuse what
//! passes the scenario's checks (a source address this host does not have, an address family
//! that does not match the target, keepalive values past its limits); every connect would then
//! fail the same way and the run would only count connect failures. One socket set up here turns
//! that into one setup error (exit 2) naming the option.

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::scenario::TcpKeepalive;

/// Sets up one unconnected socket per source address (or one without) the way `connection::open`
/// does, towards `connect_to`'s address family.
pub fn check_socket_options(
    connect_to: SocketAddr,
    source_ips: &[IpAddr],
    keepalive: Option<TcpKeepalive>,
) -> Result<(), String> {
    let sources: Vec<Option<IpAddr>> = if source_ips.is_empty() {
        vec![None]
    } else {
        source_ips.iter().copied().map(Some).collect()
    };
    for source in sources {
        let socket = Socket::new(
            Domain::for_address(connect_to),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(|err| format!("cannot open a TCP socket: {err}"))?;
        if let Some(ip) = source {
            if ip.is_ipv4() != connect_to.is_ipv4() {
                return Err(format!(
                    "clients.source_ips: {ip} cannot reach the target {connect_to} \
                     (another address family)"
                ));
            }
            socket.bind(&SocketAddr::new(ip, 0).into()).map_err(|err| {
                format!("clients.source_ips: cannot bind {ip} on this host: {err}")
            })?;
        }
        if let Some(k) = keepalive {
            let params = socket2::TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval)
                .with_retries(k.count);
            socket.set_tcp_keepalive(&params).map_err(|err| {
                format!(
                    "clients.tcp_keepalive: the kernel refused idle {:?}, interval {:?}, count {}: \
                     {err}",
                    k.idle, k.interval, k.count
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[test]
    fn loopback_sources_and_kernel_keepalive_values_pass() {
        let keepalive = TcpKeepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            count: 3,
        };
        let sources = [
            "127.0.0.2".parse().expect("ip"),
            "127.0.0.3".parse().expect("ip"),
        ];
        assert_eq!(
            check_socket_options(loopback(), &sources, Some(keepalive)),
            Ok(())
        );
        assert_eq!(check_socket_options(loopback(), &[], None), Ok(()));
    }

    #[test]
    fn what_the_kernel_refuses_is_named() {
        // TEST-NET-1 (RFC 5737) is never an address of this host: bind fails, nothing is sent.
        let err = check_socket_options(loopback(), &["192.0.2.1".parse().expect("ip")], None)
            .expect_err("not a local address");
        assert!(
            err.starts_with("clients.source_ips: cannot bind 192.0.2.1"),
            "{err}"
        );

        let err = check_socket_options(loopback(), &["::1".parse().expect("ip")], None)
            .expect_err("another family");
        assert!(err.contains("another address family"), "{err}");

        let past_the_kernel = TcpKeepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            count: 128,
        };
        let err = check_socket_options(loopback(), &[], Some(past_the_kernel))
            .expect_err("TCP_KEEPCNT above 127");
        assert!(
            err.starts_with("clients.tcp_keepalive: the kernel refused"),
            "{err}"
        );
    }
}
