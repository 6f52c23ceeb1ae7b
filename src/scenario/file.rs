//! The scenario file schema (serde types with defaults) and its validation into the model.
//!
//! Parsing happens in two steps:
//!
//! 1. serde-saphyr deserializes the YAML into the `Raw*` structs below. They mirror the file
//!    format one to one, reject unknown keys (`deny_unknown_fields`), and keep the source
//!    position of every value that needs a semantic check (`Spanned<T>`). Syntax errors, unknown
//!    keys, missing required keys and wrong types are reported by serde-saphyr at this stage.
//! 2. [`parse`] validates the raw values (durations, ranges, URLs, cross-field rules) and builds
//!    the [`model::Scenario`](super::Scenario) the engine runs, filling in the documented defaults.
//!
//! Every failure becomes [`ScenarioError::Invalid`] with the file, line and column of the
//! offending value and a message of the form `key.path: expected X, found "Y"`.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use super::ScenarioError;
use super::model::{
    BackoffPolicy, Clients, Direction, DropMode, Fault, FaultKind, Heartbeat, HeartbeatMode,
    Jitter, KillSignal, MessageRate, Messages, ProxyFault, Reconnect, ResetOn, Scenario, Target,
    TargetCommand, TargetUrl, TcpKeepalive, WsUrl,
};
use crate::report::threshold::{Threshold, ThresholdError};

// ---------------------------------------------------------------------------------------------
// Limits and defaults
// ---------------------------------------------------------------------------------------------

/// Upper bound for every duration in a scenario file (365 days), so that the engine can add any
/// of them to an `Instant` without overflowing.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Longest accepted scenario name (it becomes a directory name).
const MAX_NAME_LEN: usize = 128;
/// Most clients a scenario may ask for.
const MAX_CLIENTS: u64 = 1_000_000;
/// Smallest and largest message size in bytes (the sequence number takes 16 bytes).
const MESSAGE_SIZE: std::ops::RangeInclusive<u64> = 16..=1_048_576;
/// Highest open-loop message rate per client, in messages per second.
const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;

const DEFAULT_RAMP: Duration = Duration::ZERO;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_HEARTBEAT_PAYLOAD: &str = "Heartbeat";
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_MISSED: u32 = 1;
const DEFAULT_RECONNECT_INITIAL: Duration = Duration::from_millis(500);
const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(30);
const DEFAULT_RECONNECT_MULTIPLIER: f64 = 2.0;
const DEFAULT_MESSAGE_SIZE: u64 = 64;
const DEFAULT_SERVER_KILL_DOWNTIME: Duration = Duration::from_secs(5);

/// The fault kinds a scenario file may name, in the order error messages list them.
const FAULT_KINDS: &[&str] = &[
    "server_kill",
    "drop",
    "delay_pongs",
    "stop_acking",
    "partition",
    "latency",
    "bandwidth",
    "frame_loss",
    "idle_timeout",
];

/// The optional fields each fault kind takes (besides `kind` and `at`).
const FAULT_FIELDS: &[(&str, &[&str])] = &[
    ("server_kill", &["downtime", "signal"]),
    ("drop", &["fraction", "mode"]),
    ("delay_pongs", &["duration", "fraction", "delay", "jitter"]),
    ("stop_acking", &["duration", "fraction"]),
    ("partition", &["duration", "fraction"]),
    (
        "latency",
        &["duration", "fraction", "direction", "latency", "jitter"],
    ),
    (
        "bandwidth",
        &["duration", "fraction", "direction", "bytes_per_s"],
    ),
    (
        "frame_loss",
        &["duration", "fraction", "direction", "probability"],
    ),
    ("idle_timeout", &["duration", "fraction", "idle"]),
];

/// What a target URL may look like, for error messages.
const URL_FORMS: &str = "embedded or ws://host[:port][/path][?query]";

// ---------------------------------------------------------------------------------------------
// Raw schema: exactly what the YAML file holds
// ---------------------------------------------------------------------------------------------

/// The whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    /// Required. Non-empty, at most 128 characters from `[A-Za-z0-9_.-]`, not `.` or `..`:
    /// it becomes a directory name.
    name: Spanned<String>,
    /// Optional. Seed for every random choice; absent: a random seed is picked.
    #[serde(default)]
    seed: Option<u64>,
    /// Required. Run length, a duration greater than zero (`60s`, `2m`, `1m 30s`).
    duration: Spanned<String>,
    /// Required. What the clients connect to.
    target: RawTarget,
    /// Required. The client population and its behaviour.
    clients: RawClients,
    /// Default: no faults. Faults on the timeline, in any order (the model sorts them by `at`).
    #[serde(default)]
    faults: Vec<RawFault>,
    /// Default: none. Threshold expressions (`METRIC.STAT OP VALUE[UNIT]`, see
    /// `report::threshold`), kept verbatim once they parse.
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
}

/// `target:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    /// Required. `embedded` or `ws://host[:port][/path][?query]` (port default 80, path default
    /// `/`). `wss://` is not supported yet.
    url: Spanned<String>,
    /// Default: none. Extra upgrade-request headers, sent in file order.
    #[serde(default)]
    headers: RawHeaders,
    /// Default: none. Offered in `Sec-WebSocket-Protocol`, in file order.
    #[serde(default)]
    subprotocols: Vec<Spanned<String>>,
    /// Default: none. A server the tool starts and manages (a shell string, or a list of
    /// program and arguments); needs a `ws://` url pointing at it.
    #[serde(default)]
    command: Option<Spanned<RawCommand>>,
}

/// `target.headers:` a mapping of header name to value that keeps the file order (a plain map
/// type would lose it).
#[derive(Debug, Default)]
struct RawHeaders(Vec<(Spanned<String>, Spanned<String>)>);

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
struct RawClients {
    /// Required. Number of clients, 1 to 1 000 000.
    count: Spanned<u64>,
    /// Default `0s` (all clients at once). Arrivals are spread evenly over this span; must be
    /// shorter than the scenario duration.
    #[serde(default)]
    ramp: Option<Spanned<String>>,
    /// Default `10s`, greater than zero. TCP connect plus upgrade must finish within this.
    #[serde(default)]
    connect_timeout: Option<Spanned<String>>,
    /// Default when absent: mode ping, interval 5s, timeout 10s, max_missed 1, reset_on ack.
    #[serde(default)]
    heartbeat: Option<RawHeartbeat>,
    /// Default when absent: exponential, initial 500ms, max 30s, multiplier 2, jitter full,
    /// max_attempts 0 (never give up).
    #[serde(default)]
    reconnect: Option<RawReconnect>,
    /// Default: no application messages, only heartbeats.
    #[serde(default)]
    messages: Option<RawMessages>,
    /// Default: none (the OS default, usually off). TCP keepalive on every client socket.
    #[serde(default)]
    tcp_keepalive: Option<RawKeepalive>,
    /// Default: none (the OS picks). Local addresses spread over the clients (client i binds
    /// `source_ips[i % len]`): one address has only ~28k ephemeral ports per destination.
    #[serde(default)]
    source_ips: Vec<Spanned<String>>,
}

/// `clients.heartbeat:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    /// Default `ping`.
    #[serde(default)]
    mode: Option<RawHeartbeatMode>,
    /// Only with `mode: text`. Default `Heartbeat`; must be non-empty.
    #[serde(default)]
    payload: Option<Spanned<String>>,
    /// Only with `mode: text`. Default: the payload; must be non-empty.
    #[serde(default)]
    ack: Option<Spanned<String>>,
    /// Default `5s`, greater than zero.
    #[serde(default)]
    interval: Option<Spanned<String>>,
    /// Default `10s`, greater than zero.
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    /// Default 1, at least 1.
    #[serde(default)]
    max_missed: Option<Spanned<u32>>,
    /// Default `ack`.
    #[serde(default)]
    reset_on: Option<RawResetOn>,
}

/// `clients.heartbeat.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawHeartbeatMode {
    Ping,
    Text,
    None,
}

impl RawHeartbeatMode {
    fn name(self) -> &'static str {
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
enum RawResetOn {
    Ack,
    Any,
}

/// `clients.reconnect:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconnect {
    /// Default `exponential`.
    #[serde(default)]
    backoff: Option<RawBackoff>,
    /// Default `500ms`, greater than zero.
    #[serde(default)]
    initial: Option<Spanned<String>>,
    /// Default `30s`, at least `initial`.
    #[serde(default)]
    max: Option<Spanned<String>>,
    /// Default 2, finite and at least 1.0.
    #[serde(default)]
    multiplier: Option<Spanned<f64>>,
    /// Default `full` for fixed and exponential backoff, `none` for decorrelated (which is
    /// already randomised, so `full` or `equal` with it is an error).
    #[serde(default)]
    jitter: Option<Spanned<RawJitter>>,
    /// Default 0 (never give up).
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// `clients.reconnect.backoff`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawBackoff {
    Fixed,
    Exponential,
    Decorrelated,
}

/// `clients.reconnect.jitter`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawJitter {
    None,
    Full,
    Equal,
}

/// `clients.messages:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessages {
    /// Required. `N/s` or `N/m` per client with N a positive number (at most 1 000 000/s), or
    /// `closed` for a closed loop.
    rate: Spanned<String>,
    /// Default 64. Bytes per message, 16 to 1 048 576.
    #[serde(default)]
    size: Option<Spanned<u64>>,
}

