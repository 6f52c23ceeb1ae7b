//! The steps of a capacity search: the client counts (`--start`, `--step` or `--factor`,
//! `--max`) and when each step ramps, holds and ends on the run's clock.

use std::time::Duration;

/// Most steps one search plans (a search without `--max` stops here, or at the first step the
/// kernel cannot hold).
pub const MAX_STEPS: usize = 100;
/// Most clients a step may plan (as many as a scenario may ask for).
pub const MAX_CLIENTS: u32 = 1_000_000;

/// How the client count grows from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// `--step N`: N more clients each step.
    Add(u32),
    /// `--factor F`: F times the clients each step (rounded up, at least one more).
    Multiply(f64),
}

/// The client count of every step: from `start`, growing by `growth`, up to `max` (the last
/// step is `max` itself when the growth steps over it), at most [`MAX_STEPS`] of them.
pub fn counts(start: u32, growth: Growth, max: Option<u32>) -> Result<Vec<u32>, String> {
    if start == 0 {
        return Err("--start: expected at least 1 client, found 0".into());
    }
    if start > MAX_CLIENTS {
        return Err(format!(
            "--start: expected at most {MAX_CLIENTS} clients, found {start}"
        ));
    }
    match growth {
        Growth::Add(0) => return Err("--step: expected at least 1 client, found 0".into()),
        Growth::Multiply(f) if !(f > 1.0 && f <= 100.0) => {
            return Err(format!(
                "--factor: expected a number above 1 and at most 100, found {f}"
            ));
        }
        _ => {}
    }
    let max = match max {
        Some(max) if max < start => {
            return Err(format!(
                "--max: expected at least --start ({start}), found {max}"
            ));
        }
        Some(max) if max > MAX_CLIENTS => {
            return Err(format!(
                "--max: expected at most {MAX_CLIENTS} clients, found {max}"
            ));
        }
        Some(max) => max,
        None => MAX_CLIENTS,
    };
    let mut counts = vec![start];
    while counts.len() < MAX_STEPS {
        let last = counts[counts.len() - 1];
        if last >= max {
            break;
        }
        let next = match growth {
            Growth::Add(n) => u64::from(last) + u64::from(n),
            Growth::Multiply(f) => ((f64::from(last) * f).ceil() as u64).max(u64::from(last) + 1),
        };
        counts.push(next.min(u64::from(max)) as u32);
    }
    Ok(counts)
}

/// One step on the run's clock: ramp from the step before to `clients`, then hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// 1-based, as the table numbers them.
    pub number: usize,
    pub clients: u32,
    /// Since the run's start.
    pub ramp_from: Duration,
    pub hold_from: Duration,
    pub end: Duration,
}

/// Lays the steps end to end: each ramps over `ramp` and holds for `hold`.
pub fn schedule(counts: &[u32], ramp: Duration, hold: Duration) -> Vec<Step> {
    let mut at = Duration::ZERO;
    counts
        .iter()
        .enumerate()
        .map(|(i, &clients)| {
            let step = Step {
                number: i + 1,
                clients,
                ramp_from: at,
                hold_from: at + ramp,
                end: at + ramp + hold,
            };
            at = step.end;
            step
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_steps_go_from_start_to_max() {
        assert_eq!(
            counts(100, Growth::Add(100), Some(500)),
            Ok(vec![100, 200, 300, 400, 500])
        );
        // The last step is --max itself when the growth steps over it.
        assert_eq!(
            counts(100, Growth::Add(300), Some(500)),
            Ok(vec![100, 400, 500])
        );
        assert_eq!(counts(50, Growth::Add(10), Some(50)), Ok(vec![50]));
    }

    #[test]
    fn multiplied_steps_round_up_and_always_grow() {
        assert_eq!(
            counts(100, Growth::Multiply(1.5), Some(1000)),
            Ok(vec![100, 150, 225, 338, 507, 761, 1000])
        );
        // 1 x 1.1 rounds up to 2: a step never plans the same count again.
        assert_eq!(
            counts(1, Growth::Multiply(1.1), Some(4)),
            Ok(vec![1, 2, 3, 4])
        );
    }

    #[test]
    fn without_max_the_plan_stops_at_the_step_limit_or_the_client_limit() {
        let plan = counts(10, Growth::Add(10), None).expect("a plan");
        assert_eq!(plan.len(), MAX_STEPS);
        assert_eq!(plan.last(), Some(&(10 * MAX_STEPS as u32)));
        let plan = counts(1000, Growth::Multiply(10.0), None).expect("a plan");
        assert_eq!(plan, vec![1000, 10_000, 100_000, MAX_CLIENTS]);
    }

    #[test]
    fn bad_numbers_are_refused_with_the_flag_named() {
        for (start, growth, max, flag) in [
            (0, Growth::Add(10), None, "--start"),
            (MAX_CLIENTS + 1, Growth::Add(10), None, "--start"),
            (10, Growth::Add(0), None, "--step"),
            (10, Growth::Multiply(1.0), None, "--factor"),
            (10, Growth::Multiply(f64::NAN), None, "--factor"),
            (10, Growth::Multiply(0.5), None, "--factor"),
            (10, Growth::Add(10), Some(9), "--max"),
            (10, Growth::Add(10), Some(MAX_CLIENTS + 1), "--max"),
        ] {
            let err = counts(start, growth, max).expect_err("refused");
            assert!(err.starts_with(flag), "{err}");
        }
    }

    #[test]
    fn steps_are_laid_end_to_end() {
        let steps = schedule(
            &[100, 200, 300],
            Duration::from_millis(500),
            Duration::from_secs(1),
        );
        let ends: Vec<u128> = steps.iter().map(|s| s.end.as_millis()).collect();
        assert_eq!(ends, vec![1500, 3000, 4500]);
        assert_eq!(steps[1].ramp_from, Duration::from_millis(1500));
        assert_eq!(steps[1].hold_from, Duration::from_millis(2000));
        assert_eq!(steps[2].number, 3);
        assert_eq!(steps[2].clients, 300);
    }
}
