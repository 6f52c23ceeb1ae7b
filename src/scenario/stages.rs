//! The planned client count over time, from `clients.stages`: a walk over the stages that says
//! how many clients come or go by a given time since the start. The engine walks it tick by
//! tick; `planned_at` walks it once for a single instant (the report's planned line).
//!
//! A stage that moves the count by n makes its k-th change at `over * (k - 1) / n` into the
//! stage: the first at the stage's start, the last one step before its end (arrivals over a
//! ramp have always been spread this way), all at once when `over` is zero.

use std::time::Duration;

use super::model::Stage;

/// A batch of changes to the planned count, in the order they are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This many more clients.
    Up(u32),
    /// This many fewer clients.
    Down(u32),
}

/// How far a walk over the stages has got. Starts at the first stage with no clients.
#[derive(Debug, Clone, Default)]
pub struct StageCursor {
    /// The stage being walked (`stages.len()` once all are done).
    index: usize,
    /// When that stage began, since the start of the run.
    start: Duration,
    /// The planned count when that stage began.
    from: u32,
    /// Changes of that stage already handed out.
    done: u32,
}

impl StageCursor {
    /// Hands `apply` every change due by `t` (since the start) not handed out before, stage by
    /// stage: a down-stage followed at once by an up-stage gives `Down` then `Up`, never the net.
    pub fn advance(&mut self, stages: &[Stage], t: Duration, mut apply: impl FnMut(Change)) {
        while let Some(stage) = stages.get(self.index) {
            if t < self.start {
                return;
            }
            let span = match *stage {
                Stage::Ramp { to, over } => {
                    let steps = to.abs_diff(self.from);
                    let due = steps_due(steps, over, t - self.start);
                    if due > self.done {
                        let batch = due - self.done;
                        apply(if to > self.from {
                            Change::Up(batch)
                        } else {
                            Change::Down(batch)
                        });
                        self.done = due;
                    }
                    over
                }
                Stage::Hold(span) => span,
            };
            let end = self.start.saturating_add(span);
            if t < end {
                return;
            }
            if let Stage::Ramp { to, .. } = *stage {
                self.from = to;
            }
            self.start = end;
            self.index += 1;
            self.done = 0;
        }
    }
}

impl StageCursor {
    /// When (since the start) the next change not handed out yet is due; `None` once every
    /// stage is done. Lets the engine sleep through holds and after the last stage instead of
    /// ticking.
    pub fn next_change(&self, stages: &[Stage]) -> Option<Duration> {
        let mut cursor = self.clone();
        while let Some(stage) = stages.get(cursor.index) {
            let span = match *stage {
                Stage::Ramp { to, over } => {
                    let steps = to.abs_diff(cursor.from);
                    if cursor.done < steps {
                        // Change `done + 1` is due `over * done / steps` into the stage.
                        let into = over.as_nanos() * u128::from(cursor.done);
                        let into = into.div_ceil(u128::from(steps));
                        let into = Duration::from_nanos(u64::try_from(into).unwrap_or(u64::MAX));
                        return Some(cursor.start.saturating_add(into));
                    }
                    cursor.from = to;
                    over
                }
                Stage::Hold(span) => span,
            };
            cursor.start = cursor.start.saturating_add(span);
            cursor.index += 1;
            cursor.done = 0;
        }
        None
    }
}

/// Changes made `into` a stage of `steps` changes spread over `over`.
fn steps_due(steps: u32, over: Duration, into: Duration) -> u32 {
    if into >= over {
        return steps;
    }
    let due = into.as_nanos() * u128::from(steps) / over.as_nanos() + 1;
    u32::try_from(due).map_or(steps, |due| due.min(steps))
}

/// The planned client count at `t` since the start (after the last stage: its final count).
pub fn planned_at(stages: &[Stage], t: Duration) -> u32 {
    let mut planned: u32 = 0;
    StageCursor::default().advance(stages, t, |change| match change {
        Change::Up(n) => planned = planned.saturating_add(n),
        Change::Down(n) => planned = planned.saturating_sub(n),
    });
    planned
}

/// How long the stages take together.
pub fn stages_total(stages: &[Stage]) -> Duration {
    stages
        .iter()
        .map(|stage| match *stage {
            Stage::Ramp { over, .. } => over,
            Stage::Hold(span) => span,
        })
        .fold(Duration::ZERO, Duration::saturating_add)
}

