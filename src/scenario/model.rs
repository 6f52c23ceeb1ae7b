//! The validated scenario: what the engine runs. Every value here has passed validation, so the
//! engine never re-checks ranges. The YAML schema (with spans) lives in `raw.rs`, the checks in
//! `validate`.

use std::path::PathBuf;
use std::time::Duration;

/// One load-and-chaos run, as described by a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Seed for every random choice (first-heartbeat offsets, jitter, fault victims).
    pub seed: u64,
    pub duration: Duration,
    pub target: Target,
    pub clients: Clients,
    pub faults: Vec<Fault>,
    /// Threshold expressions, kept verbatim (`heartbeat_rtt.p99 < 50ms`).
    pub thresholds: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: TargetUrl,
    /// Extra request headers sent with every upgrade request.
    pub headers: Vec<(String, String)>,
    /// Offered in `Sec-WebSocket-Protocol`.
    pub subprotocols: Vec<String>,
    /// A server process the tool starts (stdout/stderr into the report directory), waits for
    /// until `url`'s port accepts, kills for `server_kill` and never leaves running.
    pub command: Option<TargetCommand>,
    /// TLS settings: present for a `wss://` url (defaults when the file has no `tls:`) and for
    /// the embedded server with `tls:` (it then serves TLS with a certificate made at start).
    pub tls: Option<TargetTls>,
    /// `url: embedded` only: the embedded server pushes a sequenced stream to every connection.
    pub push: Option<Push>,
    /// `url: embedded` only: the most connections the embedded server holds at once (503 past
    /// it).
    pub max_conns: Option<u64>,
    /// What the clients speak inside the WebSocket.
    pub protocol: Protocol,
}

/// `target.protocol`: the application protocol the clients speak over WebSocket.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Protocol {
    /// Frames as the scenario writes them (heartbeats, messages, `on_open`).
    #[default]
    Raw,
    /// GraphQL over WebSocket (`graphql-transport-ws`, `client/graphql_ws.rs`).
    GraphqlWs(GraphqlWs),
    /// Socket.IO v5 over Engine.IO v4, websocket transport only (`client::socketio`).
    SocketIo(SocketIo),
}

impl Protocol {
    /// The names a scenario gives them (`target.protocol`), as reports record them.
    pub const RAW: &'static str = "raw";
    pub const GRAPHQL_WS: &'static str = "graphql-ws";
    pub const SOCKETIO: &'static str = "socketio";

    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Raw => Self::RAW,
            Protocol::GraphqlWs(_) => Self::GRAPHQL_WS,
            Protocol::SocketIo(_) => Self::SOCKETIO,
        }
    }

    pub fn graphql_ws(&self) -> Option<&GraphqlWs> {
        match self {
            Protocol::GraphqlWs(settings) => Some(settings),
            Protocol::Raw | Protocol::SocketIo(_) => None,
        }
    }

    pub fn socketio(&self) -> Option<&SocketIo> {
        match self {
            Protocol::SocketIo(settings) => Some(settings),
            Protocol::Raw | Protocol::GraphqlWs(_) => None,
        }
    }
}

/// The subprotocol a graphql-ws client offers (validation adds it to `target.subprotocols`).
pub const GRAPHQL_WS_SUBPROTOCOL: &str = "graphql-transport-ws";

/// `target.graphql_ws`: what a graphql-ws client sends besides its heartbeats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphqlWs {
    /// The `connection_init` payload (a JSON object), if any.
    pub init_payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// The subscription each connection starts once the server acknowledged it.
    pub subscribe: Option<GraphqlSubscribe>,
}

/// `target.graphql_ws.subscribe`: one operation, started on every acknowledged connection.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlSubscribe {
    /// The operation id (`1` unless the scenario says otherwise).
    pub id: String,
    pub query: String,
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    pub operation_name: Option<String>,
}

/// `target.socketio`: where the Socket.IO server is and what the clients say to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIo {
    /// The namespace joined on every connection, `/` or `/name` (no comma).
    pub namespace: String,
    /// The Engine.IO path, ending in `/` (`/socket.io/`); the url's path is this plus
    /// `?EIO=4&transport=websocket`.
    pub path: String,
    /// The `auth` object sent with the namespace connect, as JSON text.
    pub auth: Option<String>,
    /// The event name `clients.messages` are emitted under (with an ack).
    pub event: String,
}

/// `target.tls`: how clients speak TLS to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTls {
    /// Trust only the certificates of this PEM file (instead of the built-in roots).
    pub ca_file: Option<PathBuf>,
    /// A client certificate for servers that ask for one (mutual TLS).
    pub client_identity: Option<ClientIdentity>,
    /// The name sent as SNI and checked against the certificate, instead of the url's host.
    pub server_name: Option<String>,
    /// Skip certificate verification entirely (only ever from the scenario file).
    pub insecure: bool,
    /// Resume the TLS session on reconnect (each client keeps its own session cache).
    pub resume: bool,
}

impl Default for TargetTls {
    fn default() -> Self {
        Self {
            ca_file: None,
            client_identity: None,
            server_name: None,
            insecure: false,
            resume: true,
        }
    }
}

/// `target.tls.client_cert` and `client_key`: PEM files, the chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetUrl {
    /// The built-in echo server, started in-process on an ephemeral loopback port.
    Embedded,
    /// A `ws://` endpoint.
    Ws(WsUrl),
    /// A `wss://` endpoint (TLS; port 443 unless given).
    Wss(WsUrl),
}

