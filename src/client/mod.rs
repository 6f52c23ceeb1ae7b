//! A simulated WebSocket client: one actix actor with its own heartbeat and reconnect state
//! machine (`actor`), its reconnect delays (`backoff`), heartbeat bookkeeping (`heartbeat`) and
//! socket handling (`connection`).

pub mod actor;
pub mod backoff;
mod clock;
pub mod connection;
pub mod heartbeat;
mod messages;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use actor::{Client, DropConnection, FaultEnded, FaultStarted, Stop};
pub use connection::Endpoint;

use crate::scenario::{Heartbeat, Messages, Reconnect, TcpKeepalive};

/// What every client of a run shares (read-only, behind one `Arc`).
#[derive(Debug)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub heartbeat: Heartbeat,
    pub reconnect: Reconnect,
    pub messages: Option<Messages>,
    /// Source addresses spread over the clients (client i uses `source_ips[i % len]`).
    pub source_ips: Vec<IpAddr>,
    /// How long a manual close waits for the server's close frame before dropping the socket.
    pub close_grace: Duration,
    pub seed: u64,
    /// Start of the run: connect attempts are counted in 100 ms windows from here.
    pub started: Instant,
    /// Send `X-Wschaos-Client: <id>` with the upgrade (so the chaos proxy knows who is who).
    pub identify: bool,
    pub tcp_keepalive: Option<TcpKeepalive>,
}

impl ClientConfig {
    pub fn source_ip(&self, client_id: u32) -> Option<IpAddr> {
        if self.source_ips.is_empty() {
            None
        } else {
            Some(self.source_ips[client_id as usize % self.source_ips.len()])
        }
    }

    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }
}
