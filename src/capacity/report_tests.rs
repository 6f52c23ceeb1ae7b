//! The capacity report's header, and `search`: a judged search for the report renderers' tests.
use super::*;
use crate::capacity::verdict::conclude;
use crate::report::ThresholdResult;

/// Step `number` of `clients`, its RTTs well under the 100ms limit of [`search`]'s thresholds,
/// passing or breaking `connect.failures == 0`.
pub(crate) fn step(number: usize, clients: u32, passed: bool) -> StepResult {
    let start_s = 35.0 * (number - 1) as f64;
    StepResult {
        step: number,
        clients_planned: clients,
        clients_connected: u64::from(clients),
        start_s,
        end_s: start_s + 35.0,
        heartbeat_rtt_p50_us: 250,
        heartbeat_rtt_p99_us: 350,
        connect_time_p99_us: 900,
        errors: 0,
        connect_failures: if passed { 0 } else { 7 },
        reconnects: 0,
        send_lag_p99_us: 50,
        tool_cpu_share: Some(0.1),
        target_cpu_share: None,
        target_rss_kib: None,
        thresholds: vec![ThresholdResult {
            expr: "connect.failures == 0".into(),
            measured: if passed { 0.0 } else { 7.0 },
            measured_display: if passed { "0" } else { "7" }.into(),
            passed,
        }],
        passed,
        tool_limit: None,
    }
}

/// A search planned from 500 clients, +500 a step, up to 9500 (19 steps of 5s and 30s), whose
/// first `passed` steps pass and the next one (if `passed < 19`) breaks a threshold.
pub(crate) fn search(passed: usize) -> CapacityReport {
    let counts: Vec<u32> = (1..=19).map(|n| 500 * n).collect();
    let steps: Vec<StepResult> = counts
        .iter()
        .take(passed + 1)
        .enumerate()
        .map(|(i, clients)| step(i + 1, *clients, i < passed))
        .collect();
    CapacityReport {
        conclusion: conclude(&steps, counts.len(), None, false),
        plan: Plan {
            start: 500,
            step: Some(500),
            factor: None,
            max: Some(9500),
            ramp_s: 5.0,
            hold_s: 30.0,
            counts,
        },
        thresholds: vec![
            "connect.failures == 0".into(),
            "heartbeat_rtt.p99 < 100ms".into(),
        ],
        steps,
    }
}

#[test]
fn the_header_says_what_was_planned_and_where_the_search_stopped() {
    assert_eq!(
        header(&search(2), "embedded", 105.04),
        "capacity search against embedded: steps from 500 clients, +500 a step, up to 9500 \
         planned (19 steps of 5s ramp and 30s hold); stopped after step 3 (1500 clients) at 105.0s"
    );
}

#[test]
fn the_header_counts_refining_runs_apart_and_says_when_every_step_ran() {
    let mut refined = search(2);
    refined.steps.push(step(4, 1250, true));
    refined.steps.push(step(5, 1375, false));
    let refined = header(&refined, "embedded", 105.0);
    assert!(
        refined.ends_with("; stopped after step 3 (1500 clients) at 105.0s; then 2 refining runs"),
        "{refined}"
    );

    let all = header(&search(19), "ws://127.0.0.1:1/", 665.2);
    assert!(all.ends_with("; all 19 steps ran, in 665.2s"), "{all}");

    let mut none = search(0);
    none.steps.clear();
    let none = header(&none, "embedded", 3.0);
    assert!(
        none.ends_with("; stopped before step 1 closed, at 3.0s"),
        "{none}"
    );
}
