//! The `capacity` section of `report.json` and the step table, as the terminal and
//! `summary.md` show it.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::verdict::{Conclusion, StepResult, Verdict};
use crate::report::human_us;

/// `capacity` in `report.json`: the plan, every step judged, and the conclusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    #[serde(flatten)]
    pub conclusion: Conclusion,
    pub plan: Plan,
    /// Every threshold the steps were judged by (scenario file first, then `--threshold`).
    pub thresholds: Vec<String>,
    pub steps: Vec<StepResult>,
}

/// How the search was laid out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub start: u32,
    /// `--step`, when the steps add clients.
    pub step: Option<u32>,
    /// `--factor`, when they multiply them.
    pub factor: Option<f64>,
    pub max: Option<u32>,
    pub ramp_s: f64,
    pub hold_s: f64,
    /// The client count of every step planned (cut before a step the kernel cannot hold).
    pub counts: Vec<u32>,
}

/// Column titles of the step table (the target's columns go before `result` when the target
/// is sampled).
const COLUMNS: [&str; 12] = [
    "step",
    "clients",
    "connected",
    "rtt p50",
    "rtt p99",
    "connect p99",
    "errors",
    "conn fail",
    "reconnects",
    "send lag p99",
    "tool cpu",
    "result",
];

/// Columns of the target's own figures (a sampled `target.command`).
const TARGET_COLUMNS: [&str; 2] = ["target cpu", "target rss"];

/// True when some step has the target's own figures.
pub fn has_target(steps: &[StepResult]) -> bool {
    steps
        .iter()
        .any(|s| s.target_cpu_share.is_some() || s.target_rss_kib.is_some())
}

/// The column titles, with the target's when `target`.
pub fn columns(target: bool) -> Vec<&'static str> {
    let mut columns = COLUMNS.to_vec();
    if target {
        columns.splice(COLUMNS.len() - 1..COLUMNS.len() - 1, TARGET_COLUMNS);
    }
    columns
}

/// The cells of one step's row, under [`columns`].
pub fn cells(step: &StepResult, target: bool) -> Vec<String> {
    let mut cells = fixed_cells(step).to_vec();
    if target {
        let share = |s: Option<f64>| s.map_or_else(|| "-".into(), |s| format!("{:.0}%", s * 100.0));
        let rss = step.target_rss_kib.map_or_else(
            || "-".into(),
            |kib| format!("{:.1}MiB", kib as f64 / 1024.0),
        );
        cells.splice(
            cells.len() - 1..cells.len() - 1,
            [share(step.target_cpu_share), rss],
        );
    }
    cells
}

fn fixed_cells(step: &StepResult) -> [String; 12] {
    let result = if step.tool_limit.is_some() {
        "TOOL LIMIT".to_string()
    } else if step.passed {
        "pass".to_string()
    } else {
        let broken: Vec<String> = step
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("{} ({})", t.expr, t.measured_display))
            .collect();
        format!("FAIL {}", broken.join(", "))
    };
    [
        step.step.to_string(),
        step.clients_planned.to_string(),
        step.clients_connected.to_string(),
        human_us(step.heartbeat_rtt_p50_us),
        human_us(step.heartbeat_rtt_p99_us),
        human_us(step.connect_time_p99_us),
        step.errors.to_string(),
        step.connect_failures.to_string(),
        step.reconnects.to_string(),
        human_us(step.send_lag_p99_us),
        step.tool_cpu_share
            .map_or_else(|| "-".into(), |s| format!("{:.0}%", s * 100.0)),
        result,
    ]
}

/// Column widths of the terminal table (the last column is not padded): as wide as the title
/// and at least 4.
fn text_row(cells: &[String], target: bool) -> String {
    let titles = columns(target);
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            line.push_str(cell);
        } else {
            let width = titles.get(i).map_or(4, |t| t.len().max(6));
            let _ = write!(line, "{cell:>width$}  ");
        }
    }
    line.trim_end().to_string()
}

/// The terminal table's header line (with the target's columns when `target`).
pub fn text_header(target: bool) -> String {
    let titles: Vec<String> = columns(target).into_iter().map(String::from).collect();
    text_row(&titles, target)
}

/// One step's line of the terminal table.
pub fn text_line(step: &StepResult, target: bool) -> String {
    text_row(&cells(step, target), target)
}

/// The conclusion in a few lines for the terminal (after the table).
pub fn text_conclusion(report: &CapacityReport) -> String {
    let c = &report.conclusion;
    let mut out = String::new();
    match c.verdict {
        Verdict::Capacity if c.reached_max => {
            let _ = writeln!(
                out,
                "capacity: at least {} clients (every step up to --max passed)",
                c.capacity.unwrap_or(0)
            );
        }
        Verdict::Capacity => {
            let _ = writeln!(
                out,
                "capacity: {} clients (the last step that passed)",
                c.capacity.unwrap_or(0)
            );
        }
        Verdict::FirstStepFailed => {
            let _ = writeln!(out, "capacity: none: the first step already failed");
        }
        Verdict::ToolLimit => {
            let _ = writeln!(
                out,
                "TOOL LIMIT REACHED: no capacity figure (the tool ran out before the target)"
            );
        }
        Verdict::Interrupted => {
            let _ = writeln!(out, "capacity: none: the search was interrupted");
        }
    }
    if let Some(failure) = &c.first_failure {
        for broken in &failure.broken {
            let _ = writeln!(
                out,
                "first failure: step {} ({} clients): {} broke: measured {}, bound {}",
                failure.step, failure.clients, broken.metric, broken.measured_display, broken.bound
            );
        }
    }
    if let Some(limit) = &c.tool_limit {
        let at = match limit.step {
            Some(step) => format!("at step {step} ({} clients)", limit.clients),
            None => format!("before the step of {} clients", limit.clients),
        };
        let _ = writeln!(out, "tool limit {at}: {}", limit.what);
        let _ = writeln!(out, "what to change: {}", limit.change);
    }
    if let Some(held) = c.held_at_least {
        let _ = writeln!(out, "the target held at least {held} clients meanwhile");
    }
    // A tool limit has said where it stopped already.
    if c.verdict != Verdict::ToolLimit {
        let _ = writeln!(out, "{}", c.stopped);
    }
    out
}

