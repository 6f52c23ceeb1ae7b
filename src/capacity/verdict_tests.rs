use super::*;

fn threshold(expr: &str, measured: f64, passed: bool) -> ThresholdResult {
    ThresholdResult {
        expr: expr.into(),
        measured,
        measured_display: format!("{measured}"),
        passed,
    }
}

/// A step with two thresholds, the connect failures one passing or not (also for refine's tests).
pub(crate) fn step(number: usize, clients: u32, passed: bool) -> StepResult {
    StepResult {
        step: number,
        clients_planned: clients,
        clients_connected: u64::from(clients),
        start_s: 0.0,
        end_s: 1.0,
        heartbeat_rtt_p50_us: 100,
        heartbeat_rtt_p99_us: 200,
        connect_time_p99_us: 300,
        errors: 0,
        connect_failures: 0,
        reconnects: 0,
        send_lag_p99_us: 50,
        tool_cpu_share: Some(0.1),
        target_cpu_share: None,
        target_rss_kib: None,
        thresholds: vec![
            threshold("heartbeat_rtt.p99 < 50ms", 200.0, true),
            threshold(
                "connect.failures == 0",
                if passed { 0.0 } else { 12.0 },
                passed,
            ),
        ],
        passed,
        tool_limit: None,
    }
}

fn saturated(mut step: StepResult) -> StepResult {
    step.tool_limit = Some(ToolLimit {
        what: "40 connect attempts failed for lack of local descriptors or ports".into(),
        change: "raise the descriptor limit".into(),
    });
    step
}

#[test]
fn the_capacity_is_the_last_step_that_passed_and_the_failure_names_its_threshold() {
    let steps = [
        step(1, 100, true),
        step(2, 200, true),
        step(3, 300, true),
        step(4, 400, false),
    ];
    let c = conclude(&steps, 6, None, false);
    assert_eq!(c.verdict, Verdict::Capacity);
    assert_eq!(c.capacity, Some(300));
    assert!(!c.reached_max);
    let failure = c.first_failure.expect("a failure");
    assert_eq!((failure.step, failure.clients), (4, 400));
    assert_eq!(failure.broken.len(), 1);
    let broken = &failure.broken[0];
    assert_eq!(broken.metric, "connect.failures");
    assert_eq!(broken.bound, "== 0");
    assert_eq!(broken.measured, 12.0);
    assert!(
        c.stopped
            .starts_with("stopped: threshold broke at step 4 (400 clients): connect.failures == 0"),
        "{}",
        c.stopped
    );
    assert_eq!(c.tool_limit, None);
}

#[test]
fn a_failing_first_step_has_no_capacity() {
    let c = conclude(&[step(1, 100, false)], 5, None, false);
    assert_eq!(c.verdict, Verdict::FirstStepFailed);
    assert_eq!(c.capacity, None);
    assert_eq!(c.first_failure.map(|f| f.step), Some(1));
}

#[test]
fn every_step_passing_up_to_the_plan_makes_the_last_one_the_capacity_at_least() {
    let c = conclude(&[step(1, 100, true), step(2, 200, true)], 2, None, false);
    assert_eq!(c.verdict, Verdict::Capacity);
    assert_eq!(c.capacity, Some(200));
    assert!(c.reached_max);
    assert!(c.stopped.contains("every step passed"), "{}", c.stopped);
}

#[test]
fn the_tool_limit_gives_no_capacity_even_when_thresholds_broke_in_the_same_step() {
    let mut failing = step(3, 300, false);
    failing = saturated(failing);
    let steps = [step(1, 100, true), step(2, 200, true), failing];
    let c = conclude(&steps, 5, None, false);
    assert_eq!(c.verdict, Verdict::ToolLimit);
    assert_eq!(c.capacity, None);
    assert_eq!(c.first_failure, None);
    assert_eq!(c.held_at_least, Some(200));
    let limit = c.tool_limit.expect("a tool limit");
    assert_eq!((limit.step, limit.clients), (Some(3), 300));
    assert!(limit.what.contains("descriptors"), "{}", limit.what);
    assert_eq!(limit.change, "raise the descriptor limit");
    assert!(
        c.stopped.starts_with("tool limit reached at step 3"),
        "{}",
        c.stopped
    );
}

#[test]
fn a_step_the_kernel_cannot_hold_ends_a_passing_search_as_a_tool_limit() {
    let kernel = KernelRefusal {
        clients: 400,
        refusal: "the descriptor limit (RLIMIT_NOFILE) is 512".into(),
    };
    let steps = [step(1, 100, true), step(2, 200, true), step(3, 300, true)];
    let c = conclude(&steps, 3, Some(&kernel), false);
    assert_eq!(c.verdict, Verdict::ToolLimit);
    assert_eq!(c.capacity, None);
    assert_eq!(c.held_at_least, Some(300));
    let limit = c.tool_limit.expect("a tool limit");
    assert_eq!((limit.step, limit.clients), (None, 400));
    assert!(limit.what.contains("RLIMIT_NOFILE"));
    // A threshold that broke before the kernel's limit was reached decides first.
    let steps = [step(1, 100, true), step(2, 200, false)];
    let c = conclude(&steps, 3, Some(&kernel), false);
    assert_eq!(c.verdict, Verdict::Capacity);
    assert_eq!(c.capacity, Some(100));
}

#[test]
fn an_interrupted_search_says_how_far_it_got() {
    let c = conclude(&[step(1, 100, true)], 4, None, true);
    assert_eq!(c.verdict, Verdict::Interrupted);
    assert_eq!(c.capacity, None);
    assert_eq!(c.held_at_least, Some(100));
    assert!(c.stopped.contains("1 of 4 steps"), "{}", c.stopped);
}

#[test]
fn the_descriptor_limit_is_named_when_the_step_needs_more_than_it_allows() {
    let limits = LocalLimits {
        descriptor_limit: Some(256),
        descriptors_per_client: 2,
    };
    let text = local_change(400, limits);
    assert!(
        text.starts_with("descriptors: the limit (RLIMIT_NOFILE) is 256"),
        "{text}"
    );
    assert!(text.contains("ulimit -n 864"), "{text}");
    let roomy = LocalLimits {
        descriptor_limit: Some(1 << 20),
        descriptors_per_client: 2,
    };
    assert!(local_change(400, roomy).starts_with("local ports or descriptors"));
}
