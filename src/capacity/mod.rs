//! `wschaos capacity`: raise the client count step by step in one run, judge each step over
//! its own window, and report the last step that held.
//!
//! The steps become the run's `clients.stages` (step k: ramp to its count over `--ramp`, then
//! hold for `--hold`). Each step's window (its ramp and its hold: the step's connects happen
//! in its ramp) is gathered apart by the coordinator and judged when it closes: the thresholds
//! over that window alone, and the tool's own limits. The first step that breaks a threshold,
//! or finds the tool at its limit, ends the run there. Steps the kernel cannot hold (the
//! preflight of `kernel_limits`) are cut from the plan before the run starts.
//!
//! Exit codes: 0 a capacity was found (or every step up to `--max` passed), 1 the first step
//! already failed, 2 bad input, 3 the tool reached its own limit first (no capacity figure),
//! 128 + the signal's number when a signal stopped the search.

mod refine;
pub mod report;
pub mod steps;
pub mod verdict;

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::coordinator::{Judgement, WindowPlan};
use crate::kernel_limits::{self, Layout};
use crate::report::{ScenarioInfo, Threshold, threshold};
use crate::run::{RunError, RunOptions, run_windowed};
use crate::scenario::{self, Scenario, Stage};
use report::{CapacityReport, Plan};
use steps::{Growth, Step};
use verdict::{Conclusion, KernelRefusal, LocalLimits, StepResult, Verdict};

/// `wschaos capacity`'s flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CapacityOptions {
    /// Clients of the first step [default: the scenario's clients.count].
    #[arg(long, value_name = "N")]
    pub start: Option<u32>,
    /// Clients added each step [default: --start].
    #[arg(long, value_name = "N")]
    pub step: Option<u32>,
    /// Or: multiply the clients by F each step (rounded up).
    #[arg(long, value_name = "F", conflicts_with = "step")]
    pub factor: Option<f64>,
    /// Largest step (the last step is this when the growth steps over it) [default: 100
    /// steps].
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// After the search, bisect K more steps between the capacity and the first failure,
    /// each a short run of its own.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub refine: u32,
    /// How long each step holds its count.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::hold_duration)]
    pub hold: Duration,
    /// How long each step takes to ramp to its count.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::cli::ramp_duration)]
    pub ramp: Duration,
    /// Report directory [default: reports/<name>-<UTC timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A threshold checked per step after the scenario's own (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Plan steps the kernel's limits cannot hold anyway (see `run --ignore-kernel-limits`).
    #[arg(long)]
    pub ignore_kernel_limits: bool,
}

/// Why a search could not start.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What a finished search hands back: the exit code and where the report went.
pub struct Searched {
    pub code: u8,
    pub dir: Option<PathBuf>,
}

