//! `wschaos capacity`: steps of clients in one run, each judged over its own window; the
//! capacity is the last step that held, the tool's own limits are told apart from the
//! target's, and bad input exits 2.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use crate::common::*;
use wschaos::coordinator::{ClosedWindow, Judgement, WindowPlan};
use wschaos::run::{RunOptions, run_windowed};
use wschaos::scenario::{Stage, TargetUrl};

/// Short steps: half a second of ramp, a second of hold.
const SHORT_STEPS: [&str; 4] = ["--ramp", "500ms", "--hold", "1s"];

/// A scenario on the embedded server, at most `max_conns` connections when given, with
/// `thresholds` and `extra` lines. A 50 ms timer puts the send-lag bound at 250 ms, so a busy
/// test machine does not read as the tool's limit.
fn scenario(
    dir: &Path,
    max_conns: Option<u32>,
    thresholds: &[&str],
    extra: &str,
) -> std::path::PathBuf {
    let limit = max_conns.map_or(String::new(), |n| format!(", max_conns: {n}"));
    let thresholds: Vec<String> = thresholds.iter().map(|t| format!("\"{t}\"")).collect();
    let yaml = format!(
        "name: knee\nduration: 10s\nseed: 1\ntarget: {{url: embedded{limit}}}\n\
         clients:\n  count: 100\n  heartbeat: {{interval: 200ms, timeout: 1s}}\n  \
         timer_resolution: 50ms\nthresholds: [{}]\n{extra}",
        thresholds.join(", ")
    );
    scenario_file(dir, "knee.yaml", &yaml)
}

fn capacity(file: &Path, out: &Path) -> Command {
    let mut command = wschaos();
    command
        .arg("capacity")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(SHORT_STEPS);
    command
}