/// One entry of `faults:`.
///
/// The file format tags faults with `kind`, but an internally tagged serde enum would lose the
/// source positions of every value inside it (serde buffers the map), so this is one flat struct
/// holding the fields of every kind; [`FAULT_FIELDS`] says which kind takes which field and
/// `fault` rejects the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    /// Required. One of [`FAULT_KINDS`].
    kind: Spanned<String>,
    /// Required. Offset from the start of the run; must be before the end of the scenario.
    at: Spanned<String>,
    /// Windowed faults, required: how long the fault stays active; must end by the scenario's end.
    #[serde(default)]
    duration: Option<Spanned<String>>,
    /// Share of the connected clients the fault applies to, 0.0 to 1.0. Required for `drop`,
    /// default 1.0 elsewhere.
    #[serde(default)]
    fraction: Option<Spanned<f64>>,
    /// `server_kill`: default `5s`, greater than zero.
    #[serde(default)]
    downtime: Option<Spanned<String>>,
    /// `server_kill` of a `target.command`: `kill` (default), `term` or `stop` (SIGSTOP, then
    /// SIGCONT after `downtime`).
    #[serde(default)]
    signal: Option<Spanned<RawSignal>>,
    /// `drop`: `close` (default) or `reset`.
    #[serde(default)]
    mode: Option<Spanned<RawDropMode>>,
    /// `delay_pongs`, required: how long acks are held back.
    #[serde(default)]
    delay: Option<Spanned<String>>,
    /// `delay_pongs`, `latency`: default `0s`; the delay varies uniformly by +- this.
    #[serde(default)]
    jitter: Option<Spanned<String>>,
    /// `latency`, `bandwidth`, `frame_loss`: `upstream`, `downstream` or `both` (default).
    #[serde(default)]
    direction: Option<Spanned<RawDirection>>,
    /// `latency`, required: added delay.
    #[serde(default)]
    latency: Option<Spanned<String>>,
    /// `bandwidth`, required: bytes per second per connection, greater than zero.
    #[serde(default)]
    bytes_per_s: Option<Spanned<u64>>,
    /// `frame_loss`, required: probability that a data frame is dropped, 0.0 to 1.0.
    #[serde(default)]
    probability: Option<Spanned<f64>>,
    /// `idle_timeout`, required: silence after which a connection is cut.
    #[serde(default)]
    idle: Option<Spanned<String>>,
}

/// `faults[].mode` of a `drop` fault.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawDropMode {
    Close,
    Reset,
}

/// `faults[].signal` of a `server_kill` fault.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawSignal {
    Kill,
    Term,
    Stop,
}

/// `faults[].direction`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawDirection {
    Upstream,
    Downstream,
    Both,
}

/// `target.command`: a shell string or a list (program and arguments).
#[derive(Debug)]
enum RawCommand {
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
struct RawKeepalive {
    /// Silence before the first probe, greater than zero.
    idle: Spanned<String>,
    /// Between probes, greater than zero.
    interval: Spanned<String>,
    /// Unanswered probes before the kernel drops the connection, at least 1.
    count: Spanned<u32>,
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

/// Parses and validates scenario text; `file` is only used in error messages.
pub(super) fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    let raw: RawScenario =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax_error(file, &e))?;
    Validator { file }.scenario(raw)
}

/// Turns a serde-saphyr error (syntax, unknown key, missing key, wrong type) into
/// `ScenarioError::Invalid`, keeping the library's message (without its location suffix) and
/// its location, or 1:1 when it has none.
fn syntax_error(file: &str, err: &serde_saphyr::Error) -> ScenarioError {
    let raw = UserMessageFormatter.format_message(err);
    // The message may quote user text (an unknown key); keep it on one line.
    let mut message = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_control() {
            message.extend(c.escape_debug());
        } else {
            message.push(c);
        }
    }
    let location = err.location().unwrap_or(Location::UNKNOWN);
    let (line, column) = line_column(&location);
    ScenarioError::Invalid {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// 1-based line and column of `location`, or 1:1 when it is unknown.
fn line_column(location: &Location) -> (usize, usize) {
    if location.line() == 0 {
        return (1, 1);
    }
    let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
    let column = usize::try_from(location.column())
        .unwrap_or(usize::MAX)
        .max(1);
    (line, column)
}

/// Which durations a key accepts.
#[derive(Clone, Copy)]
enum DurationRule {
    /// Zero allowed.
    AnyLength,
    /// Strictly greater than zero.
    Positive,
}

struct Validator<'a> {
    file: &'a str,
}