/// Runs the search for the scenario in `file`.
pub fn search(file: &Path, options: &CapacityOptions) -> Result<Searched, CapacityError> {
    let scenario = scenario::load(file)?;
    let exprs: Vec<String> = scenario
        .thresholds
        .iter()
        .chain(&options.thresholds)
        .cloned()
        .collect();
    if exprs.is_empty() {
        return Err(CapacityError::Input(format!(
            "{}: the scenario has no thresholds: a capacity search needs at least one to judge \
             each step by (add `thresholds:` to the file or pass --threshold EXPR, e.g. \
             --threshold \"heartbeat_rtt.p99 < 50ms\")",
            file.display()
        )));
    }
    let thresholds = parse_thresholds(&scenario.thresholds, &options.thresholds)?;
    let start = options.start.unwrap_or(scenario.clients.count);
    let growth = match (options.step, options.factor) {
        (_, Some(factor)) => Growth::Multiply(factor),
        (Some(step), None) => Growth::Add(step),
        (None, None) => Growth::Add(start),
    };
    let mut counts = steps::counts(start, growth, options.max).map_err(CapacityError::Input)?;
    if options.hold.is_zero() {
        return Err(CapacityError::Input(
            "--hold: expected a duration above zero".into(),
        ));
    }
    let kernel = if options.ignore_kernel_limits {
        None
    } else {
        cut_to_kernel(&scenario, options.ramp, &mut counts)
    };
    let plan = Plan {
        start,
        step: match growth {
            Growth::Add(n) => Some(n),
            Growth::Multiply(_) => None,
        },
        factor: match growth {
            Growth::Multiply(f) => Some(f),
            Growth::Add(_) => None,
        },
        max: options.max,
        ramp_s: options.ramp.as_secs_f64(),
        hold_s: options.hold.as_secs_f64(),
        counts: counts.clone(),
    };
    if counts.is_empty() {
        // Not even the first step fits: there is no run to report.
        let conclusion = verdict::conclude(&[], 0, kernel.as_ref(), false);
        let capacity = CapacityReport {
            conclusion,
            plan,
            thresholds: exprs,
            steps: Vec::new(),
        };
        if !options.quiet {
            print!("{}", report::text_conclusion(&capacity));
        }
        return Ok(Searched {
            code: crate::commands::exit::TOOL_LIMIT,
            dir: None,
        });
    }
    let judging = Judging {
        info: ScenarioInfo {
            name: scenario.name.clone(),
            seed: options.seed.unwrap_or(scenario.seed),
            duration_s: 0.0,
            clients: 0,
            target: String::new(),
            tls_insecure: false,
            compression_offered: false,
            stages: Vec::new(),
            protocol: scenario.target.protocol.name().into(),
        },
        thresholds,
        limits: local_limits(&scenario, counts[0]),
        quiet: options.quiet,
        target: scenario.target.command.is_some(),
    };
    if !options.quiet {
        println!("{}", report::text_header(judging.target));
    }
    let run_options = RunOptions {
        out: options.out.clone(),
        seed: options.seed,
        ignore_kernel_limits: options.ignore_kernel_limits,
        ..RunOptions::default()
    };
    let (mut finished, mut steps) =
        judging.run_steps(&scenario, &counts, 1, options, &run_options)?;
    let mut conclusion: Conclusion = verdict::conclude(
        &steps,
        counts.len(),
        kernel.as_ref(),
        finished.stopped_by.is_some(),
    );
    if options.refine > 0 && finished.stopped_by.is_none() {
        let refined = refine::bisect(
            &judging,
            &scenario,
            &conclusion,
            steps.len(),
            options,
            &finished.dir,
        )?;
        refine::apply(&mut conclusion, &refined);
        steps.extend(refined);
    }
    let code = match conclusion.verdict {
        Verdict::Capacity => crate::commands::exit::OK,
        Verdict::FirstStepFailed => crate::commands::exit::FAILED,
        Verdict::ToolLimit => crate::commands::exit::TOOL_LIMIT,
        Verdict::Interrupted => finished.stopped_by.map_or(
            crate::commands::exit::INTERRUPTED,
            crate::signals::StopSignal::exit_code,
        ),
    };
    let capacity = CapacityReport {
        conclusion,
        plan,
        thresholds: exprs,
        steps,
    };
    if !options.quiet {
        println!();
        print!("{}", report::text_conclusion(&capacity));
        println!("\nreport: {}", finished.dir.display());
    }
    finished.report.capacity = Some(capacity);
    finished.write()?;
    Ok(Searched {
        code,
        dir: Some(finished.dir),
    })
}

/// How steps are judged: the thresholds, what the tool knows of its own limits, and whether
/// each step's line is printed as it closes.
struct Judging {
    info: ScenarioInfo,
    thresholds: Vec<Threshold>,
    limits: LocalLimits,
    quiet: bool,
    /// The target is a `target.command` whose processes are sampled: the table shows them.
    target: bool,
}

impl Judging {
    /// Runs `counts` as consecutive steps of one run (numbered from `first_number`), each
    /// judged as it closes; the run stops at the first step that fails or finds the tool at
    /// its limit. The run's report is left unwritten.
    fn run_steps(
        &self,
        scenario: &Scenario,
        counts: &[u32],
        first_number: usize,
        options: &CapacityOptions,
        run_options: &RunOptions,
    ) -> Result<(crate::run::Finished, Vec<StepResult>), RunError> {
        let schedule = steps::schedule(counts, options.ramp, options.hold);
        let results: Rc<RefCell<Vec<StepResult>>> = Rc::default();
        let judge = {
            let results = results.clone();
            let counts = counts.to_vec();
            let (info, thresholds, limits, quiet, target) = (
                self.info.clone(),
                self.thresholds.clone(),
                self.limits,
                self.quiet,
                self.target,
            );
            move |window: crate::coordinator::ClosedWindow| {
                let planned = counts.get(window.index).copied().unwrap_or(0);
                let number = first_number + window.index;
                let mut step = verdict::judge(window, planned, &info, &thresholds, limits);
                step.step = number;
                if !quiet {
                    println!("{}", report::text_line(&step, target));
                    let _ = std::io::stdout().flush();
                }
                let stop = !step.passed || step.tool_limit.is_some();
                results.borrow_mut().push(step);
                if stop {
                    Judgement::Stop
                } else {
                    Judgement::Continue
                }
            }
        };
        let windows = WindowPlan {
            ends: schedule.iter().map(|s| s.end).collect(),
            judge: Box::new(judge),
        };
        let finished = run_windowed(
            stepped(scenario.clone(), &schedule),
            run_options,
            Some(windows),
        )?;
        let steps = results.take();
        Ok((finished, steps))
    }
}