fn steps(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["capacity"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn windows_split_the_run_exactly_at_their_boundaries() {
    // 200 clients arrive over 2 s while three windows close at 0.7 s, 1.4 s and the end:
    // every connect lands in exactly one window, none is lost or counted twice.
    let mut scenario = crate::common::scenario(TargetUrl::Embedded, 200, ms(2500));
    scenario.clients.stages = vec![Stage::Ramp {
        to: 200,
        over: ms(2000),
    }];
    let closed: Rc<RefCell<Vec<ClosedWindow>>> = Rc::default();
    let judge = {
        let closed = closed.clone();
        move |window: ClosedWindow| {
            closed.borrow_mut().push(window);
            Judgement::Continue
        }
    };
    let plan = WindowPlan {
        ends: vec![ms(700), ms(1400), ms(2500)],
        judge: Box::new(judge),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        out: Some(dir.path().join("report")),
        ..RunOptions::default()
    };
    let finished = run_windowed(scenario, &options, Some(plan)).expect("run");
    let windows = closed.take();
    assert_eq!(windows.len(), 3);
    let connects: Vec<u64> = windows
        .iter()
        .map(|w| w.metrics.counters.connects)
        .collect();
    assert_eq!(connects.iter().sum::<u64>(), 200, "{connects:?}");
    // Arrivals are due every 10 ms: 71 by 0.7 s, 70 more by 1.4 s. The boundary's own take
    // gives each window what came before it (the per-second take alone would put the first
    // 0.7 s into the second window); a connect still under way at a boundary goes after it.
    assert!((50..=71).contains(&connects[0]), "{connects:?}");
    assert!((50..=91).contains(&connects[1]), "{connects:?}");
    assert_eq!(finished.report.counters.connects, 200);
    let acks: u64 = windows
        .iter()
        .map(|w| w.metrics.counters.heartbeat_acks)
        .sum();
    assert!(acks > 0 && acks <= finished.report.counters.heartbeat_acks);
    for pair in windows.windows(2) {
        assert!(
            (pair[0].end_s - pair[1].start_s).abs() < 1e-9,
            "windows meet"
        );
        assert_eq!(pair[1].index, pair[0].index + 1);
    }
    assert!((windows[0].end_s - 0.7).abs() < 0.2, "{}", windows[0].end_s);
    assert!(!finished.report.interrupted);
}

#[test]
fn a_target_limited_to_300_connections_has_a_capacity_of_300() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario(
        dir.path(),
        Some(300),
        &["connect.failures == 0", "heartbeat_rtt.p99 < 2s"],
        "",
    );
    let out = dir.path().join("out");
    let (stdout, _) = exits(
        capacity(&file, &out).args(["--start", "100", "--step", "100", "--max", "800"]),
        0,
    );
    assert!(
        stdout.contains("capacity: 300 clients (the last step that passed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("first failure: step 4 (400 clients): connect.failures broke"),
        "{stdout}"
    );
    assert!(stdout.contains("bound == 0"), "{stdout}");
    assert!(
        stdout.contains("stopped: threshold broke at step 4"),
        "{stdout}"
    );
    assert!(!stdout.contains("interrupted"), "{stdout}");

    let report = read_json(&out.join("report.json"));
    let search = &report["capacity"];
    assert_eq!(search["verdict"], "capacity", "{search}");
    assert_eq!(search["capacity"], 300, "{search}");
    assert_eq!(search["reached_max"], false);
    assert_eq!(search["tool_limit"], serde_json::Value::Null);
    let failure = &search["first_failure"];
    assert_eq!(failure["step"], 4, "{failure}");
    assert_eq!(failure["clients"], 400, "{failure}");
    let broken = &failure["broken"][0];
    assert_eq!(broken["metric"], "connect.failures", "{broken}");
    assert_eq!(broken["bound"], "== 0", "{broken}");
    assert!(
        broken["measured"].as_f64().is_some_and(|n| n > 0.0),
        "{broken}"
    );
    // The run stopped at the failing step: the steps after it never ran.
    let steps = steps(&report);
    assert_eq!(steps.len(), 4, "{search}");
    assert_eq!(report["interrupted"], false);
    for (i, step) in steps.iter().enumerate() {
        let planned = 100 * (i as u64 + 1);
        assert_eq!(step["clients_planned"], planned, "{step}");
        assert_eq!(step["passed"], i < 3, "{step}");
    }
    assert_eq!(steps[2]["clients_connected"], 300, "{}", steps[2]);
    assert_eq!(steps[3]["clients_connected"], 300, "{}", steps[3]);
    assert!(steps[2]["connect_failures"] == 0 && steps[3]["connect_failures"] != 0);
    assert!(
        report["elapsed_s"].as_f64().unwrap_or(99.0) < 9.0,
        "{report}"
    );

    assert_report_files(&out);
    let markdown = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(markdown.contains("**CAPACITY: 300 clients**"), "{markdown}");
    assert!(markdown.contains("## Capacity"), "{markdown}");
    assert!(markdown.contains("| 4 | 400 | 300 |"), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("Capacity: heartbeat RTT p99 per step"));
    assert!(html.contains("capacity 300"));
    assert!(html.contains("first failure 400"));
    assert!(html.contains("heartbeat_rtt.p99 &lt; 2s"));
    assert!(
        html.contains("up to 800 planned (8 steps of") && html.contains("stopped after step 4"),
        "{html}"
    );
    assert!(html.contains("Judged per step"), "{html}");
}

#[test]
fn a_serve_max_conns_target_command_shows_its_own_cpu_and_memory_per_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = closed_port().port();
    let yaml = format!(
        "name: served\nduration: 10s\nseed: 1\n\
         target:\n  url: ws://127.0.0.1:{port}/\n  \
         command: [\"{WSCHAOS}\", serve, --port, \"{port}\", --max-conns, \"150\"]\n\
         clients:\n  count: 100\n  heartbeat: {{interval: 200ms, timeout: 1s}}\n  \
         timer_resolution: 50ms\nthresholds: [\"connect.failures == 0\"]\n"
    );
    let file = scenario_file(dir.path(), "served.yaml", &yaml);
    let out = dir.path().join("out");
    let (stdout, _) = exits(
        capacity(&file, &out).args(["--step", "100", "--max", "300"]),
        0,
    );
    assert!(stdout.contains("target cpu  target rss"), "{stdout}");
    assert!(
        stdout.contains("capacity: 100 clients (the last step that passed)"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    let steps = steps(&report);
    assert_eq!(steps.len(), 2, "{report}");
    for step in &steps {
        assert!(
            step["target_rss_kib"].as_u64().is_some_and(|kib| kib > 0),
            "{step}"
        );
        assert!(step["target_cpu_share"].as_f64().is_some(), "{step}");
    }
    let markdown = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        markdown.contains("| target cpu | target rss |"),
        "{markdown}"
    );
}

#[test]
fn refining_bisects_between_the_capacity_and_the_first_failure_in_runs_of_their_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario(dir.path(), Some(300), &["connect.failures == 0"], "");
    let out = dir.path().join("out");
    // Steps of 100 and 350: capacity 100, first failure 350; then 225 (pass), 287 (pass),
    // 318 (fail).
    let (stdout, _) = exits(
        capacity(&file, &out).args([
            "--start", "100", "--step", "250", "--max", "600", "--refine", "3",
        ]),
        0,
    );
    assert!(
        stdout.contains("capacity: 287 clients (the last step that passed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("first failure: step 5 (318 clients)"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    let steps = steps(&report);
    let planned: Vec<u64> = steps
        .iter()
        .map(|s| s["clients_planned"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(planned, vec![100, 350, 225, 287, 318]);
    let passed: Vec<bool> = steps.iter().map(|s| s["passed"] == true).collect();
    assert_eq!(passed, vec![true, false, true, true, false]);
    assert_eq!(report["capacity"]["capacity"], 287);
    assert_eq!(report["capacity"]["first_failure"]["clients"], 318);
    for k in 1..=3 {
        assert_report_files(&out.join(format!("refine-{k}")));
    }
}

#[test]
fn each_step_is_judged_over_its_own_window_so_a_slow_first_step_leaves_the_next_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Step 1 (0-1.5s): every pong 500 ms late from 100 ms to 800 ms; the last late pong is
    // back by 1.3 s, inside step 1. Step 2 (1.5-3s) has no fault.
    let file = scenario(
        dir.path(),
        None,
        &["heartbeat_rtt.p99 < 2s"],
        "faults:\n  - {kind: delay_pongs, at: 100ms, duration: 700ms, delay: 500ms}\n",
    );
    let out = dir.path().join("out");
    let (stdout, _) = exits(
        capacity(&file, &out).args(["--start", "100", "--step", "100", "--max", "200"]),
        0,
    );
    assert!(
        stdout.contains("capacity: at least 200 clients"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    let steps = steps(&report);
    assert_eq!(steps.len(), 2, "{report}");
    let p99 = |step: &serde_json::Value| step["heartbeat_rtt_p99_us"].as_u64().unwrap_or(0);
    // The fault was real: step 1 and the run as a whole saw it...
    assert!(p99(&steps[0]) >= 300_000, "{}", steps[0]);
    let whole_run = report["histograms"]["heartbeat_rtt"]["p99"]
        .as_u64()
        .unwrap_or(0);
    assert!(whole_run >= 300_000, "whole run p99 {whole_run}");
    // ...step 2 did not: its window holds none of step 1's samples.
    assert!(p99(&steps[1]) < 100_000, "{}", steps[1]);
    assert_eq!(steps[1]["passed"], true, "{}", steps[1]);
    let measured = steps[1]["thresholds"][0]["measured"]
        .as_f64()
        .unwrap_or(f64::MAX);
    assert!(measured < 100_000.0, "{}", steps[1]);
}

/// Soft and hard descriptor limit of the child: room for 200 clients of an in-process target
/// (two descriptors each), not for 300.
const NOFILE: u64 = 560;

#[test]
fn a_step_past_the_tools_own_descriptors_is_a_tool_limit_not_a_capacity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario(dir.path(), None, &["connect.failures == 0"], "");
    let steps_of_100 = ["--start", "100", "--step", "100", "--max", "500"];

    // Planned: the kernel-limit preflight cuts the plan before the step of 300.
    let out = dir.path().join("planned");
    let (stdout, _) = exits(
        with_descriptor_limit(&mut capacity(&file, &out), NOFILE).args(steps_of_100),
        3,
    );
    assert!(stdout.contains("TOOL LIMIT REACHED"), "{stdout}");
    assert!(!stdout.contains("capacity: "), "{stdout}");
    assert!(
        stdout.contains("tool limit before the step of 300 clients"),
        "{stdout}"
    );
    assert!(stdout.contains("RLIMIT_NOFILE"), "{stdout}");
    assert!(stdout.contains("ulimit"), "{stdout}");
    let report = read_json(&out.join("report.json"));
    let search = &report["capacity"];
    assert_eq!(search["verdict"], "tool_limit", "{search}");
    assert_eq!(search["capacity"], serde_json::Value::Null, "{search}");
    assert_eq!(search["held_at_least"], 200, "{search}");
    assert_eq!(search["tool_limit"]["clients"], 300, "{search}");
    assert_eq!(search["plan"]["counts"], serde_json::json!([100, 200]));

    // Run anyway: the step of 300 runs out of descriptors, and the tool says it was itself.
    let out = dir.path().join("ran");
    let (stdout, _) = exits(
        with_descriptor_limit(&mut capacity(&file, &out), NOFILE)
            .args(steps_of_100)
            .arg("--ignore-kernel-limits"),
        3,
    );
    assert!(stdout.contains("TOOL LIMIT REACHED"), "{stdout}");
    assert!(
        stdout.contains("tool limit at step 3 (300 clients)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("what to change: descriptors: the limit (RLIMIT_NOFILE) is 560"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    let search = &report["capacity"];
    assert_eq!(search["verdict"], "tool_limit", "{search}");
    assert_eq!(search["capacity"], serde_json::Value::Null, "{search}");
    assert_eq!(search["first_failure"], serde_json::Value::Null, "{search}");
    assert_eq!(search["tool_limit"]["step"], 3, "{search}");
    let steps = steps(&report);
    assert!(
        steps[2]["tool_limit"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("lack of local descriptors or ports"))
    );
}

#[test]
fn a_signal_stops_the_search_as_interrupted_not_as_a_broken_threshold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario(dir.path(), None, &["connect.failures == 0"], "");
    let out = dir.path().join("out");
    let mut command = capacity(&file, &out);
    command.args(["--start", "20", "--step", "20", "--max", "200"]);
    let mut running = spawn(&mut command);
    // Steps end every 1.5 s: the first has closed by 2.5 s on a quiet machine; wait for the
    // report directory (made at the run's start) and a little more.
    assert!(eventually(ms(10_000), || out.exists()));
    std::thread::sleep(ms(2500));
    let (code, _) = running.interrupt(libc::SIGINT, false);
    assert_eq!(code, Some(130));
    let report = read_json(&out.join("report.json"));
    let search = &report["capacity"];
    assert_eq!(report["interrupted"], true);
    assert_eq!(search["verdict"], "interrupted", "{search}");
    assert_eq!(search["capacity"], serde_json::Value::Null, "{search}");
    assert_eq!(search["first_failure"], serde_json::Value::Null, "{search}");
    let stopped = search["stopped"].as_str().unwrap_or("");
    assert!(stopped.starts_with("interrupted after"), "{stopped}");
    assert!(steps(&report).len() < 10, "{search}");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let no_thresholds = scenario_file(
        dir.path(),
        "bare.yaml",
        "name: bare\nduration: 5s\ntarget: {url: embedded}\nclients: {count: 10}\n",
    );
    let out = dir.path().join("out");
    let stderr = refused(&mut capacity(&no_thresholds, &out));
    assert!(
        stderr.contains("the scenario has no thresholds"),
        "{stderr}"
    );
    assert!(stderr.contains("--threshold"), "{stderr}");
    assert!(!out.exists(), "no run, no report");

    let broken = scenario_file(
        dir.path(),
        "broken.yaml",
        "name: broken\nduration: 5s\ntarget: {url: embedded}\nclients: {count: 0}\n",
    );
    let stderr = refused(&mut capacity(&broken, &out));
    assert!(stderr.contains("broken.yaml:4:"), "{stderr}");

    let good = scenario(dir.path(), None, &["connect.failures == 0"], "");
    for (args, says) in [
        (vec!["--factor", "1"], "--factor"),
        (vec!["--start", "0"], "--start"),
        (vec!["--start", "100", "--max", "50"], "--max"),
        (vec!["--step", "10", "--factor", "2"], "cannot be used with"),
        (vec!["--hold", "0s"], "--hold"),
        (vec!["--threshold", "heartbeat_rtt.p99 < 5"], "--threshold"),
    ] {
        let stderr = refused(capacity(&good, &out).args(&args));
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!out.exists(), "no run, no report");
}