impl Validator<'_> {
    /// An error at `at` whose message is `path: what`.
    fn error<T>(&self, at: &Spanned<T>, path: &str, what: impl std::fmt::Display) -> ScenarioError {
        self.error_at(&at.referenced, path, what)
    }

    fn error_at(
        &self,
        location: &Location,
        path: &str,
        what: impl std::fmt::Display,
    ) -> ScenarioError {
        let (line, column) = line_column(location);
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            message: format!("{path}: {what}"),
        }
    }

    fn scenario(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let name = self.name(&raw.name)?;
        let duration = self.duration(&raw.duration, "duration", DurationRule::Positive)?;
        let target = self.target(raw.target)?;
        let clients = self.clients(raw.clients, duration, &raw.duration.value)?;

        let mut faults = raw
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| self.fault(i, f, &target, duration, &raw.duration.value))
            .collect::<Result<Vec<_>, _>>()?;
        faults.sort_by_key(|f| f.at); // stable: equal offsets keep file order

        let thresholds = raw
            .thresholds
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                if t.value.trim().is_empty() {
                    return Err(self.error(
                        &t,
                        &format!("thresholds[{i}]"),
                        format!(
                            "expected a threshold expression like \"heartbeat_rtt.p99 < 50ms\", found {:?}",
                            t.value
                        ),
                    ));
                }
                match Threshold::parse(&t.value) {
                    Ok(_) => Ok(t.value),
                    Err(err) => Err(self.threshold_error(&t, i, &err)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Scenario {
            name,
            seed: raw.seed.unwrap_or_else(rand::random),
            duration,
            target,
            clients,
            faults,
            thresholds,
        })
    }

    /// A bad threshold, placed on its bad token: the string's column, past an opening quote,
    /// plus the token's offset in the expression.
    fn threshold_error(
        &self,
        t: &Spanned<String>,
        index: usize,
        err: &ThresholdError,
    ) -> ScenarioError {
        let (line, column) = line_column(&t.referenced);
        let chars = t.value.chars().count() as u64;
        let quoted = t.referenced.span().len() > chars;
        let offset = t.value.get(..err.offset).map_or(0, |s| s.chars().count());
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column: column + usize::from(quoted) + offset,
            message: format!("thresholds[{index}] {:?}: {err}", t.value),
        }
    }

    fn name(&self, name: &Spanned<String>) -> Result<String, ScenarioError> {
        let value = &name.value;
        let ok = !value.is_empty()
            && value.len() <= MAX_NAME_LEN
            && value != "."
            && value != ".."
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(value.clone())
        } else {
            Err(self.error(
                name,
                "name",
                format!(
                    "expected a name of 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 _ . - \
                     (it becomes a directory name), found {value:?}"
                ),
            ))
        }
    }

    /// Parses a humantime duration (`500ms`, `10s`, `2m`, `1m 30s`) and checks it against `rule`
    /// and [`MAX_DURATION`].
    fn duration(
        &self,
        value: &Spanned<String>,
        path: &str,
        rule: DurationRule,
    ) -> Result<Duration, ScenarioError> {
        let expected = match rule {
            DurationRule::AnyLength => "expected a duration like 0s, 500ms, 5s or 2m",
            DurationRule::Positive => "expected a duration greater than zero like 500ms, 5s or 2m",
        };
        let parsed = humantime::parse_duration(value.value.trim());
        match parsed {
            Ok(d) if d > MAX_DURATION => Err(self.error(
                value,
                path,
                format!(
                    "expected a duration of at most 365 days, found {:?}",
                    value.value
                ),
            )),
            Ok(d) if matches!(rule, DurationRule::Positive) && d.is_zero() => {
                Err(self.error(value, path, format!("{expected}, found {:?}", value.value)))
            }
            Ok(d) => Ok(d),
            Err(_) => Err(self.error(value, path, format!("{expected}, found {:?}", value.value))),
        }
    }

    fn optional_duration(
        &self,
        value: Option<&Spanned<String>>,
        path: &str,
        rule: DurationRule,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        match value {
            Some(v) => self.duration(v, path, rule),
            None => Ok(default),
        }
    }

    fn target(&self, raw: RawTarget) -> Result<Target, ScenarioError> {
        let url = parse_url(&raw.url.value).map_err(|m| self.error(&raw.url, "target.url", m))?;

        let mut headers = Vec::with_capacity(raw.headers.0.len());
        for (name, value) in raw.headers.0 {
            let path = format!("target.headers.{}", name.value);
            if name.value.is_empty() || !name.value.chars().all(is_token_char) {
                return Err(self.error(
                    &name,
                    "target.headers",
                    format!(
                        "expected a header name made of letters, digits and !#$%&'*+-.^_`|~, found {} (the name is not shown: it may hold a pasted header value)",
                        first_offending(&name.value, |c| !is_token_char(c))
                    ),
                ));
            }
            let lower = name.value.to_ascii_lowercase();
            if lower == "sec-websocket-protocol" {
                return Err(self.error(
                    &name,
                    &path,
                    "set subprotocols with target.subprotocols, not as a header",
                ));
            }
            if matches!(
                lower.as_str(),
                "host"
                    | "connection"
                    | "upgrade"
                    | "sec-websocket-key"
                    | "sec-websocket-version"
                    | "sec-websocket-extensions"
            ) {
                return Err(self.error(
                    &name,
                    &path,
                    "this header is set by the WebSocket handshake itself and cannot be overridden",
                ));
            }
            if value
                .value
                .chars()
                .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
            {
                return Err(self.error(
                    &value,
                    &path,
                    format!(
                        "expected a header value without line breaks or control characters, found {} (the value is not shown: it may be a secret)",
                        first_offending(&value.value, |c| (c.is_control() && c != '\t') || c == '\u{7f}')
                    ),
                ));
            }
            headers.push((name.value, value.value));
        }

        let mut subprotocols: Vec<String> = Vec::with_capacity(raw.subprotocols.len());
        for (i, p) in raw.subprotocols.into_iter().enumerate() {
            let path = format!("target.subprotocols[{i}]");
            if p.value.is_empty() || !p.value.chars().all(is_token_char) {
                return Err(self.error(
                    &p,
                    &path,
                    format!(
                        "expected a subprotocol name made of letters, digits and !#$%&'*+-.^_`|~, found {:?}",
                        p.value
                    ),
                ));
            }
            if subprotocols.contains(&p.value) {
                return Err(self.error(
                    &p,
                    &path,
                    format!("subprotocol {:?} is listed twice", p.value),
                ));
            }
            subprotocols.push(p.value);
        }

        let command = match raw.command {
            None => None,
            Some(c) => {
                if url == TargetUrl::Embedded {
                    return Err(self.error(
                        &c,
                        "target.command",
                        "a command starts an external server: set target.url to the ws:// \
                         address it listens on (embedded needs no command)",
                    ));
                }
                let command = match &c.value {
                    RawCommand::Shell(line) if !line.trim().is_empty() => {
                        TargetCommand::Shell(line.clone())
                    }
                    RawCommand::Argv(argv) if argv.first().is_some_and(|p| !p.is_empty()) => {
                        TargetCommand::Argv(argv.clone())
                    }
                    _ => {
                        return Err(self.error(
                            &c,
                            "target.command",
                            "expected a non-empty shell command or [program, args...]",
                        ));
                    }
                };
                Some(command)
            }
        };

        Ok(Target {
            url,
            headers,
            subprotocols,
            command,
        })
    }

    fn clients(
        &self,
        raw: RawClients,
        duration: Duration,
        duration_text: &str,
    ) -> Result<Clients, ScenarioError> {
        let count = raw.count.value;
        let count = match u32::try_from(count) {
            Ok(c) if (1..=MAX_CLIENTS).contains(&count) => c,
            _ => {
                return Err(self.error(
                    &raw.count,
                    "clients.count",
                    format!("expected a whole number from 1 to {MAX_CLIENTS}, found {count}"),
                ));
            }
        };

        let ramp = self.optional_duration(
            raw.ramp.as_ref(),
            "clients.ramp",
            DurationRule::AnyLength,
            DEFAULT_RAMP,
        )?;
        if let Some(r) = &raw.ramp
            && ramp >= duration
        {
            return Err(self.error(
                r,
                "clients.ramp",
                format!(
                    "expected a duration shorter than the scenario duration {duration_text}, found {:?}",
                    r.value
                ),
            ));
        }

        let connect_timeout = self.optional_duration(
            raw.connect_timeout.as_ref(),
            "clients.connect_timeout",
            DurationRule::Positive,
            DEFAULT_CONNECT_TIMEOUT,
        )?;

        let heartbeat = self.heartbeat(raw.heartbeat.unwrap_or_default())?;
        let reconnect = self.reconnect(raw.reconnect.unwrap_or_default())?;
        let messages = raw.messages.map(|m| self.messages(m)).transpose()?;
        let tcp_keepalive = raw.tcp_keepalive.map(|k| self.keepalive(k)).transpose()?;
        let mut source_ips = Vec::with_capacity(raw.source_ips.len());
        for (i, ip) in raw.source_ips.iter().enumerate() {
            let parsed = ip.value.trim().parse::<IpAddr>().map_err(|_| {
                self.error(
                    ip,
                    &format!("clients.source_ips[{i}]"),
                    format!(
                        "expected an IP address like 127.0.0.2, found {:?}",
                        ip.value
                    ),
                )
            })?;
            source_ips.push(parsed);
        }

        Ok(Clients {
            count,
            ramp,
            connect_timeout,
            heartbeat,
            reconnect,
            messages,
            tcp_keepalive,
            source_ips,
        })
    }

    fn keepalive(&self, raw: RawKeepalive) -> Result<TcpKeepalive, ScenarioError> {
        let path = "clients.tcp_keepalive";
        let idle = self.duration(&raw.idle, &format!("{path}.idle"), DurationRule::Positive)?;
        let interval = self.duration(
            &raw.interval,
            &format!("{path}.interval"),
            DurationRule::Positive,
        )?;
        if raw.count.value == 0 {
            return Err(self.error(
                &raw.count,
                &format!("{path}.count"),
                "expected at least 1 probe, found 0",
            ));
        }
        Ok(TcpKeepalive {
            idle,
            interval,
            count: raw.count.value,
        })
    }

    fn heartbeat(&self, raw: RawHeartbeat) -> Result<Heartbeat, ScenarioError> {
        let mode = raw.mode.unwrap_or(RawHeartbeatMode::Ping);
        let mode = match mode {
            RawHeartbeatMode::Text => {
                let payload = match &raw.payload {
                    Some(p) => self.non_empty_text(p, "clients.heartbeat.payload")?,
                    None => DEFAULT_HEARTBEAT_PAYLOAD.to_string(),
                };
                let ack = match &raw.ack {
                    Some(a) => self.non_empty_text(a, "clients.heartbeat.ack")?,
                    None => payload.clone(),
                };
                HeartbeatMode::Text { payload, ack }
            }
            other => {
                for (key, value) in [("payload", &raw.payload), ("ack", &raw.ack)] {
                    if let Some(v) = value {
                        return Err(self.error(
                            v,
                            &format!("clients.heartbeat.{key}"),
                            format!(
                                "only used with mode: text, but mode is {}; remove {key} or set mode: text",
                                other.name()
                            ),
                        ));
                    }
                }
                if other == RawHeartbeatMode::Ping {
                    HeartbeatMode::Ping
                } else {
                    HeartbeatMode::None
                }
            }
        };

        let interval = self.optional_duration(
            raw.interval.as_ref(),
            "clients.heartbeat.interval",
            DurationRule::Positive,
            DEFAULT_HEARTBEAT_INTERVAL,
        )?;
        let timeout = self.optional_duration(
            raw.timeout.as_ref(),
            "clients.heartbeat.timeout",
            DurationRule::Positive,
            DEFAULT_HEARTBEAT_TIMEOUT,
        )?;
        let max_missed = match &raw.max_missed {
            Some(m) if m.value == 0 => {
                return Err(self.error(
                    m,
                    "clients.heartbeat.max_missed",
                    "expected a whole number of at least 1, found 0",
                ));
            }
            Some(m) => m.value,
            None => DEFAULT_MAX_MISSED,
        };
        let reset_on = match raw.reset_on {
            None | Some(RawResetOn::Ack) => ResetOn::Ack,
            Some(RawResetOn::Any) => ResetOn::Any,
        };

        Ok(Heartbeat {
            mode,
            interval,
            timeout,
            max_missed,
            reset_on,
        })
    }

    fn non_empty_text(&self, value: &Spanned<String>, path: &str) -> Result<String, ScenarioError> {
        if value.value.is_empty() {
            Err(self.error(value, path, "expected a non-empty text, found \"\""))
        } else {
            Ok(value.value.clone())
        }
    }

    fn reconnect(&self, raw: RawReconnect) -> Result<Reconnect, ScenarioError> {
        let backoff = match raw.backoff {
            Some(RawBackoff::Fixed) => BackoffPolicy::Fixed,
            None | Some(RawBackoff::Exponential) => BackoffPolicy::Exponential,
            Some(RawBackoff::Decorrelated) => BackoffPolicy::Decorrelated,
        };
        let initial = self.optional_duration(
            raw.initial.as_ref(),
            "clients.reconnect.initial",
            DurationRule::Positive,
            DEFAULT_RECONNECT_INITIAL,
        )?;
        let max = self.optional_duration(
            raw.max.as_ref(),
            "clients.reconnect.max",
            DurationRule::Positive,
            DEFAULT_RECONNECT_MAX,
        )?;
        // Point at the key the user wrote: `max` if given, else `initial` (the defaults
        // themselves are ordered, so at least one of the two was given).
        match (&raw.max, &raw.initial) {
            (Some(m), i) if max < initial => {
                return Err(self.error(
                    m,
                    "clients.reconnect.max",
                    format!(
                        "expected a duration at least as long as initial ({}), found {:?}",
                        i.as_ref().map_or_else(
                            || format!(
                                "{}, the default",
                                humantime::format_duration(DEFAULT_RECONNECT_INITIAL)
                            ),
                            |i| i.value.clone()
                        ),
                        m.value
                    ),
                ));
            }
            (None, Some(i)) if max < initial => {
                return Err(self.error(
                    i,
                    "clients.reconnect.initial",
                    format!(
                        "expected a duration no longer than max ({}, the default), found {:?}; \
                         raise max as well",
                        humantime::format_duration(DEFAULT_RECONNECT_MAX),
                        i.value
                    ),
                ));
            }
            _ => {}
        }
        let multiplier = match &raw.multiplier {
            Some(m) if !(m.value.is_finite() && m.value >= 1.0) => {
                return Err(self.error(
                    m,
                    "clients.reconnect.multiplier",
                    format!(
                        "expected a finite number of at least 1.0, found {}",
                        m.value
                    ),
                ));
            }
            Some(m) => m.value,
            None => DEFAULT_RECONNECT_MULTIPLIER,
        };
        let jitter = match (&raw.jitter, backoff) {
            (None, BackoffPolicy::Decorrelated) => Jitter::None,
            (None, _) => Jitter::Full,
            (Some(j), BackoffPolicy::Decorrelated)
                if matches!(j.value, RawJitter::Full | RawJitter::Equal) =>
            {
                return Err(self.error(
                    j,
                    "clients.reconnect.jitter",
                    "decorrelated backoff is already randomised; remove jitter or set jitter: none",
                ));
            }
            (Some(j), _) => match j.value {
                RawJitter::None => Jitter::None,
                RawJitter::Full => Jitter::Full,
                RawJitter::Equal => Jitter::Equal,
            },
        };

        Ok(Reconnect {
            backoff,
            initial,
            max,
            multiplier,
            jitter,
            max_attempts: raw.max_attempts.unwrap_or(0),
        })
    }

    fn messages(&self, raw: RawMessages) -> Result<Messages, ScenarioError> {
        let rate = parse_rate(&raw.rate.value)
            .map_err(|m| self.error(&raw.rate, "clients.messages.rate", m))?;
        let size = match &raw.size {
            Some(s) if !MESSAGE_SIZE.contains(&s.value) => {
                return Err(self.error(
                    s,
                    "clients.messages.size",
                    format!(
                        "expected a whole number of bytes from {} to {}, found {}",
                        MESSAGE_SIZE.start(),
                        MESSAGE_SIZE.end(),
                        s.value
                    ),
                ));
            }
            Some(s) => s.value,
            None => DEFAULT_MESSAGE_SIZE,
        };
        // MESSAGE_SIZE fits in usize on every supported platform (>= 32 bits).
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        Ok(Messages { rate, size })
    }

    fn fault(
        &self,
        index: usize,
        raw: &RawFault,
        target: &Target,
        duration: Duration,
        duration_text: &str,
    ) -> Result<Fault, ScenarioError> {
        let path = format!("faults[{index}]");
        let key = |k: &str| format!("{path}.{k}");
        let at = self.duration(&raw.at, &key("at"), DurationRule::AnyLength)?;
        if at >= duration {
            let what = if at == duration {
                format!(
                    "fault at {} is at the very end of the scenario (duration {duration_text}); \
                     it must start earlier",
                    raw.at.value
                )
            } else {
                format!(
                    "fault at {} is past the scenario duration {duration_text}",
                    raw.at.value
                )
            };
            return Err(self.error(&raw.at, &key("at"), what));
        }

        let kind_name = raw.kind.value.as_str();
        let Some((_, own)) = FAULT_FIELDS.iter().find(|(k, _)| *k == kind_name) else {
            return Err(self.error(
                &raw.kind,
                &key("kind"),
                format!(
                    "expected one of {}, found {kind_name:?}",
                    FAULT_KINDS.join(", ")
                ),
            ));
        };
        // A field that belongs to another kind.
        let present: [(&str, Option<&Location>); 12] = [
            ("duration", raw.duration.as_ref().map(|v| &v.referenced)),
            ("fraction", raw.fraction.as_ref().map(|v| &v.referenced)),
            ("downtime", raw.downtime.as_ref().map(|v| &v.referenced)),
            ("signal", raw.signal.as_ref().map(|v| &v.referenced)),
            ("mode", raw.mode.as_ref().map(|v| &v.referenced)),
            ("delay", raw.delay.as_ref().map(|v| &v.referenced)),
            ("jitter", raw.jitter.as_ref().map(|v| &v.referenced)),
            ("direction", raw.direction.as_ref().map(|v| &v.referenced)),
            ("latency", raw.latency.as_ref().map(|v| &v.referenced)),
            (
                "bytes_per_s",
                raw.bytes_per_s.as_ref().map(|v| &v.referenced),
            ),
            (
                "probability",
                raw.probability.as_ref().map(|v| &v.referenced),
            ),
            ("idle", raw.idle.as_ref().map(|v| &v.referenced)),
        ];
        for (field, location) in present {
            if let Some(location) = location
                && !own.contains(&field)
            {
                return Err(self.error_at(
                    location,
                    &key(field),
                    format!(
                        "not a field of {kind_name} faults; {kind_name} takes kind, at, {}",
                        own.join(", ")
                    ),
                ));
            }
        }
        let required = |what: &str, hint: &str| {
            self.error(
                &raw.kind,
                &path,
                format!("a {kind_name} fault needs {what}: {hint}"),
            )
        };
        let unit_interval = |value: &Spanned<f64>, field: &str| {
            if (0.0..=1.0).contains(&value.value) {
                Ok(value.value)
            } else {
                Err(self.error(
                    value,
                    &key(field),
                    format!("expected a number from 0.0 to 1.0, found {}", value.value),
                ))
            }
        };
        let fraction = match &raw.fraction {
            Some(f) => unit_interval(f, "fraction")?,
            None if kind_name == "drop" => {
                return Err(required(
                    "fraction",
                    "the share of connected clients to drop, from 0.0 to 1.0",
                ));
            }
            None => 1.0,
        };
        // Windowed faults: a required duration that ends by the end of the scenario.
        let window = if own.contains(&"duration") {
            let Some(d) = &raw.duration else {
                return Err(required("duration", "how long it stays active, like 10s"));
            };
            let length = self.duration(d, &key("duration"), DurationRule::Positive)?;
            if at + length > duration {
                return Err(self.error(
                    d,
                    &key("duration"),
                    format!(
                        "the fault would run past the end of the scenario: at {} + {} > {duration_text}",
                        raw.at.value, d.value
                    ),
                ));
            }
            Some(length)
        } else {
            None
        };
        let required_duration =
            |value: &Option<Spanned<String>>, field: &str, hint: &str| match value {
                Some(v) => self.duration(v, &key(field), DurationRule::Positive),
                None => Err(required(field, hint)),
            };
        let jitter = self.optional_duration(
            raw.jitter.as_ref(),
            &key("jitter"),
            DurationRule::AnyLength,
            Duration::ZERO,
        )?;
        let direction = match raw.direction.as_ref().map(|d| d.value) {
            None | Some(RawDirection::Both) => Direction::Both,
            Some(RawDirection::Upstream) => Direction::Upstream,
            Some(RawDirection::Downstream) => Direction::Downstream,
        };

        let kind = match kind_name {
            "server_kill" => {
                let downtime = self.optional_duration(
                    raw.downtime.as_ref(),
                    &key("downtime"),
                    DurationRule::Positive,
                    DEFAULT_SERVER_KILL_DOWNTIME,
                )?;
                let signal = match raw.signal.as_ref().map(|s| s.value) {
                    None | Some(RawSignal::Kill) => KillSignal::Kill,
                    Some(RawSignal::Term) => KillSignal::Term,
                    Some(RawSignal::Stop) => KillSignal::Stop,
                };
                match (&target.url, &target.command) {
                    (TargetUrl::Embedded, _) if signal != KillSignal::Kill => {
                        if let Some(s) = &raw.signal {
                            return Err(self.error(
                                s,
                                &key("signal"),
                                "the embedded server can only be killed; signals need \
                                 target.command",
                            ));
                        }
                    }
                    (TargetUrl::Ws(url), None) => {
                        return Err(self.error(
                            &raw.kind,
                            &key("kind"),
                            format!(
                                "server_kill needs a server wschaos controls: target.url: embedded, \
                                 or target.command to start the server at {url}"
                            ),
                        ));
                    }
                    _ => {}
                }
                FaultKind::ServerKill { downtime, signal }
            }
            "drop" => FaultKind::Drop {
                mode: match raw.mode.as_ref().map(|m| m.value) {
                    None | Some(RawDropMode::Close) => DropMode::Close,
                    Some(RawDropMode::Reset) => DropMode::Reset,
                },
            },
            "delay_pongs" => FaultKind::Proxy(ProxyFault::DelayAcks {
                delay: required_duration(&raw.delay, "delay", "how long acks are held, like 2s")?,
                jitter,
            }),
            "stop_acking" => FaultKind::Proxy(ProxyFault::DropAcks),
            "partition" => FaultKind::Proxy(ProxyFault::Partition),
            "latency" => FaultKind::Proxy(ProxyFault::Latency {
                direction,
                latency: required_duration(&raw.latency, "latency", "the added delay, like 50ms")?,
                jitter,
            }),
            "bandwidth" => {
                let Some(rate) = &raw.bytes_per_s else {
                    return Err(required("bytes_per_s", "bytes per second per connection"));
                };
                if rate.value == 0 {
                    return Err(self.error(
                        rate,
                        &key("bytes_per_s"),
                        "expected at least 1 byte per second, found 0",
                    ));
                }
                FaultKind::Proxy(ProxyFault::Bandwidth {
                    direction,
                    bytes_per_s: rate.value,
                })
            }
            "frame_loss" => {
                let Some(p) = &raw.probability else {
                    return Err(required(
                        "probability",
                        "the chance a data frame is dropped, 0.0 to 1.0",
                    ));
                };
                FaultKind::Proxy(ProxyFault::FrameLoss {
                    direction,
                    probability: unit_interval(p, "probability")?,
                })
            }
            _ => FaultKind::Proxy(ProxyFault::IdleTimeout {
                idle: required_duration(&raw.idle, "idle", "the silence that gets cut, like 60s")?,
            }),
        };
        Ok(Fault {
            at,
            duration: window,
            fraction,
            kind,
        })
    }
}

