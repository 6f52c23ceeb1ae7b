//! Judging a capacity search: each step's window against the thresholds and the tool's own
//! limits (its figures say nothing of the target once the tool is the bottleneck), and the
//! search's conclusion from the steps judged.

use serde::{Deserialize, Serialize};

use crate::coordinator::ClosedWindow;
use crate::report::{
    LoadGenerator, Report, RunRecord, ScenarioInfo, TargetRecord, Threshold, ThresholdResult,
};

/// One step, judged over its own window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// 1-based.
    pub step: usize,
    pub clients_planned: u32,
    /// Connections open when the step ended.
    pub clients_connected: u64,
    /// The step's window, seconds since the run started (its ramp and its hold).
    pub start_s: f64,
    pub end_s: f64,
    pub heartbeat_rtt_p50_us: u64,
    pub heartbeat_rtt_p99_us: u64,
    pub connect_time_p99_us: u64,
    /// Connect failures and lost connections (every cause).
    pub errors: u64,
    pub connect_failures: u64,
    pub reconnects: u64,
    /// Heartbeats and messages.
    pub send_lag_p99_us: u64,
    /// The tool's CPU over the window, as a share of its cores (0..1).
    pub tool_cpu_share: Option<f64>,
    /// A `target.command`'s CPU over the window (the mean of its seconds), as a share of the
    /// machine's cores (0..1); absent when the target is not sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_share: Option<f64>,
    /// A `target.command`'s resident memory at the window's last sampled second, in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rss_kib: Option<u64>,
    /// The thresholds, evaluated over this window only.
    pub thresholds: Vec<ThresholdResult>,
    pub passed: bool,
    /// Set when the tool itself was the bottleneck in this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_limit: Option<ToolLimit>,
}

/// The tool ran out of something: what, and what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLimit {
    pub what: String,
    pub change: String,
}

/// A threshold a step broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broken {
    pub expr: String,
    /// The metric as written (`heartbeat_rtt.p99`).
    pub metric: String,
    /// The comparison and limit as written (`< 50ms`).
    pub bound: String,
    /// In the metric's base unit (microseconds, a count, a ratio).
    pub measured: f64,
    pub measured_display: String,
}

impl Broken {
    pub fn of(result: &ThresholdResult) -> Self {
        let split = result
            .expr
            .find(['<', '>', '=', '!'])
            .unwrap_or(result.expr.len());
        Self {
            expr: result.expr.clone(),
            metric: result.expr[..split].trim().to_string(),
            bound: result.expr[split..].trim().to_string(),
            measured: result.measured,
            measured_display: result.measured_display.clone(),
        }
    }
}

/// What the tool has to go on when it names a local limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalLimits {
    /// The process's descriptor limit (soft), when known.
    pub descriptor_limit: Option<u64>,
    /// Descriptors each client takes in this process (two with an in-process target, more
    /// through the chaos proxy).
    pub descriptors_per_client: u64,
}

