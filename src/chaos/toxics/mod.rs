//! Fault behaviours, one short type per fault behind one trait (in the manner of Toxiproxy's
//! toxics). A toxic says what it does to frames and flows; the proxy's pumps (`pump.rs`) do the
//! moving of bytes, so a toxic holds no per-connection state.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;

pub use bandwidth::TokenBucket;

use super::Direction;
use super::frame::FrameHeader;
use crate::scenario::knobs::{FaultKindInfo, Knobs, Timeline};
use crate::scenario::value::Invalid;

/// A proxy fault kind's user-facing side: its name, its knobs and its constructor from them.
/// The implementing struct's fields are the knobs' checked values.
pub trait FaultSpec: Sized {
    /// The name in scenario files, `--fault` specs and reports.
    const NAME: &'static str;
    /// The knobs it takes, in the order messages list them.
    const KNOBS: &'static [&'static str];
    /// Reads and checks the knobs (unknown ones were rejected before), filling in defaults.
    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid>;
}

/// Declares the proxy fault kinds from one list of `module::Type` lines: the modules, the
/// `ProxyFault` enum with one variant per kind, its names, knobs, constructor and toxic.
macro_rules! proxy_faults {
    ($( $(#[$doc:meta])* $module:ident::$kind:ident ),* $(,)?) => {
        $( mod $module; pub use $module::$kind; )*

        /// What the proxy does to a victim connection while a fault is active: one variant per
        /// fault kind, holding the kind's checked knobs.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum ProxyFault { $( $(#[$doc])* $kind($kind), )* }

        impl ProxyFault {
            /// Every proxy fault kind, in the order messages list them.
            pub const KINDS: &'static [FaultKindInfo] = &[$(
                FaultKindInfo {
                    name: <$kind as FaultSpec>::NAME,
                    timeline: Timeline::Window,
                    knobs: <$kind as FaultSpec>::KNOBS,
                },
            )*];

            /// The fault's name in scenario files, `--fault` specs and reports.
            pub fn name(&self) -> &'static str {
                match self { $( ProxyFault::$kind(_) => <$kind as FaultSpec>::NAME, )* }
            }

            /// The behaviour that carries out this fault.
            pub fn toxic(&self) -> Arc<dyn Toxic> {
                match *self { $( ProxyFault::$kind(toxic) => Arc::new(toxic), )* }
            }

            /// The fault of kind `knobs.kind()` built from its knobs, or `None` for a name that
            /// is no proxy fault.
            pub fn from_knobs(knobs: &mut Knobs<'_>) -> Option<Result<Self, Invalid>> {
                $(
                    if knobs.kind() == <$kind as FaultSpec>::NAME {
                        return Some(<$kind as FaultSpec>::from_knobs(knobs).map(ProxyFault::$kind));
                    }
                )*
                None
            }
        }
    };
}

proxy_faults! {
    /// Heartbeat acks from the server are held back.
    delay_acks::DelayAcks,
    /// Heartbeat acks from the server are swallowed.
    drop_acks::DropAcks,
    /// Half-open: no bytes either way.
    partition::Partition,
    /// Every byte in one direction is delayed.
    latency::Latency,
    /// A cap on bytes per second per connection.
    bandwidth::Bandwidth,
    /// Data frames are dropped with a probability.
    frame_loss::FrameLoss,
    /// A connection without traffic is closed.
    idle_timeout::IdleTimeout,
}

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

/// `base` +- `jitter`, uniform, never below zero.
pub fn jittered(base: Duration, jitter: Duration, rng: &mut SmallRng) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let span = u64::try_from(jitter.as_nanos().saturating_mul(2)).unwrap_or(u64::MAX);
    base.saturating_add(Duration::from_nanos(rng.random_range(0..=span)))
        .saturating_sub(jitter)
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