/// The first character of `text` that breaks a rule and where, without quoting `text`: header
/// names and values may be secrets. `nothing` for an empty text.
fn first_offending(text: &str, breaks_rule: impl Fn(char) -> bool) -> String {
    match text.chars().enumerate().find(|(_, c)| breaks_rule(*c)) {
        Some((index, c)) => format!("{c:?} at character {}", index + 1),
        None => "nothing".to_string(),
    }
}

/// An HTTP token character (RFC 9110): what header names and subprotocols are made of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses `embedded` or `ws://host[:port][/path][?query]`. The error is a message without the
/// key path.
pub(super) fn parse_url(url: &str) -> Result<TargetUrl, String> {
    let generic = || format!("expected {URL_FORMS}, found {url:?}");
    if url == "embedded" {
        return Ok(TargetUrl::Embedded);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(generic());
    };
    if scheme.eq_ignore_ascii_case("wss") {
        return Err("wss:// is not supported yet; use ws:// or embedded".to_string());
    }
    if !scheme.eq_ignore_ascii_case("ws") {
        return Err(generic());
    }

    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('#') {
        return Err(format!(
            "expected {URL_FORMS} without a #fragment (WebSocket URLs cannot have one), found {url:?}"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "expected {URL_FORMS} without user:password@ (send credentials with target.headers; \
             the URL is not shown: it holds them)"
        ));
    }

    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        // IPv6 literal: [::1]:8080
        let Some((inner, after)) = bracketed.split_once(']') else {
            return Err(generic());
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "expected an IPv6 address inside [ ], found {url:?}"
            ));
        }
        let port_text = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err(generic()),
            },
        };
        (format!("[{inner}]"), port_text)
    } else {
        let (host, port_text) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !host_ok {
            return Err(format!(
                "expected a host name or IP address after ws://, found {url:?}"
            ));
        }
        (host.to_string(), port_text)
    };

    let port = match port_text {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(format!(
                    "expected a port from 1 to 65535 after the host, found {url:?}"
                ));
            }
        },
    };

    let path = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "expected a path and query of printable ASCII without spaces (percent-encode anything \
             else), found {url:?}"
        ));
    }

    Ok(TargetUrl::Ws(WsUrl { host, port, path }))
}

