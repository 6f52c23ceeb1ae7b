//! Chaos applied between clients and target: the frame-aware proxy (`proxy`, `frame`) and the
//! vocabulary the coordinator uses to switch its faults on and off (`ProxyFault`, `Victims`).

mod control;
pub mod frame;
pub mod proxy;
mod pump;
mod read_room;
mod run_proxy;
mod spec;
pub mod toxics;
mod upstream;

pub use control::{ProxyControl, ProxyStats};
pub use proxy::{ProxyConfig, RunningProxy, serve, spawn};
pub use run_proxy::start_for_run;
pub use toxics::ProxyFault;
pub use upstream::UpstreamTls;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

/// Header a client adds to its upgrade request when it runs behind the in-process proxy, so the
/// proxy can tell which simulated client a connection belongs to (faults pick clients, and a
/// client's next connection must be treated like its last).
pub const CLIENT_ID_HEADER: &str = "X-Wschaos-Client";

/// Which way a fault acts on bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
    Both,
}

impl Direction {
    pub fn includes_upstream(self) -> bool {
        matches!(self, Direction::Upstream | Direction::Both)
    }

    pub fn includes_downstream(self) -> bool {
        matches!(self, Direction::Downstream | Direction::Both)
    }

    /// Whether a fault configured for `self` acts on bytes travelling `way`.
    pub fn covers(self, way: Direction) -> bool {
        (way.includes_upstream() && self.includes_upstream())
            || (way.includes_downstream() && self.includes_downstream())
    }
}

/// The connections a fault applies to.
#[derive(Debug, Clone)]
pub enum Victims {
    /// Every connection, also ones without a client id (e.g. a standalone proxy's clients).
    All,
    /// Connections whose upgrade request carried one of these client ids.
    Clients(Arc<HashSet<u32>>),
}

impl Victims {
    pub fn includes(&self, client: Option<u32>) -> bool {
        match self {
            Victims::All => true,
            Victims::Clients(ids) => client.is_some_and(|id| ids.contains(&id)),
        }
    }
}

/// How the proxy recognises a heartbeat ack coming from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckMatcher {
    /// Any Pong frame (`heartbeat.mode: ping`).
    Pong,
    /// A text frame whose payload equals these bytes (`heartbeat.mode: text`).
    Text(Bytes),
    /// A graphql-ws `pong` message from the server (`target.protocol: graphql-ws`): a text
    /// frame of at most `GRAPHQL_WS_PONG_MAX` bytes whose `type` is `pong`.
    GraphqlWsPong,
    /// No heartbeat: nothing is an ack.
    Nothing,
}

/// The longest graphql-ws `pong` the proxy recognises (a pong's payload is the client's own
/// small ping payload echoed).
pub const GRAPHQL_WS_PONG_MAX: u64 = 1024;

impl AckMatcher {
    /// Socket.IO's heartbeat frame: the server's Engine.IO ping, the text frame `2`. The
    /// client answers it with a pong, so holding or dropping it on its way down delays or
    /// stops the whole heartbeat, as holding or dropping a pong does for a WebSocket ping.
    pub fn engine_io_ping() -> Self {
        AckMatcher::Text(Bytes::from_static(b"2"))
    }
}