impl TargetUrl {
    /// The endpoint of a `ws://` or `wss://` url.
    pub fn endpoint(&self) -> Option<&WsUrl> {
        match self {
            TargetUrl::Embedded => None,
            TargetUrl::Ws(url) | TargetUrl::Wss(url) => Some(url),
        }
    }
}

/// A parsed `ws://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Host name or IP address. IPv6 literals keep their brackets (`[::1]`), so
    /// `format!("{host}:{port}")` and the `Host` header are well-formed.
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl WsUrl {
    /// The value of the `Host` header (of a `ws://` url: port 80 is left out).
    pub fn host_header(&self) -> String {
        self.host_header_with_default(80)
    }

    /// The value of the `Host` header, leaving out `default_port` (443 for `wss://`).
    pub fn host_header_with_default(&self, default_port: u16) -> String {
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl WsUrl {
    /// The first address the host resolves to.
    pub async fn resolve(&self) -> Option<std::net::SocketAddr> {
        // IPv6 hosts are kept bracketed for the Host header; the resolver wants them bare.
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        tokio::net::lookup_host((host, self.port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
    }
}

impl WsUrl {
    /// The url as `wss://host:port/path` (`Display` writes `ws://`).
    pub fn to_string_with_tls(&self, tls: bool) -> String {
        if tls {
            format!("wss://{}:{}{}", self.host, self.port, self.path)
        } else {
            self.to_string()
        }
    }
}

impl std::fmt::Display for WsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ws://{}:{}{}", self.host, self.port, self.path)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clients {
    /// The peak planned client count: the highest `to` of `stages`. Everything sized by the
    /// number of clients (shards, fd limit, kernel-limit preflight, the report) uses this.
    pub count: u32,
    /// How the planned client count moves over the run, starting from zero. Never empty once
    /// validated: `count` with `ramp` is the single stage `Ramp { to: count, over: ramp }`.
    pub stages: Vec<Stage>,
    /// TCP connect plus upgrade must finish within this, or the attempt fails.
    pub connect_timeout: Duration,
    pub heartbeat: Heartbeat,
    pub reconnect: Reconnect,
    pub messages: Option<Messages>,
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Most bytes a connection queues beyond what its socket took; an application message that
    /// finds the queue this full is dropped (and counted).
    pub send_buffer_bytes: usize,
    /// A connection with bytes queued whose socket takes none of them for this long is dead.
    pub send_timeout: Duration,
    /// A client's timers wake on a grid this fine (zero or up to the runtime's 1 ms tick:
    /// each heartbeat and message leaves when it is due).
    pub timer_resolution: Duration,
    /// Local addresses spread over the clients (client i binds `source_ips[i % len]`).
    pub source_ips: Vec<std::net::IpAddr>,
    /// Frames sent on every new connection before its first heartbeat or message.
    pub on_open: Vec<OnOpenItem>,
    /// Where pushed messages carry their sequence number and send time (gaps, duplicates,
    /// reorderings, messages missed across an outage, `push_latency`).
    pub stream: Option<Stream>,
    /// The compression extension each upgrade offers.
    pub compression: Compression,
}

/// One step of `clients.stages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Move the planned client count linearly from where it is to `to` over `over` (zero: at once).
    Ramp { to: u32, over: Duration },
    /// Keep the planned count for this long.
    Hold(Duration),
}

pub use super::stages::{peak, planned_at, stages_total};

/// The compression extension a client offers in its upgrade request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// No extension offered (frames go out as written).
    #[default]
    None,
    /// permessage-deflate (RFC 7692), offered as browsers do; used when the server accepts.
    Deflate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub mode: HeartbeatMode,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive missed acks that declare the connection dead (>= 1).
    pub max_missed: u32,
    pub reset_on: ResetOn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatMode {
    /// Protocol Ping with an 8-byte sequence number; the matching Pong is the ack.
    Ping,
    /// A text frame `payload`; a text frame equal to `ack` is the ack.
    Text { payload: String, ack: String },
    /// No heartbeat at all (a dead connection is only noticed when the socket says so).
    None,
}

/// What disarms the heartbeat timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOn {
    /// Only the ack (seed 003).
    Ack,
    /// Any inbound frame (seed 000).
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reconnect {
    pub backoff: BackoffPolicy,
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    pub jitter: Jitter,
    /// Consecutive failed attempts before giving up; 0 = never give up.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffPolicy {
    /// Always `initial`.
    Fixed,
    /// `initial * multiplier^(attempt-1)`, capped at `max`.
    Exponential,
    /// AWS "decorrelated jitter": uniform in [initial, previous * multiplier], capped at `max`.
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    /// Uniform in [0, delay].
    Full,
    /// delay/2 + uniform in [0, delay/2].
    Equal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Messages {
    pub rate: MessageRate,
    /// Bytes per message, sequence number included (>= 16).
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MessageRate {
    /// Open loop: this many messages per second per client, sent on schedule.
    PerSecond(f64),
    /// Closed loop: the next message leaves when the previous echo arrives.
    Closed,
}

pub use super::fault::{DropMode, Fault, FaultKind, KillSignal};
pub use super::on_open::{Expect, OnOpenFrame, OnOpenItem, Template};
pub use super::stream::{Place, Push, Stream};
pub use crate::chaos::{Direction, ProxyFault};

/// An external target the tool starts, kills and restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetCommand {
    /// Run through `sh -c`.
    Shell(String),
    /// Program and arguments, no shell.
    Argv(Vec<String>),
}

/// OS-level TCP keepalive on client sockets (compare with an application heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    pub idle: Duration,
    pub interval: Duration,
    pub count: u32,
}