/// Judges one step's window: the thresholds over it, and whether the tool held up.
pub fn judge(
    window: ClosedWindow,
    clients_planned: u32,
    info: &ScenarioInfo,
    thresholds: &[Threshold],
    limits: LocalLimits,
) -> StepResult {
    let duration_s = (window.end_s - window.start_s).max(f64::EPSILON);
    let tool_cpu_share = window
        .tool
        .cpu_s
        .map(|cpu| cpu / (duration_s * f64::from(window.tool.cores.max(1))));
    let target_shares: Vec<f64> = window
        .timeline
        .iter()
        .filter_map(|p| p.target_cpu_share)
        .collect();
    let target_cpu_share = (!target_shares.is_empty())
        .then(|| target_shares.iter().sum::<f64>() / target_shares.len() as f64);
    let target_rss_kib = window.timeline.iter().rev().find_map(|p| p.target_rss_kib);
    // The target's figures per window, from its seconds in the window (each about a second).
    let target = (target_cpu_share.is_some() || target_rss_kib.is_some()).then(|| TargetRecord {
        sampled: "target.command".into(),
        cpu_s: target_shares.iter().sum::<f64>() * f64::from(window.tool.cores.max(1)),
    });
    let record = RunRecord {
        target,
        totals: window.metrics,
        timeline: window.timeline,
        faults: window.faults,
        heartbeat_rtt_intervals: Vec::new(),
        elapsed_s: duration_s,
        all_connected_s: None,
        interrupted: false,
        tool: window.tool,
    };
    let mut report = Report::new(
        ScenarioInfo {
            clients: clients_planned,
            duration_s,
            ..info.clone()
        },
        String::new(),
        record,
        None,
    );
    report.evaluate(thresholds);
    let hist = |name: &str, stat: fn(&crate::report::HistogramSummary) -> u64| {
        report.histograms.get(name).map_or(0, stat)
    };
    let c = &report.counters;
    let tool_limit = report
        .load_generator
        .as_ref()
        .filter(|tool| tool.saturated)
        .map(|tool| tool_limit(tool, clients_planned, limits));
    StepResult {
        step: window.index + 1,
        clients_planned,
        // The next step's first arrival is due at this one's end: it may be open already.
        clients_connected: window.open_connections.min(u64::from(clients_planned)),
        start_s: window.start_s,
        end_s: window.end_s,
        heartbeat_rtt_p50_us: hist("heartbeat_rtt", |h| h.p50),
        heartbeat_rtt_p99_us: hist("heartbeat_rtt", |h| h.p99),
        connect_time_p99_us: hist("connect_time", |h| h.p99),
        errors: c.connect_failures + c.disconnects(),
        connect_failures: c.connect_failures,
        reconnects: c.reconnects,
        send_lag_p99_us: hist("send_lag_heartbeat", |h| h.p99)
            .max(hist("send_lag_message", |h| h.p99)),
        tool_cpu_share,
        target_cpu_share,
        target_rss_kib,
        passed: report.thresholds_hold(),
        thresholds: report.thresholds,
        tool_limit,
    }
}

/// What ran out in a saturated window, and what to change, rule by rule.
fn tool_limit(tool: &LoadGenerator, clients: u32, limits: LocalLimits) -> ToolLimit {
    let mut what = Vec::new();
    let mut change = Vec::new();
    for reason in &tool.reasons {
        what.push(reason.detail.clone());
        change.push(match reason.rule.as_str() {
            "local_resources" => local_change(clients, limits),
            "cpu" => "give the tool more cores: run the target on another machine (an embedded \
                      target shares the tool's process), or split the clients over processes \
                      or machines (`wschaos run --procs N` or `--shard i/n` at this count)"
                .to_string(),
            _ => "the tool could not send on time: fewer clients per process (`--procs N` or \
                  `--shard i/n`), more cores, or a coarser clients.timer_resolution"
                .to_string(),
        });
    }
    change.dedup();
    ToolLimit {
        what: what.join("; "),
        change: change.join("; "),
    }
}

/// Out of descriptors or of local ports: the descriptor limit is the suspect when the step
/// needs more than it allows.
fn local_change(clients: u32, limits: LocalLimits) -> String {
    let needed = u64::from(clients) * limits.descriptors_per_client.max(1) + 64;
    match limits.descriptor_limit {
        Some(limit) if limit < needed => format!(
            "descriptors: the limit (RLIMIT_NOFILE) is {limit} and {clients} clients need about \
             {needed}: raise it before the search (`ulimit -n {needed}`, up to `ulimit -Hn`) \
             or spread the clients over processes (`wschaos run --procs N`)"
        ),
        _ => "local ports or descriptors: spread the clients over more local addresses \
              (clients.source_ips: 127.0.0.2, 127.0.0.3, ...), widen \
              net.ipv4.ip_local_port_range, or raise the descriptor limit (`ulimit -n`, \
              fs.file-max)"
            .to_string(),
    }
}

/// The thresholds `step` broke.
pub fn broken(step: &StepResult) -> Vec<Broken> {
    step.thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(Broken::of)
        .collect()
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A step broke a threshold after at least one passed (or every step up to `--max`
    /// passed): the capacity is the last step that passed.
    Capacity,
    /// The first step already broke a threshold.
    FirstStepFailed,
    /// The tool ran out before the target did: no capacity figure.
    ToolLimit,
    /// Stopped by a signal before a step broke a threshold.
    Interrupted,
}

/// Where the tool's limit was met: a step it ran in, or one the kernel cannot hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLimitAt {
    /// The step (1-based) whose window showed it; `None`: the kernel-limit preflight refused
    /// the step before the search got there.
    pub step: Option<usize>,
    pub clients: u32,
    pub what: String,
    pub change: String,
}

