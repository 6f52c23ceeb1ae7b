//! Fault behaviours, one short type per fault behind one trait (in the manner of Toxiproxy's
//! toxics). A toxic says what it does to frames and flows; the proxy's pumps (`pump.rs`) do the
//! moving of bytes, so a toxic holds no per-connection state.

mod bandwidth;
mod delay_acks;
mod drop_acks;
mod frame_loss;
mod idle_timeout;
mod latency;
mod partition;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;

pub use bandwidth::{Bandwidth, TokenBucket};
pub use delay_acks::DelayAcks;
pub use drop_acks::DropAcks;
pub use frame_loss::FrameLoss;
pub use idle_timeout::IdleTimeout;
pub use latency::Latency;
pub use partition::Partition;

use super::frame::FrameHeader;
use super::{Direction, ProxyFault};

/// A frame as a toxic sees it, once its header (and, for a possible ack, its payload) arrived.
#[derive(Debug, Clone, Copy)]
pub struct FrameInfo {
    pub header: FrameHeader,
    /// A heartbeat ack from the server (see `AckMatcher`).
    pub is_ack: bool,
}

/// What happens to one frame; every active toxic may add to it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fate {
    /// Swallowed: none of its bytes are forwarded.
    pub drop: bool,
    /// Forwarded this much later, behind every earlier frame (order preserved).
    pub delay: Duration,
    /// Taken out of line and forwarded this much later (after `delay`): later frames overtake it.
    pub hold: Option<Duration>,
}

/// One fault behaviour. Every method has a do-nothing default; a toxic overrides the one or two
/// that are its effect.
pub trait Toxic: fmt::Debug + Send + Sync {
    /// Decides about one frame travelling `way` (`Upstream` or `Downstream`).
    fn frame(&self, _way: Direction, _frame: &FrameInfo, _fate: &mut Fate, _rng: &mut SmallRng) {}

    /// No bytes move either way, and new connections wait before they reach the upstream.
    fn pauses(&self) -> bool {
        false
    }

    /// A cap on the bytes per second written `way`.
    fn bytes_per_s(&self, _way: Direction) -> Option<u64> {
        None
    }

    /// Close the connection after this long without a byte either way.
    fn idle_limit(&self) -> Option<Duration> {
        None
    }
}

impl ProxyFault {
    /// The behaviour that carries out this fault.
    pub fn toxic(&self) -> Arc<dyn Toxic> {
        match *self {
            ProxyFault::DelayAcks { delay, jitter } => Arc::new(DelayAcks { delay, jitter }),
            ProxyFault::DropAcks => Arc::new(DropAcks),
            ProxyFault::Partition => Arc::new(Partition),
            ProxyFault::Latency {
                direction,
                latency,
                jitter,
            } => Arc::new(Latency {
                direction,
                latency,
                jitter,
            }),
            ProxyFault::Bandwidth {
                direction,
                bytes_per_s,
            } => Arc::new(Bandwidth {
                direction,
                bytes_per_s,
            }),
            ProxyFault::FrameLoss {
                direction,
                probability,
            } => Arc::new(FrameLoss {
                direction,
                probability,
            }),
            ProxyFault::IdleTimeout { idle } => Arc::new(IdleTimeout { idle }),
        }
    }
}

/// `base` +- `jitter`, uniform, never below zero.
pub fn jittered(base: Duration, jitter: Duration, rng: &mut SmallRng) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let span = u64::try_from(jitter.as_nanos().saturating_mul(2)).unwrap_or(u64::MAX);
    (base + Duration::from_nanos(rng.random_range(0..=span))).saturating_sub(jitter)
}

#[cfg(test)]
pub(crate) mod test_support {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::chaos::frame;

    pub fn rng() -> SmallRng {
        SmallRng::seed_from_u64(7)
    }

    pub fn info(opcode: u8, is_ack: bool) -> FrameInfo {
        FrameInfo {
            header: FrameHeader {
                fin: true,
                opcode,
                mask: None,
                header_len: 2,
                payload_len: 0,
            },
            is_ack,
        }
    }

    /// The fate of a frame under one toxic.
    pub fn fate(toxic: &dyn Toxic, way: Direction, opcode: u8, is_ack: bool) -> Fate {
        let mut fate = Fate::default();
        toxic.frame(way, &info(opcode, is_ack), &mut fate, &mut rng());
        fate
    }

    pub const ALL_OPCODES: [u8; 6] = [
        frame::CONTINUATION,
        frame::TEXT,
        frame::BINARY,
        frame::CLOSE,
        frame::PING,
        frame::PONG,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_spreads() {
        let mut rng = test_support::rng();
        let base = Duration::from_millis(200);
        let jitter = Duration::from_millis(20);
        let draws: Vec<Duration> = (0..1000)
            .map(|_| jittered(base, jitter, &mut rng))
            .collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= base - jitter && *d <= base + jitter)
        );
        assert!(draws.iter().any(|d| *d < base - jitter / 2));
        assert!(draws.iter().any(|d| *d > base + jitter / 2));
        let short = jittered(Duration::from_millis(1), jitter, &mut rng);
        assert!(short <= Duration::from_millis(21));
    }
}
