//! The floor for `bench/proxy_latency.sh`: a bare TCP relay (tokio's `copy_bidirectional`, one
//! current-thread runtime like `wschaos proxy`) that parses nothing. What it adds to a round trip
//! is the cost of any extra userspace hop on this machine; the chaos proxy's figure is read
//! against it.
//!
//! Usage: plain_proxy UPSTREAM_ADDR — listens on 127.0.0.1:0 and prints its address on line 1.

use std::io::Write;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let upstream: SocketAddr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| std::io::Error::other("usage: plain_proxy UPSTREAM_ADDR"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (mut client, _) = listener.accept().await?;
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    })
}