/// The highest planned count of the stages (zero without any ramp).
pub fn peak(stages: &[Stage]) -> u32 {
    stages
        .iter()
        .filter_map(|stage| match *stage {
            Stage::Ramp { to, .. } => Some(to),
            Stage::Hold(_) => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ramp(to: u32, over_ms: u64) -> Stage {
        Stage::Ramp {
            to,
            over: ms(over_ms),
        }
    }

    /// 0 -> 10 over 1 s, hold 1 s, down to 4 over 600 ms, at once to 0.
    fn up_hold_down() -> Vec<Stage> {
        vec![
            ramp(10, 1000),
            Stage::Hold(ms(1000)),
            ramp(4, 600),
            ramp(0, 0),
        ]
    }

    #[test]
    fn a_ramp_up_spreads_arrivals_from_its_start() {
        let stages = up_hold_down();
        // The k-th of 10 arrivals at 100 ms * (k - 1).
        assert_eq!(planned_at(&stages, ms(0)), 1);
        assert_eq!(planned_at(&stages, ms(99)), 1);
        assert_eq!(planned_at(&stages, ms(100)), 2);
        assert_eq!(planned_at(&stages, ms(550)), 6);
        assert_eq!(planned_at(&stages, ms(900)), 10);
        assert_eq!(planned_at(&stages, ms(999)), 10);
    }

    #[test]
    fn a_hold_keeps_the_count() {
        let stages = up_hold_down();
        for t in [1000, 1500, 1999] {
            assert_eq!(planned_at(&stages, ms(t)), 10, "at {t} ms");
        }
    }

    #[test]
    fn a_ramp_down_removes_from_its_start() {
        let stages = up_hold_down();
        // 6 removals over 600 ms: the k-th at 2000 + 100 * (k - 1) ms.
        assert_eq!(planned_at(&stages, ms(2000)), 9);
        assert_eq!(planned_at(&stages, ms(2250)), 7);
        assert_eq!(planned_at(&stages, ms(2599)), 4);
    }

    #[test]
    fn a_zero_length_ramp_is_at_once_and_past_the_end_is_the_last_count() {
        let stages = up_hold_down();
        assert_eq!(planned_at(&stages, ms(2600)), 0);
        assert_eq!(planned_at(&stages, ms(60_000)), 0);
        let burst = vec![ramp(50, 0)];
        assert_eq!(planned_at(&burst, ms(0)), 50);
        assert_eq!(planned_at(&burst, ms(10_000)), 50);
        let hold_then_burst = vec![Stage::Hold(ms(500)), ramp(7, 0), Stage::Hold(ms(500))];
        assert_eq!(planned_at(&hold_then_burst, ms(499)), 0);
        assert_eq!(planned_at(&hold_then_burst, ms(500)), 7);
        assert_eq!(planned_at(&hold_then_burst, ms(5000)), 7);
    }

    #[test]
    fn total_and_peak() {
        assert_eq!(stages_total(&up_hold_down()), ms(2600));
        assert_eq!(peak(&up_hold_down()), 10);
        assert_eq!(stages_total(&[]), Duration::ZERO);
        assert_eq!(peak(&[Stage::Hold(ms(5))]), 0);
    }

    #[test]
    fn the_walk_hands_out_each_stage_in_order_never_the_net() {
        // Down to 2 and up to 6 at the same instant: 8 leave, then 6 come.
        let stages = vec![ramp(10, 0), Stage::Hold(ms(100)), ramp(2, 0), ramp(6, 0)];
        let mut cursor = StageCursor::default();
        let mut changes = Vec::new();
        cursor.advance(&stages, ms(50), |c| changes.push(c));
        assert_eq!(changes, [Change::Up(10)]);
        cursor.advance(&stages, ms(100), |c| changes.push(c));
        assert_eq!(changes, [Change::Up(10), Change::Down(8), Change::Up(4)]);
        cursor.advance(&stages, ms(900), |c| changes.push(c));
        assert_eq!(changes.len(), 3, "nothing is handed out twice");
    }

    #[test]
    fn ticks_of_any_size_hand_out_the_same_total() {
        let stages = up_hold_down();
        for tick_ms in [1, 7, 10, 333] {
            let mut cursor = StageCursor::default();
            let (mut up, mut down) = (0, 0);
            let mut t = 0;
            while t <= 3000 {
                cursor.advance(&stages, ms(t), |c| match c {
                    Change::Up(n) => up += n,
                    Change::Down(n) => down += n,
                });
                assert_eq!(
                    up - down,
                    planned_at(&stages, ms(t)),
                    "tick {tick_ms} at {t}"
                );
                t += tick_ms;
            }
            assert_eq!((up, down), (10, 10), "tick {tick_ms}");
        }
    }

    /// Walking to each time `next_change` names hands out exactly the changes a fine tick
    /// would, and nothing is due once it says `None`.
    #[test]
    fn next_change_names_each_due_time_and_none_after_the_last_stage() {
        let stages = up_hold_down();
        let mut by_next = StageCursor::default();
        let mut by_tick = StageCursor::default();
        let mut seen_next = Vec::new();
        let mut seen_tick = Vec::new();
        let mut wakes = 0;
        while let Some(at) = by_next.next_change(&stages) {
            wakes += 1;
            assert!(wakes < 100, "no progress at {at:?}");
            by_next.advance(&stages, at, |c| seen_next.push((at, c)));
        }
        for t in 0..=3000u64 {
            by_tick.advance(&stages, Duration::from_micros(t * 1000), |c| {
                seen_tick.push(c);
            });
        }
        let total = |v: &[Change]| {
            v.iter().fold((0, 0), |(up, down), c| match c {
                Change::Up(n) => (up + n, down),
                Change::Down(n) => (up, down + n),
            })
        };
        let changes: Vec<Change> = seen_next.iter().map(|(_, c)| *c).collect();
        assert_eq!(total(&changes), total(&seen_tick));
        assert_eq!(total(&changes), (10, 10));
        // Ten arrivals 100 ms apart from 0, the hold slept through, six departures 100 ms
        // apart from 2 s, then the last four at once at 2.6 s.
        let times: Vec<u64> = seen_next
            .iter()
            .map(|(at, _)| at.as_millis() as u64)
            .collect();
        let expected: Vec<u64> = (0..10)
            .map(|k| k * 100)
            .chain((0..6).map(|k| 2000 + k * 100))
            .chain([2600])
            .collect();
        assert_eq!(times, expected);
        assert_eq!(by_next.next_change(&stages), None);
        assert_eq!(StageCursor::default().next_change(&[]), None);
        let flat = [Stage::Hold(ms(500))];
        assert_eq!(StageCursor::default().next_change(&flat), None);
    }
}
