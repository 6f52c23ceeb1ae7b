//! Chaos applied between clients and target: the frame-aware proxy (`proxy`, `frame`) and the
//! vocabulary the coordinator uses to switch its faults on and off (`ProxyFault`, `Victims`).

mod control;
pub mod frame;
pub mod proxy;
mod pump;
mod run_proxy;
mod spec;
pub mod toxics;

pub use control::{ProxyControl, ProxyStats};
pub use proxy::{ProxyConfig, RunningProxy, serve, spawn};
pub use run_proxy::start_for_run;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

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

/// What the proxy does to a victim connection while a fault is active: one variant per fault.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyFault {
    /// Heartbeat acks from the server (Pong frames, or text frames equal to the ack) are held
    /// back `delay` +- `jitter`; every other frame passes at once and in order.
    DelayAcks { delay: Duration, jitter: Duration },
    /// Heartbeat acks from the server are swallowed; the connection stays open.
    DropAcks,
    /// Half-open: no bytes either way, no FIN, no RST; new connections hang. Bytes stay
    /// queued (in the proxy or the kernel) and flow again when the fault ends.
    Partition,
    /// Every byte in `direction` is delayed `latency` +- `jitter`, order preserved.
    Latency {
        direction: Direction,
        latency: Duration,
        jitter: Duration,
    },
    /// At most `bytes_per_s` per connection in `direction`.
    Bandwidth {
        direction: Direction,
        bytes_per_s: u64,
    },
    /// Data frames (text, binary, continuation) in `direction` are dropped with `probability`.
    FrameLoss {
        direction: Direction,
        probability: f64,
    },
    /// A connection that carried no bytes either way for `idle` is closed (both sides, FIN),
    /// as nginx's proxy_read_timeout or a cloud load balancer does.
    IdleTimeout { idle: Duration },
}

impl ProxyFault {
    /// The fault's name in scenario files, `--fault` specs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ProxyFault::DelayAcks { .. } => "delay_pongs",
            ProxyFault::DropAcks => "stop_acking",
            ProxyFault::Partition => "partition",
            ProxyFault::Latency { .. } => "latency",
            ProxyFault::Bandwidth { .. } => "bandwidth",
            ProxyFault::FrameLoss { .. } => "frame_loss",
            ProxyFault::IdleTimeout { .. } => "idle_timeout",
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
    /// No heartbeat: nothing is an ack.
    Nothing,
}
