//! `drop`: the chosen share of clients (`fraction`, required) lose their connection and
//! reconnect. Knob: `mode` (`close`, the default, or `reset`).

use super::FaultKind;
use crate::scenario::knobs::{FaultKindInfo, Knobs, Timeline};
use crate::scenario::value::{Invalid, Word};

pub const INFO: FaultKindInfo = FaultKindInfo {
    name: "drop",
    timeline: Timeline::Share {
        hint: "the share of connected clients to drop, from 0.0 to 1.0",
    },
    knobs: &["mode"],
};

/// How a dropped client loses its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// Close frame 1001 (going away), then the client closes the socket.
    Close,
    /// RST: SO_LINGER 0 and close, no close frame.
    Reset,
}

impl Word for DropMode {
    const WORDS: &'static [(&'static str, Self)] =
        &[("close", Self::Close), ("reset", Self::Reset)];
}

pub fn from_knobs(knobs: &mut Knobs<'_>) -> Result<FaultKind, Invalid> {
    Ok(FaultKind::Drop {
        mode: knobs.optional("mode")?.unwrap_or(DropMode::Close),
    })
}
