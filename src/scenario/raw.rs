//! The scenario file schema: serde types that mirror the YAML format one to one, reject unknown
//! keys (`deny_unknown_fields`) and keep the source position of every value that needs a
//! semantic check (`Spanned<T>`). Syntax errors, unknown keys, missing required keys and wrong
//! types are reported by serde-saphyr while these are filled; `validate` checks the rest.

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// The whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Required. Non-empty, at most 128 characters from `[A-Za-z0-9_.-]`, not `.` or `..`:
    /// it becomes a directory name.
    pub name: Spanned<String>,
    /// Optional. Seed for every random choice; absent: a random seed is picked.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Run length, a duration greater than zero (`60s`, `2m`, `1m 30s`). Required, except with
    /// `clients.stages`: then it defaults to the stages' total.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    /// Required. What the clients connect to.
    pub target: RawTarget,
    /// Required. The client population and its behaviour.
    pub clients: Spanned<RawClients>,
    /// Default: no faults. Faults on the timeline, in any order (the model sorts them by `at`).
    #[serde(default)]
    pub faults: Vec<Spanned<RawFault>>,
    /// Default: none. Threshold expressions (`METRIC.STAT OP VALUE[UNIT]`, see
    /// `report::threshold`), kept verbatim once they parse.
    #[serde(default)]
    pub thresholds: Vec<Spanned<String>>,
}

/// `target:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Required. `embedded`, `ws://host[:port][/path][?query]` (port default 80, path default
    /// `/`) or `wss://...` (port default 443).
    pub url: Spanned<String>,
    /// Default: none. Extra upgrade-request headers, sent in file order.
    #[serde(default)]
    pub headers: RawHeaders,
    /// Default: none. Offered in `Sec-WebSocket-Protocol`, in file order.
    #[serde(default)]
    pub subprotocols: Vec<Spanned<String>>,
    /// Default: none. A server the tool starts and manages (a shell string, or a list of
    /// program and arguments); needs a `ws://` url pointing at it.
    #[serde(default)]
    pub command: Option<Spanned<RawCommand>>,
    /// Default: none. `true` or the TLS settings; only with `wss://` or `embedded` (which then
    /// serves TLS with a certificate made at start).
    #[serde(default)]
    pub tls: Option<Spanned<RawTls>>,
    /// Default: none. `url: embedded` only: the server pushes sequenced, timestamped JSON to
    /// every connection.
    #[serde(default)]
    pub push: Option<Spanned<RawPush>>,
    /// Default: no limit. `url: embedded` only: the most WebSocket connections the server holds
    /// at once (at least 1); an upgrade past it is answered 503.
    #[serde(default)]
    pub max_conns: Option<Spanned<u64>>,
    /// Default `raw`: frames as the scenario writes them. `graphql-ws`: the clients speak the
    /// graphql-transport-ws protocol (`connection_init`, ping/pong heartbeats, a subscription).
    /// `socketio`: the clients speak Socket.IO (Engine.IO v4, websocket transport) to a
    /// `ws[s]://host[:port]` url without a path.
    #[serde(default)]
    pub protocol: Option<Spanned<String>>,
    /// Only with `protocol: graphql-ws`. Default: `connection_init` without a payload, no
    /// subscription.
    #[serde(default)]
    pub graphql_ws: Option<Spanned<RawGraphqlWs>>,
    /// Only with `protocol: socketio`. Default: the defaults of each key.
    #[serde(default)]
    pub socketio: Option<Spanned<RawSocketIo>>,
}

/// `target.graphql_ws:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraphqlWs {
    /// Default: none. The `connection_init` payload, a mapping (credentials, typically).
    #[serde(default)]
    pub init_payload: Option<Spanned<serde_json::Value>>,
    /// Default: none. One subscription each connection starts once acknowledged.
    #[serde(default)]
    pub subscribe: Option<Spanned<RawSubscribe>>,
}

/// `target.graphql_ws.subscribe:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscribe {
    /// Required. The GraphQL document (non-empty).
    pub query: Spanned<String>,
    /// Default: none. The operation's variables, a mapping.
    #[serde(default)]
    pub variables: Option<Spanned<serde_json::Value>>,
    /// Default: none. Which operation of the document to run.
    #[serde(default)]
    pub operation_name: Option<Spanned<String>>,
    /// Default `1`. The operation id of the `subscribe` message (non-empty).
    #[serde(default)]
    pub id: Option<Spanned<String>>,
}

