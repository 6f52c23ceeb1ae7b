//! `clients:` checks: count, ramp, connect timeout, heartbeat, reconnect policy, messages, send
//! limits, TCP keepalive and source addresses (`on_open` has its own file).

use std::net::IpAddr;
use std::time::Duration;

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{
    BackoffPolicy, Clients, Compression, Heartbeat, HeartbeatMode, Jitter, MessageRate, Messages,
    Reconnect, ResetOn, Stage, TcpKeepalive,
};
use crate::scenario::raw::{
    RawBackoff, RawClients, RawCompression, RawHeartbeat, RawHeartbeatMode, RawJitter,
    RawKeepalive, RawMessages, RawReconnect, RawResetOn,
};
use crate::scenario::value::{ByteSize, Dur, MAX_DURATION, PositiveDur, quoted};
use serde_saphyr::Spanned;

/// Most clients a scenario may ask for.
pub(super) const MAX_CLIENTS: u64 = 1_000_000;
/// Smallest and largest message size in bytes (the sequence number takes 16 bytes).
const MESSAGE_SIZE: std::ops::RangeInclusive<u64> = 16..=1_048_576;
/// Highest open-loop message rate per client, in messages per second.
const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;

/// Smallest and largest per-connection send queue: below 1 KiB most messages would be dropped
/// at once, above 1 GiB a few thousand stalled connections could take all the memory.
const SEND_BUFFER_BYTES: std::ops::RangeInclusive<usize> = 1 << 10..=1 << 30;

/// TCP keepalive idle time and probe interval the kernel accepts, in whole seconds (Linux
/// MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL).
const KEEPALIVE_SECONDS: std::ops::RangeInclusive<u64> = 1..=32_767;
/// Most keepalive probes the kernel accepts (Linux MAX_TCP_KEEPCNT).
const MAX_KEEPALIVE_PROBES: u32 = 127;

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

