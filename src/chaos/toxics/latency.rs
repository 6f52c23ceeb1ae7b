//! Latency: every frame travelling `direction` is forwarded `latency` +- `jitter` after it
//! arrived, never before a frame that arrived earlier (order preserved).

use std::time::Duration;

use rand::rngs::SmallRng;

use super::{Fate, FrameInfo, Toxic, jittered};
use crate::chaos::Direction;

#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub direction: Direction,
    pub latency: Duration,
    pub jitter: Duration,
}

impl Toxic for Latency {
    fn frame(&self, way: Direction, _frame: &FrameInfo, fate: &mut Fate, rng: &mut SmallRng) {
        if self.direction.covers(way) {
            fate.delay += jittered(self.latency, self.jitter, rng);
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