/// `target.socketio:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketIo {
    /// Default `/`. The namespace joined on every connection: `/` or `/name`, no comma.
    #[serde(default)]
    pub namespace: Option<Spanned<String>>,
    /// Default `/socket.io/`. The Engine.IO path on the server.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// Default: none. A mapping sent as the namespace connect's `auth` object.
    #[serde(default)]
    pub auth: Option<Spanned<serde_json::Value>>,
    /// Default `echo`. The event `clients.messages` are emitted under, each with an ack.
    #[serde(default)]
    pub event: Option<Spanned<String>>,
}

/// `target.push:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    /// Required. `N/s` or `N/m`, at most 1000/s: messages per second on the stream.
    pub rate: Spanned<String>,
    /// Default 64. Bytes per message, 16 to 65 536.
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
    /// Default false. Replay the messages after `?since=<seq>` to a connection that asks.
    #[serde(default)]
    pub resume: Option<Spanned<bool>>,
}

/// `target.tls:` `true` / `false`, or the settings (all optional).
#[derive(Debug)]
pub enum RawTls {
    Switch(bool),
    Settings(Box<RawTlsSettings>),
}

/// `target.tls:` as a mapping.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsSettings {
    /// PEM file of the CA certificates to trust instead of the built-in roots.
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// PEM file of the client certificate chain (mutual TLS); needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<Spanned<String>>,
    /// PEM file of the client certificate's private key; needs `client_cert`.
    #[serde(default)]
    pub client_key: Option<Spanned<String>>,
    /// SNI and the name checked against the certificate, instead of the url's host.
    #[serde(default)]
    pub server_name: Option<Spanned<String>>,
    /// Default false. Accept any certificate.
    #[serde(default)]
    pub insecure: Option<Spanned<bool>>,
    /// Default true. Resume TLS sessions on reconnect.
    #[serde(default)]
    pub resume: Option<Spanned<bool>>,
}

impl<'de> Deserialize<'de> for RawTls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TlsVisitor;

        impl<'de> Visitor<'de> for TlsVisitor {
            type Value = RawTls;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a mapping of TLS settings")
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawTls, E> {
                Ok(RawTls::Switch(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTls, A::Error> {
                RawTlsSettings::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|s| RawTls::Settings(Box::new(s)))
            }
        }

        deserializer.deserialize_any(TlsVisitor)
    }
}

