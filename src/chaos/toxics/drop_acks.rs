//! DropAcks (`stop_acking`): heartbeat acks from the server are swallowed; the connection and
//! every other frame carry on.

use rand::rngs::SmallRng;

use super::{FaultSpec, Fate, FrameInfo, Toxic};
use crate::chaos::Direction;
use crate::scenario::knobs::Knobs;
use crate::scenario::value::Invalid;

/// `stop_acking`: no knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropAcks;

impl FaultSpec for DropAcks {
    const NAME: &'static str = "stop_acking";
    const KNOBS: &'static [&'static str] = &[];

    fn from_knobs(_knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self)
    }
}

impl Toxic for DropAcks {
    fn frame(&self, way: Direction, frame: &FrameInfo, fate: &mut Fate, _rng: &mut SmallRng) {
        if way.includes_downstream() && frame.is_ack {
            fate.drop = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::toxics::test_support::{ALL_OPCODES, fate};

    #[test]
    fn drops_only_downstream_acks() {
        for opcode in ALL_OPCODES {
            assert!(fate(&DropAcks, Direction::Downstream, opcode, true).drop);
            assert!(!fate(&DropAcks, Direction::Downstream, opcode, false).drop);
            assert!(!fate(&DropAcks, Direction::Upstream, opcode, true).drop);
        }
    }
}