/// The terminal output of a finished search: table and conclusion.
pub fn text(report: &CapacityReport) -> String {
    let target = has_target(&report.steps);
    let mut out = text_header(target);
    out.push('\n');
    for step in &report.steps {
        out.push_str(&text_line(step, target));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&text_conclusion(report));
    out
}

/// The verdict line of `summary.md`.
pub fn markdown_verdict(report: &CapacityReport) -> String {
    let c = &report.conclusion;
    match c.verdict {
        Verdict::Capacity if c.reached_max => format!(
            "**CAPACITY: at least {} clients** (every step up to --max passed)",
            c.capacity.unwrap_or(0)
        ),
        Verdict::Capacity => format!(
            "**CAPACITY: {} clients**: {}",
            c.capacity.unwrap_or(0),
            c.stopped
        ),
        Verdict::FirstStepFailed => format!("**NO CAPACITY**: {}", c.stopped),
        Verdict::ToolLimit => format!("**TOOL LIMIT REACHED** (no capacity figure): {}", c.stopped),
        Verdict::Interrupted => format!("**INTERRUPTED**: {}", c.stopped),
    }
}

/// How the steps grow: `+500 a step` or `x2 a step`.
fn growth(plan: &Plan) -> String {
    match (plan.step, plan.factor) {
        (Some(step), _) => format!("+{step} a step"),
        (_, Some(factor)) => format!("x{factor} a step"),
        _ => String::new(),
    }
}

/// The steps of the search's own run, in order (the refining runs come after them, each in a
/// run of its own, and sit between two planned counts).
fn run_steps(report: &CapacityReport) -> usize {
    report
        .steps
        .iter()
        .zip(&report.plan.counts)
        .take_while(|(step, planned)| step.clients_planned == **planned)
        .count()
}

/// The header of a capacity run's report: what was planned against what ran, so that the
/// plan's largest count is never read as the clients that ran.
pub fn header(report: &CapacityReport, target: &str, elapsed_s: f64) -> String {
    let p = &report.plan;
    let planned = p.counts.len();
    let mut out = format!(
        "capacity search against {target}: steps from {} clients, {}, up to {} planned \
         ({planned} steps of {}s ramp and {}s hold)",
        p.start,
        growth(p),
        p.counts.last().copied().unwrap_or(p.start),
        p.ramp_s,
        p.hold_s
    );
    let ran = run_steps(report);
    let _ = match report.steps.get(ran.wrapping_sub(1)) {
        _ if ran == planned && planned > 0 => {
            write!(out, "; all {planned} steps ran, in {elapsed_s:.1}s")
        }
        Some(last) => write!(
            out,
            "; stopped after step {ran} ({} clients) at {elapsed_s:.1}s",
            last.clients_planned
        ),
        None => write!(out, "; stopped before step 1 closed, at {elapsed_s:.1}s"),
    };
    let refining = report.steps.len() - ran;
    if refining > 0 {
        let runs = if refining == 1 { "run" } else { "runs" };
        let _ = write!(out, "; then {refining} refining {runs}");
    }
    out
}

/// The `## Capacity` section of `summary.md`: the plan, the step table, the conclusion.
pub fn markdown(report: &CapacityReport) -> String {
    let mut out = String::new();
    let p = &report.plan;
    let growth = growth(p);
    let _ = writeln!(
        out,
        "## Capacity\n\nSteps from {} clients, {growth}, up to {}: each ramps over {}s and holds \
         {}s; each step is judged over its own ramp and hold.\n",
        p.start,
        p.counts.last().copied().unwrap_or(p.start),
        p.ramp_s,
        p.hold_s
    );
    let target = has_target(&report.steps);
    let titles = columns(target);
    let _ = writeln!(out, "| {} |", titles.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(titles.len() - 1) + "---|");
    for step in &report.steps {
        let cells: Vec<String> = cells(step, target)
            .into_iter()
            .map(|c| c.replace('|', "\\|"))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    for line in text_conclusion(report).lines() {
        let _ = writeln!(out, "- {}", line.replace('|', "\\|"));
    }
    out.push('\n');
    if !report.thresholds.is_empty() {
        let _ = writeln!(out, "Thresholds (per step):\n");
        for t in &report.thresholds {
            let _ = writeln!(out, "- `{t}`");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "report_tests.rs"]
pub(crate) mod tests;
