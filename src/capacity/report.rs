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

/// Column titles of the step table.
pub const COLUMNS: [&str; 12] = [
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

/// The cells of one step's row, under [`COLUMNS`].
pub fn cells(step: &StepResult) -> [String; 12] {
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

/// Column widths of the terminal table (the last column is not padded).
const WIDTHS: [usize; 11] = [4, 8, 9, 8, 8, 11, 6, 9, 10, 12, 8];

fn text_row(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        match WIDTHS.get(i) {
            Some(width) => {
                let _ = write!(line, "{cell:>width$}  ");
            }
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_string()
}

/// The terminal table's header line.
pub fn text_header() -> String {
    text_row(&COLUMNS.map(String::from))
}

/// One step's line of the terminal table.
pub fn text_line(step: &StepResult) -> String {
    text_row(&cells(step))
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
    let mut out = text_header();
    out.push('\n');
    for step in &report.steps {
        out.push_str(&text_line(step));
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

/// The `## Capacity` section of `summary.md`: the plan, the step table, the conclusion.
pub fn markdown(report: &CapacityReport) -> String {
    let mut out = String::new();
    let p = &report.plan;
    let growth = match (p.step, p.factor) {
        (Some(step), _) => format!("+{step} a step"),
        (_, Some(factor)) => format!("x{factor} a step"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "## Capacity\n\nSteps from {} clients, {growth}, up to {}: each ramps over {}s and holds \
         {}s; each step is judged over its own ramp and hold.\n",
        p.start,
        p.counts.last().copied().unwrap_or(p.start),
        p.ramp_s,
        p.hold_s
    );
    let _ = writeln!(out, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(COLUMNS.len() - 1) + "---|");
    for step in &report.steps {
        let cells = cells(step).map(|c| c.replace('|', "\\|"));
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