impl Validator<'_> {
    pub(super) fn clients(
        &self,
        raw: RawClients,
        stages: Option<Vec<Stage>>,
        duration: Duration,
        duration_text: &str,
    ) -> Result<Clients, ScenarioError> {
        let (count, stages) = match (stages, &raw.count) {
            (Some(stages), _) => (crate::scenario::peak(&stages), stages),
            (None, Some(count)) => {
                let count = self.count(count)?;
                let ramp = self.ramp(raw.ramp.as_ref(), duration, duration_text)?;
                (
                    count,
                    vec![Stage::Ramp {
                        to: count,
                        over: ramp,
                    }],
                )
            }
            // `scenario` checked that one of the two is there.
            (None, None) => {
                return Err(self.message_at(
                    &serde_saphyr::Location::UNKNOWN,
                    "missing field `count`".to_string(),
                ));
            }
        };

        let connect_timeout = self
            .optional_value(
                raw.connect_timeout.as_ref(),
                "clients.connect_timeout",
                PositiveDur(DEFAULT_CONNECT_TIMEOUT),
            )?
            .0;

        let send_buffer_bytes = self.send_buffer(raw.send_buffer.as_ref())?;
        let send_timeout = self
            .optional_value(
                raw.send_timeout.as_ref(),
                "clients.send_timeout",
                PositiveDur(crate::client::DEFAULT_SEND_TIMEOUT),
            )?
            .0;

        let timer_resolution = self.timer_resolution(raw.timer_resolution.as_ref())?;

        let heartbeat = self.heartbeat(raw.heartbeat.map(|h| h.value).unwrap_or_default())?;
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
                        "expected an IP address like 127.0.0.2, found {}",
                        quoted(&ip.value)
                    ),
                )
            })?;
            source_ips.push(parsed);
        }
        let on_open = self.on_open(raw.on_open)?;
        let compression = match raw.compression {
            None | Some(RawCompression::None) => Compression::None,
            Some(RawCompression::Deflate) => Compression::Deflate,
        };

        Ok(Clients {
            count,
            stages,
            connect_timeout,
            heartbeat,
            reconnect,
            messages,
            tcp_keepalive,
            send_buffer_bytes,
            send_timeout,
            timer_resolution,
            source_ips,
            on_open,
            // Checked with target.push (`validate/stream.rs`).
            stream: None,
            compression,
        })
    }

    /// `clients.count`: 1 to `MAX_CLIENTS`.
    fn count(&self, count: &Spanned<u64>) -> Result<u32, ScenarioError> {
        match u32::try_from(count.value) {
            Ok(c) if (1..=MAX_CLIENTS).contains(&count.value) => Ok(c),
            _ => Err(self.error(
                count,
                "clients.count",
                format!(
                    "expected a whole number from 1 to {MAX_CLIENTS}, found {}",
                    count.value
                ),
            )),
        }
    }

    /// `clients.ramp`: shorter than the run; all at once when absent.
    fn ramp(
        &self,
        ramp: Option<&Spanned<String>>,
        duration: Duration,
        duration_text: &str,
    ) -> Result<Duration, ScenarioError> {
        let Some(r) = ramp else {
            return Ok(DEFAULT_RAMP);
        };
        let value = self.value::<Dur>(r, "clients.ramp")?.0;
        if value >= duration {
            return Err(self.error(
                r,
                "clients.ramp",
                format!(
                    "expected a duration shorter than the scenario duration {duration_text}, \
                     found {}",
                    quoted(&r.value)
                ),
            ));
        }
        Ok(value)
    }

    /// `clients.timer_resolution`: the client's default when absent.
    fn timer_resolution(&self, value: Option<&Spanned<String>>) -> Result<Duration, ScenarioError> {
        use crate::client::{DEFAULT_TIMER_RESOLUTION, MAX_TIMER_RESOLUTION};
        let path = "clients.timer_resolution";
        let Some(value) = value else {
            return Ok(DEFAULT_TIMER_RESOLUTION);
        };
        let resolution = self.value::<Dur>(value, path)?.0;
        if resolution > MAX_TIMER_RESOLUTION {
            return Err(self.error(
                value,
                path,
                format!(
                    "expected a duration from 0s to {}ms, found {}",
                    MAX_TIMER_RESOLUTION.as_millis(),
                    quoted(&value.value)
                ),
            ));
        }
        Ok(resolution)
    }

    /// `clients.send_buffer`, in bytes: the client's default when absent.
    fn send_buffer(&self, value: Option<&Spanned<String>>) -> Result<usize, ScenarioError> {
        let Some(value) = value else {
            return Ok(crate::client::DEFAULT_SEND_BUFFER);
        };
        let path = "clients.send_buffer";
        let ByteSize(bytes) = self.value(value, path)?;
        match usize::try_from(bytes) {
            Ok(bytes) if SEND_BUFFER_BYTES.contains(&bytes) => Ok(bytes),
            _ => Err(self.error(
                value,
                path,
                format!(
                    "expected a size from 1KiB to 1GiB, found {}",
                    quoted(&value.value)
                ),
            )),
        }
    }

    /// The kernel takes keepalive times in whole seconds and refuses values past its limits
    /// with EINVAL on every connect, so they are checked here.
    fn keepalive(&self, raw: RawKeepalive) -> Result<TcpKeepalive, ScenarioError> {
        let path = "clients.tcp_keepalive";
        let seconds = |value: &Spanned<String>, key: &str, option: &str| {
            let path = format!("{path}.{key}");
            let d = self.value::<PositiveDur>(value, &path)?.0;
            if d.subsec_nanos() != 0 || !KEEPALIVE_SECONDS.contains(&d.as_secs()) {
                return Err(self.error(
                    value,
                    &path,
                    format!(
                        "expected whole seconds from {}s to {}s (the kernel's limit for {option}), \
                         found {}",
                        KEEPALIVE_SECONDS.start(),
                        KEEPALIVE_SECONDS.end(),
                        quoted(&value.value)
                    ),
                ));
            }
            Ok(d)
        };
        let idle = seconds(&raw.idle, "idle", "TCP_KEEPIDLE")?;
        let interval = seconds(&raw.interval, "interval", "TCP_KEEPINTVL")?;
        let count = raw.count.value;
        if count == 0 {
            return Err(self.error(
                &raw.count,
                &format!("{path}.count"),
                "expected at least 1 probe, found 0",
            ));
        }
        if count > MAX_KEEPALIVE_PROBES {
            return Err(self.error(
                &raw.count,
                &format!("{path}.count"),
                format!(
                    "expected at most {MAX_KEEPALIVE_PROBES} probes (the kernel's limit for \
                     TCP_KEEPCNT), found {count}"
                ),
            ));
        }
        Ok(TcpKeepalive {
            idle,
            interval,
            count,
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

        let interval = self
            .optional_value(
                raw.interval.as_ref(),
                "clients.heartbeat.interval",
                PositiveDur(DEFAULT_HEARTBEAT_INTERVAL),
            )?
            .0;
        let timeout = self
            .optional_value(
                raw.timeout.as_ref(),
                "clients.heartbeat.timeout",
                PositiveDur(DEFAULT_HEARTBEAT_TIMEOUT),
            )?
            .0;
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
        let initial = self
            .optional_value(
                raw.initial.as_ref(),
                "clients.reconnect.initial",
                PositiveDur(DEFAULT_RECONNECT_INITIAL),
            )?
            .0;
        let max = self
            .optional_value(
                raw.max.as_ref(),
                "clients.reconnect.max",
                PositiveDur(DEFAULT_RECONNECT_MAX),
            )?
            .0;
        // Point at the key the user wrote: `max` if given, else `initial` (the defaults
        // themselves are ordered, so at least one of the two was given).
        match (&raw.max, &raw.initial) {
            (Some(m), i) if max < initial => {
                return Err(self.error(
                    m,
                    "clients.reconnect.max",
                    format!(
                        "expected a duration at least as long as initial ({}), found {}",
                        i.as_ref().map_or_else(
                            || format!(
                                "{}, the default",
                                humantime::format_duration(DEFAULT_RECONNECT_INITIAL)
                            ),
                            |i| i.value.clone()
                        ),
                        quoted(&m.value)
                    ),
                ));
            }
            (None, Some(i)) if max < initial => {
                return Err(self.error(
                    i,
                    "clients.reconnect.initial",
                    format!(
                        "expected a duration no longer than max ({}, the default), found {}; \
                         raise max as well",
                        humantime::format_duration(DEFAULT_RECONNECT_MAX),
                        quoted(&i.value)
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
}

/// Parses `N/s`, `N/m` (N a positive decimal number) or `closed`. The error is a message without
/// the key path.
pub(super) fn parse_rate(rate: &str) -> Result<MessageRate, String> {
    let expected = || {
        format!(
            "expected N/s or N/m with N a positive number (like 1/s, 0.5/s or 30/m), or closed, \
             found {}",
            quoted(rate)
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
            "expected at most {MAX_RATE_PER_SECOND} messages per second per client, found {}",
            quoted(rate)
        ));
    }
    if 1.0 / per_second > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "expected at least one message per 365 days, found {}",
            quoted(rate)
        ));
    }
    Ok(MessageRate::PerSecond(per_second))
}