/// The scenario's thresholds and `--threshold`'s, each error naming where it came from.
fn parse_thresholds(
    from_file: &[String],
    from_flags: &[String],
) -> Result<Vec<Threshold>, CapacityError> {
    let mut all = threshold::parse_all(from_file).map_err(|(i, err)| {
        CapacityError::Input(format!(
            "threshold {:?}: {err} (at offset {})",
            from_file[i], err.offset
        ))
    })?;
    for expr in from_flags {
        let parsed = Threshold::parse(expr).map_err(|err| {
            CapacityError::Input(format!(
                "--threshold {expr:?}: at offset {}: {err}",
                err.offset
            ))
        })?;
        all.push(parsed);
    }
    Ok(all)
}

/// The scenario with `count` clients arriving over `ramp`, as one step alone asks of the host.
fn with_clients(scenario: &Scenario, count: u32, ramp: Duration) -> Scenario {
    let mut one = scenario.clone();
    one.clients.count = count;
    one.clients.stages = vec![Stage::Ramp {
        to: count,
        over: ramp,
    }];
    one
}

/// Cuts `counts` before the first step the kernel-limit preflight refuses, and says which.
/// A step needs more than the one before it, so the largest is checked first and the first
/// refused one found by bisection (each check reads /proc).
fn cut_to_kernel(
    scenario: &Scenario,
    ramp: Duration,
    counts: &mut Vec<u32>,
) -> Option<KernelRefusal> {
    let refusal = |count: u32| {
        let one = with_clients(scenario, count, ramp);
        kernel_limits::preflight(&Layout::of_whole_run(&one, 1)).err()
    };
    let last = *counts.last()?;
    let mut refused = (counts.len() - 1, refusal(last)?);
    // Every step before `fits` fits; `refused.0` is refused.
    let mut fits = 0;
    while fits < refused.0 {
        let mid = fits + (refused.0 - fits) / 2;
        match refusal(counts[mid]) {
            Some(text) => refused = (mid, text),
            None => fits = mid + 1,
        }
    }
    let (index, refusal) = refused;
    let clients = counts[index];
    counts.truncate(index);
    Some(KernelRefusal { clients, refusal })
}

/// The descriptor limit the run will have (the hard one: the run raises its soft limit to it)
/// and what each client takes of it.
fn local_limits(scenario: &Scenario, count: u32) -> LocalLimits {
    let one = with_clients(scenario, count, Duration::ZERO);
    let needs = Layout::of_whole_run(&one, 1).needs();
    let per_client = needs
        .descriptors_per_process
        .saturating_sub(64)
        .div_ceil(u64::from(count.max(1)));
    LocalLimits {
        descriptor_limit: rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(_, hard)| hard),
        descriptors_per_client: per_client.max(1),
    }
}

/// The scenario as the search runs it: the steps as its stages, as long as they take, judged
/// by the steps' windows rather than over the whole run (its own thresholds are left out of
/// the run's report).
fn stepped(mut scenario: Scenario, schedule: &[Step]) -> Scenario {
    scenario.clients.stages = schedule
        .iter()
        .flat_map(|step| {
            [
                Stage::Ramp {
                    to: step.clients,
                    over: step.hold_from - step.ramp_from,
                },
                Stage::Hold(step.end - step.hold_from),
            ]
        })
        .collect();
    scenario.clients.count = scenario::peak(&scenario.clients.stages);
    scenario.duration = schedule.last().map_or(Duration::ZERO, |s| s.end);
    scenario.thresholds.clear();
    scenario
}
