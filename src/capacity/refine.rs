//! `--refine K`: K more steps after the search, bisecting between the capacity and the first
//! failure. Each midpoint is a short run of its own (ramp from zero to it over `--ramp`, hold
//! for `--hold`, judged like a step; its report in `refine-<k>/` of the report directory),
//! not a step down inside the search's run: the failing step may have left connections and
//! the target in any state (reconnects still going, a target at its limit), and a fresh run
//! starts each midpoint from the same clean state as the search's first step.

use std::path::Path;

use super::verdict::{Conclusion, Failure, StepResult, Verdict, broken};
use super::{CapacityOptions, Judging};
use crate::run::{RunError, RunOptions};
use crate::scenario::Scenario;

/// Runs up to `options.refine` midpoints between the capacity and the first failure of
/// `conclusion`, numbered after the `numbered` steps so far; stops early when the two meet,
/// at a tool limit, or at a signal.
pub(super) fn bisect(
    judging: &Judging,
    scenario: &Scenario,
    conclusion: &Conclusion,
    numbered: usize,
    options: &CapacityOptions,
    dir: &Path,
) -> Result<Vec<StepResult>, RunError> {
    let (Some(mut pass), Some(failure)) = (conclusion.capacity, &conclusion.first_failure) else {
        return Ok(Vec::new());
    };
    if conclusion.verdict != Verdict::Capacity {
        return Ok(Vec::new());
    }
    let mut fail = failure.clients;
    let mut refined: Vec<StepResult> = Vec::new();
    for k in 1..=options.refine {
        if fail <= pass + 1 {
            break;
        }
        let mid = pass + (fail - pass) / 2;
        let run_options = RunOptions {
            out: Some(dir.join(format!("refine-{k}"))),
            seed: options.seed,
            ignore_kernel_limits: options.ignore_kernel_limits,
            ..RunOptions::default()
        };
        let (finished, steps) = judging.run_steps(
            scenario,
            &[mid],
            numbered + refined.len() + 1,
            options,
            &run_options,
        )?;
        finished.write()?;
        let Some(step) = steps.into_iter().next() else {
            break;
        };
        let tool_limit = step.tool_limit.is_some();
        if !tool_limit {
            if step.passed {
                pass = mid;
            } else {
                fail = mid;
            }
        }
        refined.push(step);
        if tool_limit || finished.stopped_by.is_some() {
            break;
        }
    }
    Ok(refined)
}

/// Folds the refined steps into the conclusion: the capacity is the most clients that
/// passed, the first failure the fewest that failed; a tool limit ends the refining there.
pub(super) fn apply(conclusion: &mut Conclusion, refined: &[StepResult]) {
    if refined.is_empty() {
        return;
    }
    for step in refined {
        if let Some(limit) = &step.tool_limit {
            conclusion.stopped.push_str(&format!(
                "; refining stopped at step {} ({} clients), the tool's limit: {}",
                step.step, step.clients_planned, limit.what
            ));
            break;
        }
        if step.passed {
            conclusion.capacity = conclusion.capacity.max(Some(step.clients_planned));
        } else if conclusion
            .first_failure
            .as_ref()
            .is_none_or(|f| step.clients_planned < f.clients)
        {
            conclusion.first_failure = Some(Failure {
                step: step.step,
                clients: step.clients_planned,
                broken: broken(step),
            });
        }
    }
    conclusion.stopped.push_str(&format!(
        "; refined by {} more steps: capacity {}, first failure {}",
        refined.len(),
        conclusion.capacity.unwrap_or(0),
        conclusion.first_failure.as_ref().map_or(0, |f| f.clients)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::verdict::ToolLimit;
    use crate::capacity::verdict::tests::step;

    fn searched() -> Conclusion {
        crate::capacity::verdict::conclude(
            &[step(1, 100, true), step(2, 350, false)],
            3,
            None,
            false,
        )
    }

    #[test]
    fn refined_steps_raise_the_capacity_and_lower_the_first_failure() {
        let mut conclusion = searched();
        assert_eq!(conclusion.capacity, Some(100));
        apply(
            &mut conclusion,
            &[step(3, 225, true), step(4, 287, true), step(5, 318, false)],
        );
        assert_eq!(conclusion.capacity, Some(287));
        let failure = conclusion.first_failure.expect("a failure");
        assert_eq!((failure.step, failure.clients), (5, 318));
        assert_eq!(failure.broken[0].metric, "connect.failures");
        assert!(
            conclusion
                .stopped
                .ends_with("; refined by 3 more steps: capacity 287, first failure 318"),
            "{}",
            conclusion.stopped
        );
    }

    #[test]
    fn a_tool_limit_while_refining_keeps_what_was_found_before_it() {
        let mut conclusion = searched();
        let mut limited = step(4, 287, false);
        limited.tool_limit = Some(ToolLimit {
            what: "cpu 97% of 2 cores".into(),
            change: "more cores".into(),
        });
        apply(&mut conclusion, &[step(3, 225, true), limited]);
        assert_eq!(conclusion.capacity, Some(225));
        assert_eq!(conclusion.first_failure.map(|f| f.clients), Some(350));
        assert!(
            conclusion
                .stopped
                .contains("refining stopped at step 4 (287 clients)")
        );
    }
}
