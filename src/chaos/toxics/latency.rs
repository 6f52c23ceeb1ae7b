//! Latency: every frame travelling `direction` is forwarded `latency` +- `jitter` after it
//! arrived, never before a frame that arrived earlier (order preserved).

use std::time::Duration;

use rand::rngs::SmallRng;

use super::{FaultSpec, Fate, FrameInfo, Toxic, jittered};
use crate::chaos::Direction;
use crate::scenario::knobs::Knobs;
use crate::scenario::value::{Dur, Invalid, PositiveDur};

/// `latency`: knobs `direction` (default both), `latency` (required, above zero), `jitter`
/// (default 0s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub direction: Direction,
    pub latency: Duration,
    pub jitter: Duration,
}

impl FaultSpec for Latency {
    const NAME: &'static str = "latency";
    const KNOBS: &'static [&'static str] = &["direction", "latency", "jitter"];

    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self {
            direction: knobs.optional("direction")?.unwrap_or(Direction::Both),
            latency: knobs
                .required::<PositiveDur>("latency", "the added delay, like 50ms")?
                .0,
            jitter: knobs.optional::<Dur>("jitter")?.unwrap_or_default().0,
        })
    }
}

impl Toxic for Latency {
    fn frame(&self, way: Direction, _frame: &FrameInfo, fate: &mut Fate, rng: &mut SmallRng) {
        if self.direction.covers(way) {
            // Saturating: stacked latencies never overflow (the pump clamps the release time).
            fate.delay = fate
                .delay
                .saturating_add(jittered(self.latency, self.jitter, rng));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::frame::{PING, TEXT};
    use crate::chaos::toxics::test_support::fate;

    #[test]
    fn delays_every_frame_in_its_direction_only() {
        let toxic = Latency {
            direction: Direction::Downstream,
            latency: Duration::from_millis(50),
            jitter: Duration::ZERO,
        };
        for opcode in [TEXT, PING] {
            let delayed = fate(&toxic, Direction::Downstream, opcode, false);
            assert_eq!(delayed.delay, Duration::from_millis(50));
            assert_eq!(delayed.hold, None);
            assert_eq!(
                fate(&toxic, Direction::Upstream, opcode, false),
                Fate::default()
            );
        }
    }
}
