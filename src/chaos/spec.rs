//! `--fault` specs of `wschaos proxy`: a fault kind as named in scenario files, then `key=value`
//! knobs, e.g. `delay_pongs delay=200ms jitter=20ms` or `latency direction=downstream
//! latency=50ms`. The knobs are checked by the fault kind's own constructor, the same one a
//! scenario file's fault goes through.

use std::str::FromStr;

use serde_saphyr::Location;

use super::ProxyFault;
use crate::scenario::knobs::Knobs;

impl FromStr for ProxyFault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let kinds = || {
            let names: Vec<&str> = ProxyFault::KINDS.iter().map(|k| k.name).collect();
            names.join(", ")
        };
        let mut words = spec.split_whitespace();
        let kind = words
            .next()
            .ok_or_else(|| format!("empty fault: expected one of {}", kinds()))?;
        let Some(info) = ProxyFault::KINDS.iter().find(|k| k.name == kind) else {
            return Err(format!(
                "unknown fault `{kind}`: expected one of {}",
                kinds()
            ));
        };
        let mut knobs = Knobs::new(kind, Location::UNKNOWN, format!("`{kind}`"), " ");
        let mut seen: Vec<&str> = Vec::new();
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!("`{kind}`: expected key=value, found `{word}`"));
            };
            if seen.contains(&key) {
                return Err(format!("`{kind}`: `{key}` is given twice"));
            }
            if !info.knobs.contains(&key) {
                let takes = match info.knobs {
                    [] => "it takes none".to_string(),
                    knobs => format!("it takes {}", knobs.join(", ")),
                };
                return Err(format!("`{kind}` has no knob `{key}`; {takes}"));
            }
            seen.push(key);
            knobs.give(key, value, Location::UNKNOWN);
        }
        match ProxyFault::from_knobs(&mut knobs) {
            Some(fault) => fault.map_err(|invalid| invalid.to_string()),
            None => Err(format!(
                "unknown fault `{kind}`: expected one of {}",
                kinds()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chaos::Direction;
    use crate::chaos::toxics::{
        Bandwidth, DelayAcks, DropAcks, FrameLoss, IdleTimeout, Latency, Partition,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_kind_parses_with_its_knobs_and_defaults() {
        let cases = [
            (
                "delay_pongs delay=200ms jitter=20ms",
                ProxyFault::DelayAcks(DelayAcks {
                    delay: ms(200),
                    jitter: ms(20),
                }),
            ),
            (
                "delay_pongs delay=1s",
                ProxyFault::DelayAcks(DelayAcks {
                    delay: ms(1000),
                    jitter: Duration::ZERO,
                }),
            ),
            ("stop_acking", ProxyFault::DropAcks(DropAcks)),
            ("  partition  ", ProxyFault::Partition(Partition)),
            (
                "latency direction=downstream latency=50ms",
                ProxyFault::Latency(Latency {
                    direction: Direction::Downstream,
                    latency: ms(50),
                    jitter: Duration::ZERO,
                }),
            ),
            (
                "bandwidth bytes_per_s=10000",
                ProxyFault::Bandwidth(Bandwidth {
                    direction: Direction::Both,
                    bytes_per_s: 10_000,
                }),
            ),
            (
                "frame_loss probability=0.1 direction=upstream",
                ProxyFault::FrameLoss(FrameLoss {
                    direction: Direction::Upstream,
                    probability: 0.1,
                }),
            ),
            (
                "idle_timeout idle=30s",
                ProxyFault::IdleTimeout(IdleTimeout { idle: ms(30_000) }),
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
            (
                "delay_pongs",
                "`delay_pongs`: a delay_pongs fault needs delay: how long acks are held",
            ),
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
                "expected one of upstream, downstream, both, found \"sideways\"",
            ),
            (
                "frame_loss probability=1.5",
                "`frame_loss` probability: expected a number from 0.0 to 1.0, found 1.5",
            ),
            (
                "bandwidth bytes_per_s=0",
                "`bandwidth` bytes_per_s: expected at least 1 byte per second, found 0",
            ),
            (
                "idle_timeout idle=0s",
                "`idle_timeout` idle: expected a duration greater than zero",
            ),
            // The scenario file rejects these too; --fault used to accept them.
            (
                "delay_pongs delay=0s",
                "`delay_pongs` delay: expected a duration greater than zero",
            ),
            (
                "latency latency=0s",
                "`latency` latency: expected a duration greater than zero",
            ),
            // Added to an Instant by the proxy, this used to panic on the first frame.
            (
                "latency latency=9223372036854775807s",
                "`latency` latency: expected a duration of at most 365 days",
            ),
            (
                "idle_timeout idle=9223372036854775807s",
                "`idle_timeout` idle: expected a duration of at most 365 days",
            ),
            (
                "delay_pongs delay=1s jitter=9223372036854775807s",
                "`delay_pongs` jitter: expected a duration of at most 365 days",
            ),
            (
                "partition fraction=0.5",
                "`partition` has no knob `fraction`; it takes none",
            ),
        ];
        for (spec, expected) in cases {
            let err = spec.parse::<ProxyFault>().expect_err(spec);
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }
}
