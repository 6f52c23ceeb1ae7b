//! IdleTimeout: a connection that carried no byte either way for `idle` is closed on both sides
//! with a FIN, as nginx's proxy_read_timeout or a cloud load balancer does.

use std::time::Duration;

use super::{FaultSpec, Toxic};
use crate::scenario::knobs::Knobs;
use crate::scenario::value::{Invalid, PositiveDur};

/// `idle_timeout`: knob `idle` (required, above zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleTimeout {
    pub idle: Duration,
}

impl FaultSpec for IdleTimeout {
    const NAME: &'static str = "idle_timeout";
    const KNOBS: &'static [&'static str] = &["idle"];

    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self {
            idle: knobs
                .required::<PositiveDur>("idle", "the silence that gets cut, like 60s")?
                .0,
        })
    }
}

impl Toxic for IdleTimeout {
    fn idle_limit(&self) -> Option<Duration> {
        Some(self.idle)
    }
}
