//! Partition: a half-open blackhole. No bytes move either way, no FIN, no RST; new connections
//! wait after their request head. Everything queued flows again when the fault ends.

use super::Toxic;

#[derive(Debug, Clone, Copy)]
pub struct Partition;

impl Toxic for Partition {
    fn pauses(&self) -> bool {
        true
    }
}
