//! `--fault` specs of `wschaos proxy`: a fault kind as named in scenario files, then `key=value`
//! knobs, e.g. `delay_pongs delay=200ms jitter=20ms` or `latency direction=downstream
//! latency=50ms`.

use std::str::FromStr;
use std::time::Duration;

use super::{Direction, ProxyFault};

const KINDS: &str =
    "delay_pongs, stop_acking, partition, latency, bandwidth, frame_loss, idle_timeout";

impl FromStr for ProxyFault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut words = spec.split_whitespace();
        let kind = words
            .next()
            .ok_or_else(|| format!("empty fault: expected one of {KINDS}"))?;
        let mut knobs = Knobs::parse(kind, words)?;
        let fault = match kind {
            "delay_pongs" => ProxyFault::DelayAcks {
                delay: knobs
                    .take("delay", duration)?
                    .ok_or_else(|| knobs.missing("delay=DURATION"))?,
                jitter: knobs.take("jitter", duration)?.unwrap_or_default(),
            },
            "stop_acking" => ProxyFault::DropAcks,
            "partition" => ProxyFault::Partition,
            "latency" => ProxyFault::Latency {
                direction: knobs
                    .take("direction", direction)?
                    .unwrap_or(Direction::Both),
                latency: knobs
                    .take("latency", duration)?
                    .ok_or_else(|| knobs.missing("latency=DURATION"))?,
                jitter: knobs.take("jitter", duration)?.unwrap_or_default(),
            },
            "bandwidth" => ProxyFault::Bandwidth {
                direction: knobs
                    .take("direction", direction)?
                    .unwrap_or(Direction::Both),
                bytes_per_s: knobs
                    .take("bytes_per_s", bytes_per_s)?
                    .ok_or_else(|| knobs.missing("bytes_per_s=N"))?,
            },
            "frame_loss" => ProxyFault::FrameLoss {
                direction: knobs
                    .take("direction", direction)?
                    .unwrap_or(Direction::Both),
                probability: knobs
                    .take("probability", probability)?
                    .ok_or_else(|| knobs.missing("probability=P"))?,
            },
            "idle_timeout" => ProxyFault::IdleTimeout {
                idle: knobs
                    .take("idle", duration)?
                    .filter(|idle| !idle.is_zero())
                    .ok_or_else(|| knobs.missing("idle=DURATION (above zero)"))?,
            },
            other => return Err(format!("unknown fault `{other}`: expected one of {KINDS}")),
        };
        knobs.none_left()?;
        Ok(fault)
    }
}

/// The `key=value` words of one spec, consumed as the kind asks for them.
struct Knobs<'a> {
    kind: &'a str,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Knobs<'a> {
    fn parse(kind: &'a str, words: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!("`{kind}`: expected key=value, found `{word}`"));
            };
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(format!("`{kind}`: `{key}` is given twice"));
            }
            pairs.push((key, value));
        }
        Ok(Self { kind, pairs })
    }

    fn take<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        let Some(at) = self.pairs.iter().position(|(k, _)| *k == key) else {
            return Ok(None);
        };
        let (_, value) = self.pairs.remove(at);
        parse(value).map(Some).map_err(|expected| {
            format!(
                "`{}` {key}: expected {expected}, found `{value}`",
                self.kind
            )
        })
    }

    fn missing(&self, what: &str) -> String {
        format!("`{}` needs {what}", self.kind)
    }

    fn none_left(&self) -> Result<(), String> {
        match self.pairs.first() {
            Some((key, _)) => Err(format!("`{}` has no knob `{key}`", self.kind)),
            None => Ok(()),
        }
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|_| "a duration like 200ms or 30s".into())
}

fn direction(text: &str) -> Result<Direction, String> {
    match text {
        "upstream" => Ok(Direction::Upstream),
        "downstream" => Ok(Direction::Downstream),
        "both" => Ok(Direction::Both),
        _ => Err("upstream, downstream or both".into()),
    }
}

fn bytes_per_s(text: &str) -> Result<u64, String> {
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "a whole number of bytes above zero".into())
}

fn probability(text: &str) -> Result<f64, String> {
    text.parse()
        .ok()
        .filter(|p: &f64| (0.0..=1.0).contains(p))
        .ok_or_else(|| "a number from 0 to 1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_kind_parses_with_its_knobs_and_defaults() {
        let cases = [
            (
                "delay_pongs delay=200ms jitter=20ms",
                ProxyFault::DelayAcks {
                    delay: ms(200),
                    jitter: ms(20),
                },
            ),
            (
                "delay_pongs delay=1s",
                ProxyFault::DelayAcks {
                    delay: ms(1000),
                    jitter: Duration::ZERO,
                },
            ),
            ("stop_acking", ProxyFault::DropAcks),
            ("  partition  ", ProxyFault::Partition),
            (
                "latency direction=downstream latency=50ms",
                ProxyFault::Latency {
                    direction: Direction::Downstream,
                    latency: ms(50),
                    jitter: Duration::ZERO,
                },
            ),
            (
                "bandwidth bytes_per_s=10000",
                ProxyFault::Bandwidth {
                    direction: Direction::Both,
                    bytes_per_s: 10_000,
                },
            ),
            (
                "frame_loss probability=0.1 direction=upstream",
                ProxyFault::FrameLoss {
                    direction: Direction::Upstream,
                    probability: 0.1,
                },
            ),
            (
                "idle_timeout idle=30s",
                ProxyFault::IdleTimeout { idle: ms(30_000) },
            ),
        ];
        for (spec, fault) in cases {
            assert_eq!(spec.parse::<ProxyFault>(), Ok(fault), "{spec}");
        }
    }

    #[test]
    fn bad_specs_say_what_was_expected() {
        let cases = [
            ("", "empty fault"),
            ("jam", "unknown fault `jam`: expected one of delay_pongs"),
            ("delay_pongs", "`delay_pongs` needs delay=DURATION"),
            (
                "delay_pongs delay=soon",
                "`delay_pongs` delay: expected a duration",
            ),
            ("partition delay=1s", "`partition` has no knob `delay`"),
            (
                "latency 50ms",
                "`latency`: expected key=value, found `50ms`",
            ),
            ("latency latency=1s latency=2s", "`latency` is given twice"),
            (
                "latency latency=1s direction=sideways",
                "upstream, downstream or both",
            ),
            (
                "frame_loss probability=1.5",
                "a number from 0 to 1, found `1.5`",
            ),
            ("bandwidth bytes_per_s=0", "above zero"),
            ("idle_timeout idle=0s", "`idle_timeout` needs idle=DURATION"),
        ];
        for (spec, expected) in cases {
            let err = spec.parse::<ProxyFault>().expect_err(spec);
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }
}
