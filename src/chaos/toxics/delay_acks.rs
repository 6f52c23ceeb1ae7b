//! DelayAcks: heartbeat acks from the server are held back `delay` +- `jitter`; every other frame
//! passes at once and may overtake them.

use std::time::Duration;

use rand::rngs::SmallRng;

use super::{FaultSpec, Fate, FrameInfo, Toxic, jittered};
use crate::chaos::Direction;
use crate::scenario::knobs::Knobs;
use crate::scenario::value::{Dur, Invalid, PositiveDur};

/// `delay_pongs`: knobs `delay` (required, above zero) and `jitter` (default 0s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayAcks {
    pub delay: Duration,
    pub jitter: Duration,
}

impl FaultSpec for DelayAcks {
    const NAME: &'static str = "delay_pongs";
    const KNOBS: &'static [&'static str] = &["delay", "jitter"];

    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self {
            delay: knobs
                .required::<PositiveDur>("delay", "how long acks are held, like 2s")?
                .0,
            jitter: knobs.optional::<Dur>("jitter")?.unwrap_or_default().0,
        })
    }
}

impl Toxic for DelayAcks {
    fn frame(&self, way: Direction, frame: &FrameInfo, fate: &mut Fate, rng: &mut SmallRng) {
        if way.includes_downstream() && frame.is_ack {
            let hold = jittered(self.delay, self.jitter, rng);
            fate.hold = Some(fate.hold.unwrap_or_default().saturating_add(hold));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::frame::{PONG, TEXT};
    use crate::chaos::toxics::test_support::fate;

    #[test]
    fn holds_only_downstream_acks() {
        let toxic = DelayAcks {
            delay: Duration::from_millis(200),
            jitter: Duration::ZERO,
        };
        let held = fate(&toxic, Direction::Downstream, PONG, true);
        assert_eq!(held.hold, Some(Duration::from_millis(200)));
        assert!(!held.drop);
        assert_eq!(
            fate(&toxic, Direction::Downstream, TEXT, false),
            Fate::default()
        );
        assert_eq!(
            fate(&toxic, Direction::Upstream, PONG, true),
            Fate::default()
        );
    }
}
