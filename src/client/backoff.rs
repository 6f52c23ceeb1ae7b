//! Reconnect delays: `fixed | exponential | decorrelated`, with `none | full | equal` jitter.
//! Pure arithmetic over a caller-owned RNG, so every policy can be checked over many draws.

use std::time::Duration;

use rand::Rng;

use crate::scenario::{BackoffPolicy, Jitter, Reconnect};

/// The delay before reconnect attempt `attempt` (1-based: the first retry after a loss is 1).
/// `previous` is the delay chosen for the previous attempt (decorrelated grows from it).
pub fn delay(cfg: &Reconnect, attempt: u32, previous: Duration, rng: &mut impl Rng) -> Duration {
    let initial = cfg.initial.as_secs_f64();
    let max = cfg.max.as_secs_f64();
    let secs = match cfg.backoff {
        BackoffPolicy::Fixed => apply_jitter(initial.min(max), cfg.jitter, rng),
        BackoffPolicy::Exponential => {
            let exponent = attempt.saturating_sub(1).min(1024) as i32;
            let base = (initial * cfg.multiplier.powi(exponent)).min(max);
            apply_jitter(base, cfg.jitter, rng)
        }
        BackoffPolicy::Decorrelated => {
            // AWS "decorrelated jitter": uniform in [initial, previous * multiplier], capped.
            let upper = (previous.as_secs_f64() * cfg.multiplier).max(initial);
            let drawn = if upper > initial {
                rng.random_range(initial..=upper)
            } else {
                initial
            };
            drawn.min(max)
        }
    };
    Duration::from_secs_f64(secs)
}

fn apply_jitter(base: f64, jitter: Jitter, rng: &mut impl Rng) -> f64 {
    match jitter {
        Jitter::None => base,
        Jitter::Full => rng.random_range(0.0..=base),
        Jitter::Equal => base / 2.0 + rng.random_range(0.0..=base / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn cfg(backoff: BackoffPolicy, jitter: Jitter) -> Reconnect {
        Reconnect {
            backoff,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter,
            max_attempts: 0,
        }
    }

    const DRAWS: usize = 10_000;

    #[test]
    fn fixed_without_jitter_is_always_initial() {
        let c = cfg(BackoffPolicy::Fixed, Jitter::None);
        let mut rng = SmallRng::seed_from_u64(1);
        for attempt in 1..50 {
            assert_eq!(delay(&c, attempt, Duration::ZERO, &mut rng), c.initial);
        }
    }

    #[test]
    fn exponential_doubles_then_caps_at_max() {
        let c = cfg(BackoffPolicy::Exponential, Jitter::None);
        let mut rng = SmallRng::seed_from_u64(1);
        let delays: Vec<u128> = (1..=9)
            .map(|a| delay(&c, a, Duration::ZERO, &mut rng).as_millis())
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(delay(&c, u32::MAX, Duration::ZERO, &mut rng), c.max);
    }

    #[test]
    fn full_jitter_stays_in_zero_to_base_and_spreads() {
        let c = cfg(BackoffPolicy::Exponential, Jitter::Full);
        let mut rng = SmallRng::seed_from_u64(7);
        let base = Duration::from_secs(2); // attempt 3
        let draws: Vec<Duration> = (0..DRAWS)
            .map(|_| delay(&c, 3, Duration::ZERO, &mut rng))
            .collect();
        assert!(draws.iter().all(|d| *d <= base));
        // Spread: both the lowest and the highest tenth of the range are hit.
        assert!(draws.iter().any(|d| *d < base / 10));
        assert!(draws.iter().any(|d| *d > base * 9 / 10));
        let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / DRAWS as f64;
        assert!(
            (mean - 1.0).abs() < 0.05,
            "mean {mean} should be near base/2"
        );
    }

    #[test]
    fn equal_jitter_stays_in_upper_half() {
        let c = cfg(BackoffPolicy::Fixed, Jitter::Equal);
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..DRAWS {
            let d = delay(&c, 1, Duration::ZERO, &mut rng);
            assert!(d >= c.initial / 2 && d <= c.initial, "{d:?}");
        }
    }

    #[test]
    fn decorrelated_stays_between_initial_and_previous_times_multiplier() {
        let c = cfg(BackoffPolicy::Decorrelated, Jitter::None);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut previous = Duration::ZERO;
        for attempt in 1..=DRAWS as u32 {
            let d = delay(&c, attempt, previous, &mut rng);
            let upper = (previous.mul_f64(c.multiplier)).max(c.initial).min(c.max);
            assert!(
                d >= c.initial.min(c.max) && d <= upper,
                "{d:?} outside [{:?}, {upper:?}]",
                c.initial
            );
            previous = d;
        }
    }
}
