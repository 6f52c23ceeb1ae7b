//! Bandwidth: at most `bytes_per_s` are written per connection in `direction` (a token bucket
//! holding a tenth of a second's worth, so bursts stay short).

use tokio::time::{Duration, Instant};

use super::{FaultSpec, Toxic};
use crate::chaos::Direction;
use crate::scenario::knobs::Knobs;
use crate::scenario::value::{BytesPerSecond, Invalid};

/// `bandwidth`: knobs `direction` (default both) and `bytes_per_s` (required, at least 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bandwidth {
    pub direction: Direction,
    pub bytes_per_s: u64,
}

impl FaultSpec for Bandwidth {
    const NAME: &'static str = "bandwidth";
    const KNOBS: &'static [&'static str] = &["direction", "bytes_per_s"];

    fn from_knobs(knobs: &mut Knobs<'_>) -> Result<Self, Invalid> {
        Ok(Self {
            direction: knobs.optional("direction")?.unwrap_or(Direction::Both),
            bytes_per_s: knobs
                .required::<BytesPerSecond>("bytes_per_s", "bytes per second per connection")?
                .0,
        })
    }
}

impl Toxic for Bandwidth {
    fn bytes_per_s(&self, way: Direction) -> Option<u64> {
        self.direction.covers(way).then_some(self.bytes_per_s)
    }
}

/// Tokens are bytes; they refill at `bytes_per_s` up to `capacity`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    bytes_per_s: f64,
    capacity: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(bytes_per_s: u64, now: Instant) -> Self {
        let bytes_per_s = bytes_per_s.max(1) as f64;
        let capacity = (bytes_per_s / 10.0).max(1.0);
        Self {
            bytes_per_s,
            capacity,
            tokens: capacity,
            refilled: now,
        }
    }

    pub fn bytes_per_s(&self) -> u64 {
        self.bytes_per_s as u64
    }

    /// How many of `want` bytes may be written now (at least one), or when to ask again.
    pub fn allow(&mut self, now: Instant, want: usize) -> Result<usize, Instant> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.bytes_per_s).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            return Ok((self.tokens as usize).min(want));
        }
        let need = (want as f64).min(self.capacity) - self.tokens;
        Err(now + Duration::from_secs_f64(need / self.bytes_per_s))
    }

    /// Takes the tokens for bytes just written.
    pub fn spend(&mut self, written: usize) {
        self.tokens -= written as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_paces_writes_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10_000, start);
        let mut now = start;
        let mut sent = 0;
        while sent < 5_000 {
            match bucket.allow(now, 5_000 - sent) {
                Ok(n) => {
                    assert!((1..=1_000).contains(&n), "{n}");
                    bucket.spend(n);
                    sent += n;
                }
                Err(at) => {
                    assert!(at > now);
                    now = at;
                }
            }
        }
        // 1,000 bytes of burst, the other 4,000 at 10,000 B/s.
        let took = now - start;
        assert!(took >= Duration::from_millis(390) && took <= Duration::from_millis(410));
    }

    #[test]
    fn caps_only_its_direction() {
        let toxic = Bandwidth {
            direction: Direction::Upstream,
            bytes_per_s: 100,
        };
        assert_eq!(toxic.bytes_per_s(Direction::Upstream), Some(100));
        assert_eq!(toxic.bytes_per_s(Direction::Downstream), None);
    }
}