/// `target.headers:` a mapping of header name to value that keeps the file order (a plain map
/// type would lose it).
#[derive(Debug, Default)]
pub struct RawHeaders(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for RawHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;

        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = RawHeaders;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of header names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeaders, A::Error> {
                let mut headers = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<String>>()? {
                    headers.push(entry);
                }
                Ok(RawHeaders(headers))
            }
        }

        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// `clients:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClients {
    /// Required unless `stages` is given (not both). Number of clients, 1 to 1 000 000.
    #[serde(default)]
    pub count: Option<Spanned<u64>>,
    /// Only with `count`. Default `0s` (all clients at once). Arrivals are spread evenly over
    /// this span; must be shorter than the scenario duration.
    #[serde(default)]
    pub ramp: Option<Spanned<String>>,
    /// Instead of `count` and `ramp`: how the planned client count moves over the run, from
    /// zero, stage after stage (at least one; together no longer than `duration`).
    #[serde(default)]
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    /// Default `10s`, greater than zero. TCP connect plus upgrade must finish within this.
    #[serde(default)]
    pub connect_timeout: Option<Spanned<String>>,
    /// Default when absent: mode ping, interval 5s, timeout 10s, max_missed 1, reset_on ack.
    #[serde(default)]
    pub heartbeat: Option<Spanned<RawHeartbeat>>,
    /// Default when absent: exponential, initial 500ms, max 30s, multiplier 2, jitter full,
    /// max_attempts 0 (never give up).
    #[serde(default)]
    pub reconnect: Option<RawReconnect>,
    /// Default: no application messages, only heartbeats.
    #[serde(default)]
    pub messages: Option<RawMessages>,
    /// Default: none (the OS default, usually off). TCP keepalive on every client socket.
    #[serde(default)]
    pub tcp_keepalive: Option<RawKeepalive>,
    /// Default `1MiB`, from `1KiB` to `1GiB`: bytes (`65536`) or a whole number of KiB, MiB or
    /// GiB. Most bytes a connection queues beyond what its socket took; an application message
    /// that finds the queue this full is dropped and counted.
    #[serde(default)]
    pub send_buffer: Option<Spanned<String>>,
    /// Default `10s`, greater than zero. A connection with bytes queued whose socket takes none
    /// of them for this long is closed as dead (`disconnects_send_timeout`).
    #[serde(default)]
    pub send_timeout: Option<Spanned<String>>,
    /// Default `1ms`, from `0s` (exact) to `100ms`. A client's timers wake on a grid this fine:
    /// heartbeats and messages due within one step leave together.
    #[serde(default)]
    pub timer_resolution: Option<Spanned<String>>,
    /// Default: none (the OS picks). Local addresses spread over the clients (client i binds
    /// `source_ips[i % len]`): one address has only ~28k ephemeral ports per destination.
    #[serde(default)]
    pub source_ips: Vec<Spanned<String>>,
    /// Default: none. Frames sent in order on every new connection before its first heartbeat
    /// (at most 32).
    #[serde(default)]
    pub on_open: Vec<Spanned<RawOnOpen>>,
    /// Default: none (pushed messages are only counted). Where a pushed message carries its
    /// sequence number and send time.
    #[serde(default)]
    pub stream: Option<Spanned<RawStream>>,
    /// Default `none`. `deflate`: every upgrade offers permessage-deflate as browsers do
    /// (`permessage-deflate; client_max_window_bits`).
    #[serde(default)]
    pub compression: Option<RawCompression>,
}

/// One entry of `clients.stages`: `{to: N, over: DURATION}` or `{hold: DURATION}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// With `over`: the planned count at the stage's end, 0 to 1 000 000.
    #[serde(default)]
    pub to: Option<Spanned<u64>>,
    /// With `to`: how long the move takes (`0s`: at once).
    #[serde(default)]
    pub over: Option<Spanned<String>>,
    /// Alone: keep the planned count this long (greater than zero).
    #[serde(default)]
    pub hold: Option<Spanned<String>>,
}

/// `clients.stream:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    /// Required. `/field` (a top-level field of a JSON text frame) or `bytes N..N+8` (a
    /// big-endian u64 of a binary frame). With `target.protocol: graphql-ws`: a field of the
    /// subscription's result (the value of the one root field of a `next` message's data).
    pub seq: Spanned<String>,
    /// Default: none (no `push_latency`). The same kind of place as `seq`; microseconds since
    /// the UNIX epoch.
    #[serde(default)]
    pub sent_at: Option<Spanned<String>>,
    /// Default: none. On a reconnect the url gets `?<resume_param>=<last sequence seen>`.
    #[serde(default)]
    pub resume_param: Option<Spanned<String>>,
}

/// `clients.compression`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawCompression {
    None,
    Deflate,
}

/// One entry of `clients.on_open`: exactly one of `text` and `binary_hex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnOpen {
    /// A text frame, non-empty, at most 64 KiB; `{{client_id}}` and `{{conn}}` are filled in.
    #[serde(default)]
    pub text: Option<Spanned<String>>,
    /// A binary frame as hex digits (spaces allowed between bytes), at most 64 KiB decoded,
    /// sent as written.
    #[serde(default)]
    pub binary_hex: Option<Spanned<String>>,
    /// Default: no answer awaited.
    #[serde(default)]
    pub expect: Option<RawExpect>,
}

/// `clients.on_open[i].expect:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Required. A text frame from the server containing this (non-empty, at most 64 KiB)
    /// answers the item.
    pub text_contains: Spanned<String>,
    /// Default `5s`, greater than zero. The answer must arrive this long after the item was sent.
    #[serde(default)]
    pub within: Option<Spanned<String>>,
}