/// Parses `N/s`, `N/m` (N a positive decimal number) or `closed`. The error is a message without
/// the key path.
fn parse_rate(rate: &str) -> Result<MessageRate, String> {
    let expected = || {
        format!(
            "expected N/s or N/m with N a positive number (like 1/s, 0.5/s or 30/m), or closed, \
             found {rate:?}"
        )
    };
    let text = rate.trim();
    if text == "closed" {
        return Ok(MessageRate::Closed);
    }
    let Some((number, unit)) = text.split_once('/') else {
        return Err(expected());
    };
    let number = number.trim();
    // Plain decimals only: no sign, exponent, inf or NaN.
    let plain_decimal = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().any(|b| b.is_ascii_digit());
    let n: f64 = match number.parse() {
        Ok(n) if plain_decimal => n,
        _ => return Err(expected()),
    };
    let per_second = match unit.trim() {
        "s" => n,
        "m" => n / 60.0,
        _ => return Err(expected()),
    };
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(expected());
    }
    if per_second > MAX_RATE_PER_SECOND {
        return Err(format!(
            "expected at most {MAX_RATE_PER_SECOND} messages per second per client, found {rate:?}"
        ));
    }
    if 1.0 / per_second > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "expected at least one message per 365 days, found {rate:?}"
        ));
    }
    Ok(MessageRate::PerSecond(per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DESIGN.md example without the fault kinds that do not exist yet.
    const FULL: &str = r#"name: flaky
seed: 42                      # replayable randomness; --seed overrides
duration: 60s
target:
  url: embedded               # or ws://host:port/path, wss://...
  # command: "node server.js" # external server the tool starts, kills and restarts
  # headers: {Authorization: "Bearer x"}
  # subprotocols: [chat]
clients:
  count: 2000
  ramp: 10s                   # arrivals spread evenly over ramp
  heartbeat: {mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 5s, timeout: 10s,
              max_missed: 1, reset_on: ack}
  reconnect: {backoff: exponential, initial: 500ms, max: 30s, multiplier: 2, jitter: full, max_attempts: 0}
  messages: {rate: 1/s, size: 64}   # or rate: closed (closed loop)
faults:
  - {kind: server_kill, at: 20s, downtime: 5s}
  - {kind: drop, at: 30s, fraction: 0.1, mode: reset}
thresholds: ["heartbeat_rtt.p99 < 50ms", "reconnect.success_rate >= 99.9%", "reconnect_time.p99 < 35s"]
"#;

    /// The smallest valid scenario; error tests append to it or replace one of its lines.
    const MINIMAL: &str = "name: t
duration: 60s
target:
  url: embedded
clients:
  count: 10
";

    fn ok(text: &str) -> Scenario {
        match parse(text, "s.yaml") {
            Ok(s) => s,
            Err(e) => panic!("expected a scenario, got: {e}"),
        }
    }

    /// Parses `text`, expects `ScenarioError::Invalid` and returns (line, column, message).
    fn err(text: &str) -> (usize, usize, String) {
        match parse(text, "s.yaml") {
            Ok(s) => panic!("expected an error, parsed {s:?}"),
            Err(ScenarioError::Invalid {
                file,
                line,
                column,
                message,
            }) => {
                assert_eq!(file, "s.yaml");
                (line, column, message)
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn full_scenario_parses_into_the_model() {
        let expected = Scenario {
            name: "flaky".into(),
            seed: 42,
            duration: secs(60),
            target: Target {
                url: TargetUrl::Embedded,
                headers: vec![],
                subprotocols: vec![],
                command: None,
            },
            clients: Clients {
                count: 2000,
                ramp: secs(10),
                connect_timeout: secs(10),
                heartbeat: Heartbeat {
                    mode: HeartbeatMode::Text {
                        payload: "Heartbeat".into(),
                        ack: "Heartbeat".into(),
                    },
                    interval: secs(5),
                    timeout: secs(10),
                    max_missed: 1,
                    reset_on: ResetOn::Ack,
                },
                reconnect: Reconnect {
                    backoff: BackoffPolicy::Exponential,
                    initial: Duration::from_millis(500),
                    max: secs(30),
                    multiplier: 2.0,
                    jitter: Jitter::Full,
                    max_attempts: 0,
                },
                messages: Some(Messages {
                    rate: MessageRate::PerSecond(1.0),
                    size: 64,
                }),
                tcp_keepalive: None,
                source_ips: vec![],
            },
            faults: vec![
                Fault {
                    at: secs(20),
                    duration: None,
                    fraction: 1.0,
                    kind: FaultKind::ServerKill {
                        downtime: secs(5),
                        signal: KillSignal::Kill,
                    },
                },
                Fault {
                    at: secs(30),
                    duration: None,
                    fraction: 0.1,
                    kind: FaultKind::Drop {
                        mode: DropMode::Reset,
                    },
                },
            ],
            thresholds: vec![
                "heartbeat_rtt.p99 < 50ms".into(),
                "reconnect.success_rate >= 99.9%".into(),
                "reconnect_time.p99 < 35s".into(),
            ],
        };
        assert_eq!(ok(FULL), expected);
    }

    #[test]
    fn defaults() {
        let s = ok(MINIMAL);
        assert_eq!(s.name, "t");
        assert_eq!(s.duration, secs(60));
        assert_eq!(s.target.url, TargetUrl::Embedded);
        assert!(s.target.headers.is_empty());
        assert!(s.target.subprotocols.is_empty());
        assert_eq!(
            s.clients,
            Clients {
                count: 10,
                ramp: Duration::ZERO,
                connect_timeout: secs(10),
                heartbeat: Heartbeat {
                    mode: HeartbeatMode::Ping,
                    interval: secs(5),
                    timeout: secs(10),
                    max_missed: 1,
                    reset_on: ResetOn::Ack,
                },
                reconnect: Reconnect {
                    backoff: BackoffPolicy::Exponential,
                    initial: Duration::from_millis(500),
                    max: secs(30),
                    multiplier: 2.0,
                    jitter: Jitter::Full,
                    max_attempts: 0,
                },
                messages: None,
                tcp_keepalive: None,
                source_ips: vec![],
            }
        );
        assert!(s.faults.is_empty());
        assert!(s.thresholds.is_empty());
    }

    #[test]
    fn absent_seed_is_random() {
        // Two draws of a random u64 colliding is (practically) impossible.
        let seeds: Vec<u64> = (0..3).map(|_| ok(MINIMAL).seed).collect();
        assert!(seeds[0] != seeds[1] || seeds[1] != seeds[2]);
    }

    #[test]
    fn block_defaults() {
        let s = ok(&with(
            "  heartbeat: {mode: text}
  reconnect: {backoff: decorrelated}
  messages: {rate: closed}
faults:
  - {kind: server_kill, at: 5s}
  - {kind: drop, at: 1s, fraction: 0.5}
",
        ));
        assert_eq!(
            s.clients.heartbeat.mode,
            HeartbeatMode::Text {
                payload: "Heartbeat".into(),
                ack: "Heartbeat".into()
            }
        );
        assert_eq!(s.clients.reconnect.backoff, BackoffPolicy::Decorrelated);
        assert_eq!(s.clients.reconnect.jitter, Jitter::None);
        assert_eq!(
            s.clients.messages,
            Some(Messages {
                rate: MessageRate::Closed,
                size: 64
            })
        );
        // Sorted by `at`.
        assert_eq!(
            s.faults,
            vec![
                Fault {
                    at: secs(1),
                    duration: None,
                    fraction: 0.5,
                    kind: FaultKind::Drop {
                        mode: DropMode::Close
                    }
                },
                Fault {
                    at: secs(5),
                    duration: None,
                    fraction: 1.0,
                    kind: FaultKind::ServerKill {
                        downtime: secs(5),
                        signal: KillSignal::Kill,
                    }
                },
            ]
        );
    }

    #[test]
    fn ack_defaults_to_payload() {
        let s = ok(&with("  heartbeat: {mode: text, payload: ping!}\n"));
        assert_eq!(
            s.clients.heartbeat.mode,
            HeartbeatMode::Text {
                payload: "ping!".into(),
                ack: "ping!".into()
            }
        );
    }

    #[test]
    fn faults_sort_stably() {
        let s = ok(&with(
            "faults:
  - {kind: drop, at: 10s, fraction: 0.3}
  - {kind: server_kill, at: 2s}
  - {kind: drop, at: 10s, fraction: 0.1}
",
        ));
        let order: Vec<_> = s
            .faults
            .iter()
            .map(|f| match f.kind {
                FaultKind::Drop { .. } => f.fraction,
                _ => 0.0,
            })
            .collect();
        assert_eq!(order, vec![0.0, 0.3, 0.1]);
    }

    #[test]
    fn message_rates() {
        let rate = |r: &str| {
            ok(&with(&format!("  messages: {{rate: {r}}}\n")))
                .clients
                .messages
                .map(|m| m.rate)
        };
        assert_eq!(rate("1/s"), Some(MessageRate::PerSecond(1.0)));
        assert_eq!(rate("0.5/s"), Some(MessageRate::PerSecond(0.5)));
        assert_eq!(rate("30/m"), Some(MessageRate::PerSecond(0.5)));
        assert_eq!(rate("closed"), Some(MessageRate::Closed));
        for bad in [
            "0/s", "-1/s", "1/h", "1", "fast", "1e3/s", "inf/s", "/s", "./s",
        ] {
            let (line, column, message) = err(&with(&format!("  messages: {{rate: \"{bad}\"}}\n")));
            assert_eq!((line, column), (7, 20), "{bad}");
            assert_eq!(
                message,
                format!(
                    "clients.messages.rate: expected N/s or N/m with N a positive number (like 1/s, \
                     0.5/s or 30/m), or closed, found {bad:?}"
                )
            );
        }
    }

    #[test]
    fn target_urls() {
        let url = |u: &str| {
            ok(&MINIMAL.replace("url: embedded", &format!("url: {u}")))
                .target
                .url
        };
        let ws = |host: &str, port, path: &str| {
            TargetUrl::Ws(WsUrl {
                host: host.into(),
                port,
                path: path.into(),
            })
        };
        assert_eq!(url("ws://localhost"), ws("localhost", 80, "/"));
        assert_eq!(url("ws://127.0.0.1:9001/ws"), ws("127.0.0.1", 9001, "/ws"));
        assert_eq!(url("ws://h:8080?a=1&b=2"), ws("h", 8080, "/?a=1&b=2"));
        assert_eq!(url("ws://h/chat?room=1"), ws("h", 80, "/chat?room=1"));
        assert_eq!(url("WS://[::1]:81/x"), ws("[::1]", 81, "/x"));
        for bad in [
            "ws://",
            "ws://:80/",
            "ws://h:0/",
            "ws://h:70000/",
            "ws://h:/",
            "ws://h/#frag",
            "ws://h/a b",
            "ws://[nope]/",
            "localhost:80",
            "http://h/",
            "Embedded",
        ] {
            let (line, column, message) =
                err(&MINIMAL.replace("url: embedded", &format!("url: \"{bad}\"")));
            assert_eq!((line, column), (4, 8), "{bad}");
            assert!(message.starts_with("target.url: expected "), "{message}");
            assert!(message.ends_with(&format!("found {bad:?}")), "{message}");
        }
        // Credentials in the URL are not echoed back.
        let (line, column, message) =
            err(&MINIMAL.replace("url: embedded", "url: \"ws://u:s3cret@h/\""));
        assert_eq!((line, column), (4, 8));
        assert_eq!(
            message,
            "target.url: expected embedded or ws://host[:port][/path][?query] without \
             user:password@ (send credentials with target.headers; the URL is not shown: it \
             holds them)"
        );
    }

    #[test]
    fn headers_keep_file_order_and_subprotocols() {
        let s = ok(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: ws://h:1/\n  headers:\n    X-Z: \"1\"\n    Authorization: Bearer x\n    \
             A-Header: v\n  subprotocols: [chat, v2.json]\n",
        ));
        assert_eq!(
            s.target.headers,
            vec![
                ("X-Z".to_string(), "1".to_string()),
                ("Authorization".to_string(), "Bearer x".to_string()),
                ("A-Header".to_string(), "v".to_string()),
            ]
        );
        assert_eq!(s.target.subprotocols, vec!["chat", "v2.json"]);

        let (line, column, message) = err(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: embedded\n  headers: {Host: example.com}\n",
        ));
        assert_eq!((line, column), (5, 13));
        assert_eq!(
            message,
            "target.headers.Host: this header is set by the WebSocket handshake itself and \
             cannot be overridden"
        );

        let (line, column, message) = err(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: embedded\n  headers: {X-A: \"a\\r\\nEvil: 1\"}\n",
        ));
        assert_eq!((line, column), (5, 18));
        assert_eq!(
            message,
            "target.headers.X-A: expected a header value without line breaks or control \
             characters, found '\\r' at character 2 (the value is not shown: it may be a secret)"
        );

        // A header line pasted as a name: the error points at the first bad character and
        // quotes nothing of the name, which holds the value.
        let (line, column, message) = err(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: embedded\n  headers: {\"Authorization: Bearer s3cret\": x}\n",
        ));
        assert_eq!((line, column), (5, 13));
        assert_eq!(
            message,
            "target.headers: expected a header name made of letters, digits and \
             !#$%&'*+-.^_`|~, found ':' at character 14 (the name is not shown: it may hold a \
             pasted header value)"
        );
        assert!(!message.contains("s3cret"));

        let (line, column, message) = err(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: embedded\n  subprotocols: [chat, chat]\n",
        ));
        assert_eq!((line, column), (5, 24));
        assert_eq!(
            message,
            "target.subprotocols[1]: subprotocol \"chat\" is listed twice"
        );
    }

    // ---- Errors: one test per class, exact line and column ------------------------------------

    #[test]
    fn unknown_key() {
        let (line, column, message) =
            err(&MINIMAL.replace("  url: embedded\n", "  url: embedded\n  colour: blue\n"));
        assert_eq!((line, column), (5, 3));
        assert_eq!(
            message,
            "unknown field `colour`, expected one of url, headers, subprotocols, command"
        );
    }

    #[test]
    fn unknown_key_in_fault() {
        let (line, column, message) = err(&with(
            "faults:\n  - {kind: server_kill, at: 1s, colour: red}\n",
        ));
        assert_eq!((line, column), (8, 33));
        assert!(
            message.starts_with("unknown field `colour`, expected one of kind, at, duration"),
            "{message}"
        );
    }

    #[test]
    fn bad_duration() {
        let (line, column, message) = err(&MINIMAL.replace("duration: 60s", "duration: sixty"));
        assert_eq!((line, column), (2, 11));
        assert_eq!(
            message,
            "duration: expected a duration greater than zero like 500ms, 5s or 2m, found \"sixty\""
        );

        let (line, column, message) = err(&with("  ramp: 5x\n"));
        assert_eq!((line, column), (7, 9));
        assert_eq!(
            message,
            "clients.ramp: expected a duration like 0s, 500ms, 5s or 2m, found \"5x\""
        );

        // A bare number has no unit: it is read as text and rejected, never guessed.
        let (line, column, message) = err(&with("  heartbeat: {interval: 5}\n"));
        assert_eq!((line, column), (7, 25));
        assert_eq!(
            message,
            "clients.heartbeat.interval: expected a duration greater than zero like 500ms, 5s or \
             2m, found \"5\""
        );

        let (line, column, message) = err(&with("  connect_timeout: 400days\n"));
        assert_eq!((line, column), (7, 20));
        assert_eq!(
            message,
            "clients.connect_timeout: expected a duration of at most 365 days, found \"400days\""
        );
    }

    #[test]
    fn zero_interval() {
        let (line, column, message) = err(&with("  heartbeat:\n    interval: 0s\n"));
        assert_eq!((line, column), (8, 15));
        assert_eq!(
            message,
            "clients.heartbeat.interval: expected a duration greater than zero like 500ms, 5s or \
             2m, found \"0s\""
        );
    }

    #[test]
    fn ramp_not_shorter_than_duration() {
        let (line, column, message) = err(&with("  ramp: 1m\n"));
        assert_eq!((line, column), (7, 9));
        assert_eq!(
            message,
            "clients.ramp: expected a duration shorter than the scenario duration 60s, found \"1m\""
        );
    }

    #[test]
    fn count_out_of_range() {
        for (count, col) in [("0", 10), ("1000001", 10)] {
            let (line, column, message) =
                err(&MINIMAL.replace("count: 10", &format!("count: {count}")));
            assert_eq!((line, column), (6, col));
            assert_eq!(
                message,
                format!("clients.count: expected a whole number from 1 to 1000000, found {count}")
            );
        }
    }

    #[test]
    fn fraction_out_of_range() {
        let (line, column, message) = err(&with(
            "faults:\n  - kind: drop\n    at: 10s\n    fraction: 1.5\n",
        ));
        assert_eq!((line, column), (10, 15));
        assert_eq!(
            message,
            "faults[0].fraction: expected a number from 0.0 to 1.0, found 1.5"
        );
    }

    #[test]
    fn drop_needs_fraction() {
        let (line, column, message) = err(&with("faults:\n  - {kind: drop, at: 10s}\n"));
        assert_eq!((line, column), (8, 12));
        assert_eq!(
            message,
            "faults[0]: a drop fault needs fraction: the share of connected clients to drop, from \
             0.0 to 1.0"
        );
    }

    #[test]
    fn field_of_another_fault_kind() {
        let (line, column, message) = err(&with(
            "faults:\n  - {kind: server_kill, at: 10s, fraction: 0.5}\n",
        ));
        assert_eq!((line, column), (8, 44));
        assert_eq!(
            message,
            "faults[0].fraction: not a field of server_kill faults; server_kill takes kind, at, \
             downtime, signal"
        );
    }

    #[test]
    fn unknown_fault_kind() {
        let (line, column, message) = err(&with(
            "faults:\n  - {kind: server_kill, at: 1s}\n  - {kind: gremlins, at: 35s}\n",
        ));
        assert_eq!((line, column), (9, 12));
        assert!(
            message.starts_with(
                "faults[1].kind: expected one of server_kill, drop, delay_pongs, stop_acking, \
                 partition"
            ),
            "{message}"
        );
    }

    #[test]
    fn proxy_faults_parse_with_defaults() {
        let s = ok(&with(
            "faults:
  - {kind: delay_pongs, at: 5s, duration: 10s, delay: 2s, jitter: 500ms, fraction: 0.2}
  - {kind: partition, at: 20s, duration: 8s, fraction: 0.05}
  - {kind: latency, at: 30s, duration: 5s, latency: 50ms, direction: downstream}
  - {kind: bandwidth, at: 31s, duration: 5s, bytes_per_s: 1000}
  - {kind: frame_loss, at: 32s, duration: 5s, probability: 0.1, direction: upstream}
  - {kind: idle_timeout, at: 33s, duration: 5s, idle: 1s}
  - {kind: stop_acking, at: 34s, duration: 5s}
",
        ));
        let f = &s.faults;
        assert_eq!(
            f[0],
            Fault {
                at: secs(5),
                duration: Some(secs(10)),
                fraction: 0.2,
                kind: FaultKind::Proxy(ProxyFault::DelayAcks {
                    delay: secs(2),
                    jitter: Duration::from_millis(500)
                }),
            }
        );
        assert_eq!(f[1].kind, FaultKind::Proxy(ProxyFault::Partition));
        assert_eq!(f[1].fraction, 0.05);
        assert_eq!(
            f[2].kind,
            FaultKind::Proxy(ProxyFault::Latency {
                direction: Direction::Downstream,
                latency: Duration::from_millis(50),
                jitter: Duration::ZERO
            })
        );
        assert_eq!(f[2].fraction, 1.0, "fraction defaults to every client");
        assert_eq!(
            f[3].kind,
            FaultKind::Proxy(ProxyFault::Bandwidth {
                direction: Direction::Both,
                bytes_per_s: 1000
            })
        );
        assert_eq!(
            f[4].kind,
            FaultKind::Proxy(ProxyFault::FrameLoss {
                direction: Direction::Upstream,
                probability: 0.1
            })
        );
        assert_eq!(
            f[5].kind,
            FaultKind::Proxy(ProxyFault::IdleTimeout { idle: secs(1) })
        );
        assert_eq!(f[6].kind, FaultKind::Proxy(ProxyFault::DropAcks));
        assert!(f.iter().all(|f| f.kind.needs_proxy()));
    }

    #[test]
    fn windowed_faults_need_a_duration_that_ends_in_time() {
        let (line, column, message) = err(&with("faults:\n  - {kind: partition, at: 10s}\n"));
        assert_eq!((line, column), (8, 12));
        assert_eq!(
            message,
            "faults[0]: a partition fault needs duration: how long it stays active, like 10s"
        );
        let (line, column, message) = err(&with(
            "faults:\n  - {kind: partition, at: 50s, duration: 20s}\n",
        ));
        assert_eq!((line, column), (8, 42));
        assert!(
            message.contains("past the end of the scenario"),
            "{message}"
        );
    }

    #[test]
    fn server_kill_needs_a_target_wschaos_controls() {
        let text = with("faults:\n  - {kind: server_kill, at: 10s, signal: stop}\n");
        let (_, _, message) = err(&text);
        assert!(
            message.contains("the embedded server can only be killed"),
            "{message}"
        );

        let external = text.replace("url: embedded", "url: ws://127.0.0.1:9001/");
        let (_, _, message) = err(&external);
        assert!(
            message.contains("server_kill needs a server wschaos controls"),
            "{message}"
        );

        let managed = external.replace(
            "url: ws://127.0.0.1:9001/",
            "url: ws://127.0.0.1:9001/\n  command: [wschaos, serve, --port, \"9001\"]",
        );
        let s = ok(&managed);
        assert_eq!(
            s.target.command,
            Some(TargetCommand::Argv(vec![
                "wschaos".into(),
                "serve".into(),
                "--port".into(),
                "9001".into()
            ]))
        );
        assert!(matches!(
            s.faults[0].kind,
            FaultKind::ServerKill {
                signal: KillSignal::Stop,
                ..
            }
        ));
    }

    #[test]
    fn command_needs_a_ws_url_and_keepalive_parses() {
        let (_, _, message) = err(&MINIMAL.replace(
            "  url: embedded\n",
            "  url: embedded\n  command: \"node server.js\"\n",
        ));
        assert!(message.starts_with("target.command: a command starts an external server"));
        let s = ok(&with(
            "  tcp_keepalive: {idle: 5s, interval: 1s, count: 3}\n",
        ));
        let s2 = ok(&with("  source_ips: [127.0.0.2, 127.0.0.3]\n"));
        assert_eq!(s2.clients.source_ips.len(), 2);
        let (line, column, message) = err(&with("  source_ips: [127.0.0.2, localhost]\n"));
        assert_eq!((line, column), (7, 27));
        assert!(message.contains("expected an IP address"), "{message}");
        assert_eq!(
            s.clients.tcp_keepalive,
            Some(TcpKeepalive {
                idle: secs(5),
                interval: secs(1),
                count: 3
            })
        );
    }

    #[test]
    fn fault_past_duration() {
        let (line, column, message) = err(&with("faults:\n  - {kind: server_kill, at: 70s}\n"));
        assert_eq!((line, column), (8, 29));
        assert_eq!(
            message,
            "faults[0].at: fault at 70s is past the scenario duration 60s"
        );

        let (line, column, message) = err(&with("faults:\n  - {kind: server_kill, at: 1m}\n"));
        assert_eq!((line, column), (8, 29));
        assert_eq!(
            message,
            "faults[0].at: fault at 1m is at the very end of the scenario (duration 60s); it \
             must start earlier"
        );
    }

    #[test]
    fn wss_scheme() {
        let (line, column, message) = err(&MINIMAL.replace("embedded", "wss://example.com/ws"));
        assert_eq!((line, column), (4, 8));
        assert_eq!(
            message,
            "target.url: wss:// is not supported yet; use ws:// or embedded"
        );
    }

    #[test]
    fn ftp_scheme() {
        let (line, column, message) = err(&MINIMAL.replace("embedded", "ftp://example.com/"));
        assert_eq!((line, column), (4, 8));
        assert_eq!(
            message,
            "target.url: expected embedded or ws://host[:port][/path][?query], found \
             \"ftp://example.com/\""
        );
    }

    #[test]
    fn jitter_with_decorrelated_backoff() {
        let (line, column, message) = err(&with(
            "  reconnect:\n    backoff: decorrelated\n    jitter: full\n",
        ));
        assert_eq!((line, column), (9, 13));
        assert_eq!(
            message,
            "clients.reconnect.jitter: decorrelated backoff is already randomised; remove jitter \
             or set jitter: none"
        );
        // An explicit `none` is fine.
        let s = ok(&with(
            "  reconnect:\n    backoff: decorrelated\n    jitter: none\n",
        ));
        assert_eq!(s.clients.reconnect.jitter, Jitter::None);
    }

    #[test]
    fn reconnect_ranges() {
        let (line, column, message) = err(&with("  reconnect: {initial: 2s, max: 1s}\n"));
        assert_eq!((line, column), (7, 33));
        assert_eq!(
            message,
            "clients.reconnect.max: expected a duration at least as long as initial (2s), found \"1s\""
        );

        let (line, column, message) = err(&with("  reconnect: {initial: 1m}\n"));
        assert_eq!((line, column), (7, 24));
        assert_eq!(
            message,
            "clients.reconnect.initial: expected a duration no longer than max (30s, the default), \
             found \"1m\"; raise max as well"
        );

        let (line, column, message) = err(&with("  reconnect: {max: 100ms}\n"));
        assert_eq!((line, column), (7, 20));
        assert_eq!(
            message,
            "clients.reconnect.max: expected a duration at least as long as initial (500ms, the \
             default), found \"100ms\""
        );

        let (line, column, message) = err(&with("  reconnect: {multiplier: 0.5}\n"));
        assert_eq!((line, column), (7, 27));
        assert_eq!(
            message,
            "clients.reconnect.multiplier: expected a finite number of at least 1.0, found 0.5"
        );

        let (line, column, message) = err(&with("  reconnect: {multiplier: .inf}\n"));
        assert_eq!((line, column), (7, 27));
        assert_eq!(
            message,
            "clients.reconnect.multiplier: expected a finite number of at least 1.0, found inf"
        );
    }

    #[test]
    fn payload_with_mode_ping() {
        let (line, column, message) =
            err(&with("  heartbeat:\n    mode: ping\n    payload: hello\n"));
        assert_eq!((line, column), (9, 14));
        assert_eq!(
            message,
            "clients.heartbeat.payload: only used with mode: text, but mode is ping; remove \
             payload or set mode: text"
        );

        let (line, column, message) = err(&with("  heartbeat: {mode: none, ack: pong}\n"));
        assert_eq!((line, column), (7, 32));
        assert_eq!(
            message,
            "clients.heartbeat.ack: only used with mode: text, but mode is none; remove ack or \
             set mode: text"
        );
    }

    #[test]
    fn heartbeat_values() {
        let (line, column, message) = err(&with("  heartbeat: {max_missed: 0}\n"));
        assert_eq!((line, column), (7, 27));
        assert_eq!(
            message,
            "clients.heartbeat.max_missed: expected a whole number of at least 1, found 0"
        );

        let (line, column, message) = err(&with("  heartbeat: {mode: text, payload: \"\"}\n"));
        assert_eq!((line, column), (7, 36));
        assert_eq!(
            message,
            "clients.heartbeat.payload: expected a non-empty text, found \"\""
        );
    }

    #[test]
    fn message_size() {
        let (line, column, message) = err(&with("  messages: {rate: 1/s, size: 8}\n"));
        assert_eq!((line, column), (7, 31));
        assert_eq!(
            message,
            "clients.messages.size: expected a whole number of bytes from 16 to 1048576, found 8"
        );
    }

    #[test]
    fn bad_names() {
        for bad in ["\"\"", "my/run", "..", "\"a b\"", "émoji"] {
            let (line, column, message) = err(&MINIMAL.replace("name: t", &format!("name: {bad}")));
            assert_eq!((line, column), (1, 7), "{bad}");
            assert!(
                message.starts_with("name: expected a name of 1 to 128 characters"),
                "{message}"
            );
        }
    }

    #[test]
    fn empty_threshold() {
        let (line, column, message) = err(&with("thresholds: [\"messages.lost == 0\", \" \"]\n"));
        assert_eq!((line, column), (7, 36));
        assert_eq!(
            message,
            "thresholds[1]: expected a threshold expression like \"heartbeat_rtt.p99 < 50ms\", \
             found \" \""
        );
    }

    #[test]
    fn bad_thresholds_point_at_the_bad_token() {
        let (line, column, message) = err(&with(
            "thresholds: [\"clients.gave_up == 0\", \"heartbeat_rtt.p98 < 5ms\"]\n",
        ));
        // The string starts at column 38: its opening quote, then 14 characters to `p98`.
        assert_eq!((line, column), (7, 53));
        assert!(
            message.starts_with("thresholds[1] \"heartbeat_rtt.p98 < 5ms\": unknown statistic"),
            "{message}"
        );
        let (line, column, message) = err(&with("thresholds:\n  - heartbeat_rtt.p99 < 50\n"));
        assert_eq!((line, column), (8, 25));
        assert!(message.contains("add a unit"), "{message}");
        let (line, column, _) = err(&with("thresholds: ['nope.p99 < 5ms']\n"));
        assert_eq!((line, column), (7, 15));
    }

    #[test]
    fn yaml_syntax_error() {
        let (line, column, message) = err(&MINIMAL.replace("  url: embedded", "  url: \"embedded"));
        assert_eq!((line, column), (4, 8));
        assert_eq!(message, "unclosed quote");

        let (line, column, message) = err(&MINIMAL.replace("duration: 60s", "duration: 60s: 5"));
        assert_eq!((line, column), (2, 14));
        assert_eq!(message, "mapping values are not allowed in this context");
    }

    #[test]
    fn wrong_type() {
        let (line, column, message) = err(&MINIMAL.replace("count: 10", "count: ten"));
        assert_eq!((line, column), (6, 10));
        assert_eq!(message, "invalid u64");

        let (line, column, message) = err(&with("  heartbeat: fast\n"));
        assert_eq!((line, column), (7, 14));
        assert_eq!(message, "expected mapping start");

        let (line, column, message) = err(&with("  heartbeat: {mode: pong}\n"));
        assert_eq!((line, column), (7, 21));
        assert_eq!(
            message,
            "unknown variant `pong`, expected one of ping, text, none"
        );
    }

    #[test]
    fn missing_key_and_duplicates() {
        let (line, column, message) = err("name: t\nduration: 60s\ntarget: {url: embedded}\n");
        // serde-saphyr reports a missing key at the start of the mapping's last entry.
        assert_eq!((line, column), (3, 1));
        assert_eq!(message, "missing field `clients`");

        let (line, column, message) = err(&with("duration: 30s\n"));
        assert_eq!((line, column), (7, 1));
        assert_eq!(
            message,
            "duplicate mapping key `duration` is not allowed here"
        );

        let (line, column, message) = err(&format!("{MINIMAL}---\n{MINIMAL}"));
        assert_eq!((line, column), (8, 1));
        assert_eq!(
            message,
            "only single YAML document expected but multiple found"
        );

        let (line, column, message) = err("");
        assert_eq!((line, column), (1, 1));
        assert_eq!(message, "unexpected end of file");
    }

    #[test]
    fn display_format() {
        let e = parse(
            &with("  heartbeat:\n    interval: 0s\n"),
            "scenarios/x.yaml",
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "scenarios/x.yaml:8:15: clients.heartbeat.interval: expected a duration greater \
                 than zero like 500ms, 5s or 2m, found \"0s\""
            )
        );
    }

    #[test]
    fn truncated_input_never_panics() {
        let boundaries: Vec<usize> = FULL
            .char_indices()
            .map(|(i, _)| i)
            .chain([FULL.len()])
            .collect();
        // Every 13th character boundary gives a few dozen prefixes that end mid-key, mid-value,
        // mid-flow-mapping and mid-comment; the line ends are added on top.
        let mut cuts: Vec<usize> = boundaries.iter().copied().step_by(13).collect();
        cuts.extend(FULL.match_indices('\n').map(|(i, _)| i));
        cuts.push(FULL.len());
        assert!(cuts.len() > 36, "only {} prefixes", cuts.len());
        for cut in cuts {
            let prefix = &FULL[..cut];
            let result = std::panic::catch_unwind(|| parse(prefix, "t.yaml"));
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(ScenarioError::Invalid { line, column, .. })) => {
                    assert!(line >= 1 && column >= 1, "prefix {prefix:?}");
                }
                Ok(Err(other)) => panic!("prefix {prefix:?}: unexpected error {other}"),
                Err(_) => panic!("parse panicked on prefix {prefix:?}"),
            }
        }
        // The whole file parses; so do these damaged inputs, each without panicking.
        for junk in [
            "\u{0}",
            "- a\n- b\n",
            "name: [",
            "&a [*a]",
            "a: *nope",
            "!!binary name: x",
            "name: x\n---\nname: y\n",
            "clients: {count: 18446744073709551616}",
        ] {
            assert!(parse(junk, "j.yaml").is_err(), "{junk:?}");
        }
    }

    #[test]
    fn shipped_scenarios_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut count = 0;
        let entries = std::fs::read_dir(&dir).expect("scenarios/ exists");
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                if let Err(e) = super::super::load(&path) {
                    panic!("{e}");
                }
                count += 1;
            }
        }
        assert!(
            count >= 2,
            "expected basic.yaml and flaky.yaml in {}",
            dir.display()
        );
    }
}