/// A step that broke a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub step: usize,
    pub clients: u32,
    pub broken: Vec<Broken>,
}

/// The search's conclusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conclusion {
    pub verdict: Verdict,
    /// The last step that passed: the capacity (`None` unless the verdict is `capacity`).
    pub capacity: Option<u32>,
    /// Every planned step passed: the capacity is at least `--max`.
    pub reached_max: bool,
    pub first_failure: Option<Failure>,
    pub tool_limit: Option<ToolLimitAt>,
    /// Without a capacity figure: the most clients a step held before the search stopped.
    pub held_at_least: Option<u32>,
    /// One line for people: why the search stopped where it did.
    pub stopped: String,
}

/// The step the kernel-limit preflight refused (the plan was cut before it): its clients and
/// the refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRefusal {
    pub clients: u32,
    pub refusal: String,
}

/// Concludes a search from its judged steps (in order), the number of steps planned, the step
/// the kernel refused if the plan was cut, and whether a signal stopped it.
pub fn conclude(
    steps: &[StepResult],
    planned: usize,
    kernel: Option<&KernelRefusal>,
    interrupted: bool,
) -> Conclusion {
    let passed_before = |i: usize| {
        steps[..i]
            .iter()
            .rev()
            .find(|s| s.passed)
            .map(|s| s.clients_planned)
    };
    let mut conclusion = Conclusion {
        verdict: Verdict::Capacity,
        capacity: None,
        reached_max: false,
        first_failure: None,
        tool_limit: None,
        held_at_least: None,
        stopped: String::new(),
    };
    for (i, step) in steps.iter().enumerate() {
        if let Some(limit) = &step.tool_limit {
            conclusion.verdict = Verdict::ToolLimit;
            conclusion.held_at_least = passed_before(i);
            conclusion.tool_limit = Some(ToolLimitAt {
                step: Some(step.step),
                clients: step.clients_planned,
                what: limit.what.clone(),
                change: limit.change.clone(),
            });
            conclusion.stopped = format!(
                "tool limit reached at step {} ({} clients): {}",
                step.step, step.clients_planned, limit.what
            );
            return conclusion;
        }
        if !step.passed {
            let broken = broken(step);
            let names: Vec<String> = broken
                .iter()
                .map(|b| format!("{} (measured {})", b.expr, b.measured_display))
                .collect();
            conclusion.stopped = format!(
                "stopped: threshold broke at step {} ({} clients): {}",
                step.step,
                step.clients_planned,
                names.join(", ")
            );
            conclusion.first_failure = Some(Failure {
                step: step.step,
                clients: step.clients_planned,
                broken,
            });
            match passed_before(i) {
                Some(capacity) => conclusion.capacity = Some(capacity),
                None => conclusion.verdict = Verdict::FirstStepFailed,
            }
            return conclusion;
        }
    }
    let last = steps.last().map(|s| s.clients_planned);
    if interrupted || steps.len() < planned {
        conclusion.verdict = Verdict::Interrupted;
        conclusion.held_at_least = last;
        conclusion.stopped = format!(
            "interrupted after {} of {planned} steps, before any threshold broke",
            steps.len()
        );
        return conclusion;
    }
    if let Some(kernel) = kernel {
        conclusion.verdict = Verdict::ToolLimit;
        conclusion.held_at_least = last;
        conclusion.tool_limit = Some(ToolLimitAt {
            step: None,
            clients: kernel.clients,
            what: kernel.refusal.clone(),
            change: "see the limit above: raise it, or spread the clients over processes or \
                     machines"
                .into(),
        });
        conclusion.stopped = format!(
            "tool limit reached: this host cannot hold a step of {} clients (kernel-limit \
             preflight)",
            kernel.clients
        );
        return conclusion;
    }
    conclusion.capacity = last;
    conclusion.reached_max = true;
    conclusion.stopped = match last {
        Some(last) => format!("every step passed, up to {last} clients (--max)"),
        None => "no step ran".into(),
    };
    conclusion
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
pub(super) mod tests;