/// `clients.heartbeat:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    /// Default `ping`.
    #[serde(default)]
    pub mode: Option<RawHeartbeatMode>,
    /// Only with `mode: text`. Default `Heartbeat`; must be non-empty.
    #[serde(default)]
    pub payload: Option<Spanned<String>>,
    /// Only with `mode: text`. Default: the payload; must be non-empty.
    #[serde(default)]
    pub ack: Option<Spanned<String>>,
    /// Default `5s`, greater than zero.
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    /// Default `10s`, greater than zero.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Default 1, at least 1.
    #[serde(default)]
    pub max_missed: Option<Spanned<u32>>,
    /// Default `ack`.
    #[serde(default)]
    pub reset_on: Option<RawResetOn>,
}

/// `clients.heartbeat.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawHeartbeatMode {
    Ping,
    Text,
    None,
}

impl RawHeartbeatMode {
    pub fn name(self) -> &'static str {
        match self {
            RawHeartbeatMode::Ping => "ping",
            RawHeartbeatMode::Text => "text",
            RawHeartbeatMode::None => "none",
        }
    }
}

/// `clients.heartbeat.reset_on`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawResetOn {
    Ack,
    Any,
}

/// `clients.reconnect:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconnect {
    /// Default `exponential`.
    #[serde(default)]
    pub backoff: Option<RawBackoff>,
    /// Default `500ms`, greater than zero.
    #[serde(default)]
    pub initial: Option<Spanned<String>>,
    /// Default `30s`, at least `initial`.
    #[serde(default)]
    pub max: Option<Spanned<String>>,
    /// Default 2, finite and at least 1.0.
    #[serde(default)]
    pub multiplier: Option<Spanned<f64>>,
    /// Default `full` for fixed and exponential backoff, `none` for decorrelated (which is
    /// already randomised, so `full` or `equal` with it is an error).
    #[serde(default)]
    pub jitter: Option<Spanned<RawJitter>>,
    /// Default 0 (never give up).
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// `clients.reconnect.backoff`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawBackoff {
    Fixed,
    Exponential,
    Decorrelated,
}

/// `clients.reconnect.jitter`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawJitter {
    None,
    Full,
    Equal,
}

/// `clients.messages:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessages {
    /// Required. `N/s` or `N/m` per client with N a positive number (at most 1 000 000/s), or
    /// `closed` for a closed loop.
    pub rate: Spanned<String>,
    /// Default 64. Bytes per message, 16 to 1 048 576.
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
}

/// One entry of `faults:`: every `key: value` pair with its position, in file order.
///
/// Which keys a fault takes depends on its `kind`, and an internally tagged serde enum would lose
/// the source positions of every value inside it (serde buffers the map), so the entry is kept
/// as written; `validate::faults` checks the keys against the kind and each fault kind's home
/// checks its own knobs. A null value counts as absent.
#[derive(Debug)]
pub struct RawFault {
    pub fields: Vec<(Spanned<String>, Spanned<String>)>,
}

impl RawFault {
    pub fn get(&self, key: &str) -> Option<&Spanned<String>> {
        self.fields
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, value)| value)
    }
}

impl<'de> Deserialize<'de> for RawFault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FaultVisitor;

        impl<'de> Visitor<'de> for FaultVisitor {
            type Value = RawFault;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of fault fields to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFault, A::Error> {
                let mut fields = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if let Some(value) = map.next_value::<Option<Spanned<String>>>()? {
                        fields.push((key, value));
                    }
                }
                Ok(RawFault { fields })
            }
        }

        deserializer.deserialize_map(FaultVisitor)
    }
}

/// `target.command`: a shell string or a list (program and arguments).
#[derive(Debug)]
pub enum RawCommand {
    Shell(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = RawCommand;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a shell command string or a list of program and arguments")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCommand, E> {
                Ok(RawCommand::Shell(v.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawCommand, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(RawCommand::Argv(argv))
            }
        }

        deserializer.deserialize_any(CommandVisitor)
    }
}

/// `clients.tcp_keepalive:` all three fields required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeepalive {
    /// Silence before the first probe, greater than zero.
    pub idle: Spanned<String>,
    /// Between probes, greater than zero.
    pub interval: Spanned<String>,
    /// Unanswered probes before the kernel drops the connection, at least 1.
    pub count: Spanned<u32>,
}
