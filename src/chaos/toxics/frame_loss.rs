//! FrameLoss: data frames (text, binary, continuation) travelling `direction` are dropped with
//! `probability`; control frames (close, ping, pong) always pass.

use rand::Rng;
use rand::rngs::SmallRng;

use super::{FaultSpec, Fate, FrameInfo, Toxic};
use crate::chaos::Direction;
use crate::scenario::knobs::Knobs;
use crate::scenario::value::{Fraction, Invalid};

/// `frame_loss`: knobs `direction` (default both) and `probability` (required, 0.0 to 1.0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameLoss {
    pub direction: Direction,
    pub probability: f64,
}

impl FaultSpec for FrameLoss {
    const NAME: &'static str = "frame_loss";
    const KNOBS: &'static [&'static str] = &["direction", "probability"];

    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self {
            direction: knobs.optional("direction")?.unwrap_or(Direction::Both),
            probability: knobs
                .required::<Fraction>(
                    "probability",
                    "the chance a data frame is dropped, 0.0 to 1.0",
                )?
                .0,
        })
    }
}

impl Toxic for FrameLoss {
    fn frame(&self, way: Direction, frame: &FrameInfo, fate: &mut Fate, rng: &mut SmallRng) {
        if self.direction.covers(way)
            && frame.header.is_data()
            && rng.random::<f64>() < self.probability
        {
            fate.drop = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::frame::{BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};
    use crate::chaos::toxics::test_support::{fate, info, rng};

    #[test]
    fn certain_loss_drops_data_frames_but_never_control_frames() {
        let toxic = FrameLoss {
            direction: Direction::Both,
            probability: 1.0,
        };
        for way in [Direction::Upstream, Direction::Downstream] {
            for opcode in [TEXT, BINARY, CONTINUATION] {
                assert!(fate(&toxic, way, opcode, false).drop);
            }
            for opcode in [CLOSE, PING, PONG] {
                assert!(!fate(&toxic, way, opcode, true).drop);
            }
        }
    }

    #[test]
    fn loss_follows_the_probability() {
        let toxic = FrameLoss {
            direction: Direction::Upstream,
            probability: 0.25,
        };
        let mut rng = rng();
        let dropped = (0..10_000)
            .filter(|_| {
                let mut fate = Fate::default();
                toxic.frame(Direction::Upstream, &info(TEXT, false), &mut fate, &mut rng);
                fate.drop
            })
            .count();
        assert!((2000..3000).contains(&dropped), "{dropped}");
        assert!(!fate(&toxic, Direction::Downstream, TEXT, false).drop);
    }
}
