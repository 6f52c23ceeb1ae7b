//! Partition: a half-open blackhole. No bytes move either way, no FIN, no RST; new connections
//! wait after their request head. Everything queued flows again when the fault ends.

use super::{FaultSpec, Toxic};
use crate::scenario::knobs::Knobs;
use crate::scenario::value::Invalid;

/// `partition`: no knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partition;

impl FaultSpec for Partition {
    const NAME: &'static str = "partition";
    const KNOBS: &'static [&'static str] = &[];

    fn from_knobs(_knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self)
    }
}

impl Toxic for Partition {
    fn pauses(&self) -> bool {
        true
    }
}
