//! A simulated WebSocket client: one actix actor with its own heartbeat and reconnect state
//! machine (`actor`), the messages it takes (`commands`), what it counts (`tally`), the open
//! connection it holds (`live`), its reconnect delays (`backoff`), heartbeat bookkeeping
//! (`heartbeat`), application messages (`messages`), its one timer (`clock`), socket
//! handling (`connection`), permessage-deflate (`deflate`), the run's socket options tried
//! once before it starts (`preflight`), frame reading (`reader`), following a
//! server-pushed stream (`stream`) and the application protocols spoken inside the
//! WebSocket (`app`, dispatching to `graphql_ws` and `socketio`).

pub mod actor;
mod app;
pub mod backoff;
mod clock;
mod commands;
pub mod connection;
pub mod deflate;
pub mod graphql_ws;
pub mod heartbeat;
mod live;
mod messages;
mod preflight;
pub mod reader;
pub mod socketio;
mod stream;
mod tally;
mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use actor::Client;
pub use app::AppProtocol;
pub use commands::{DropConnection, FaultEnded, FaultStarted, Stop};
pub use connection::Endpoint;
pub use preflight::check_socket_options;
pub use stream::now_unix_us;

use crate::scenario::{Heartbeat, Messages, OnOpenItem, Reconnect, Stream, TcpKeepalive};

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
    /// Most bytes a connection queues beyond what its socket took: an application message that
    /// finds the queue this full is dropped (and counted), so a server that stops reading costs
    /// at most this much per connection.
    pub send_buffer: usize,
    /// A connection with bytes queued that its socket takes none of for this long is dead.
    pub send_timeout: Duration,
    /// A client's timers wake on a grid this fine, counted from `started` (see `clock`):
    /// coarser means fewer wakeups and burstier traffic; below 1 ms they take the precise timer.
    pub timer_resolution: Duration,
    /// Frames sent on every new connection before its first heartbeat or message, each
    /// perhaps waiting for the server's answer (`actor/on_open.rs`).
    pub on_open: Vec<OnOpenItem>,
    /// Where pushed messages carry their sequence number and send time (`stream.rs`); without
    /// it pushed messages are only counted.
    pub stream: Option<Stream>,
    /// `target.protocol`: what the clients speak inside the WebSocket, prepared once
    /// (`app.rs`).
    pub app: AppProtocol,
}

/// `send_buffer` unless a scenario says otherwise.
pub const DEFAULT_SEND_BUFFER: usize = 1 << 20;
/// `send_timeout` unless a scenario says otherwise.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `timer_resolution` unless a scenario says otherwise: the precise timer on a 500 µs grid, so
/// every heartbeat and message leaves within about 0.5 ms of when it is due, plus the time to
/// wake the thread (on Linux; elsewhere the runtime's 1 ms tick). At 19,000 clients with a 1 s
/// heartbeat (`bench/w1.py 19000`) this grid kept the send lag p99 at 0.76 ms for 18% more CPU
/// than the runtime's tick (p99 2.14 ms); the 100 µs grid (`0s`) cost 92% more CPU for a p99 no
/// better (0.88 ms): each step that holds a deadline is a wakeup.
pub const DEFAULT_TIMER_RESOLUTION: Duration = Duration::from_micros(500);
/// The coarsest `timer_resolution` a scenario may ask for.
pub const MAX_TIMER_RESOLUTION: Duration = Duration::from_millis(100);

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
