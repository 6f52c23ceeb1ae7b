//! Self-diagnosis: every report says whether the load generator itself was the bottleneck
//! (`load_generator` in report.json, the per-second `tool_cpu_share`, `tool.saturated`).

use crate::common::*;

const NOT_SATURATED: &str = "tool.saturated == 0";
const HEADLINE: &str = "LOAD GENERATOR SATURATED";

#[test]
fn a_small_run_is_not_saturated_and_reports_its_cpu() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A 10 ms timer puts the send-lag bound at 50 ms: a busy test machine does not trip it.
    let file = embedded_scenario_file(
        dir.path(),
        "calm",
        "2s",
        5,
        "seed: 1\nthresholds: [\"tool.cpu_max <= 100%\"]\n",
    );
    let yaml = std::fs::read_to_string(&file)
        .expect("scenario")
        .replace("timeout: 400ms}", "timeout: 400ms}, timer_resolution: 10ms");
    std::fs::write(&file, yaml).expect("write scenario");
    let out = dir.path().join("out");
    let (stdout, _) = exits(
        run_command(&file, &out).args(["--threshold", NOT_SATURATED]),
        0,
    );
    assert!(!stdout.contains(HEADLINE), "{stdout}");
    assert!(
        stdout.contains("PASS tool.saturated == 0 (measured 0)"),
        "{stdout}"
    );

    let report = read_json(&out.join("report.json"));
    let tool = &report["load_generator"];
    assert_eq!(tool["saturated"], false, "{tool}");
    assert_eq!(tool["reasons"].as_array().map(Vec::len), Some(0), "{tool}");
    assert!(tool["cores"].as_u64().unwrap_or(0) >= 1, "{tool}");
    assert!(tool["cpu_s"].as_f64().is_some_and(|s| s > 0.0), "{tool}");
    let max = tool["cpu_max_share"].as_f64().expect("a busiest second");
    assert!((0.0..0.9).contains(&max), "{tool}");
    assert_eq!(tool["send_lag_bound_us"], 50_000, "{tool}");
    assert!(tool["send_lag_p99_us"].as_u64().is_some_and(|us| us > 0));
    let timeline = report["timeline"].as_array().expect("timeline");
    assert!(!timeline.is_empty());
    for point in timeline {
        assert!(point["tool_cpu_share"].as_f64().is_some(), "{point}");
    }
    assert_eq!(report["counters"]["connect_failures_local"], 0);

    let markdown = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(!markdown.contains(HEADLINE));
    assert!(markdown.contains("## Load generator"), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(!html.contains(HEADLINE));
    assert!(html.contains("Load generator CPU per second"));
}

/// Soft and hard descriptor limit of the child: below what 200 clients need, so wschaos (which
/// raises its soft limit to the hard one) runs out of descriptors itself.
const NOFILE: u64 = 64;

#[test]
fn running_out_of_descriptors_saturates_the_tool_and_fails_the_threshold() {
    let server = TestServer::start(Behaviour::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "name: starved\nduration: 2s\nseed: 1\ntarget: {{url: \"ws://{}/\"}}\n\
         clients: {{count: 200, heartbeat: {{interval: 200ms, timeout: 400ms}}}}\n",
        server.addr
    );
    let file = scenario_file(dir.path(), "starved.yaml", &yaml);
    let out = dir.path().join("out");
    let mut command = run_command(&file, &out);
    // The kernel-capacity preflight would refuse the run (tests/it/kernel_limits.rs): this
    // test is about what running out looks like.
    command.args(["--threshold", NOT_SATURATED, "--ignore-kernel-limits"]);
    with_descriptor_limit(&mut command, NOFILE);
    let (stdout, _) = exits(&mut command, 1);
    assert!(stdout.contains(HEADLINE), "{stdout}");
    assert!(
        stdout.contains("FAIL tool.saturated == 0 (measured 1)"),
        "{stdout}"
    );

    let report = read_json(&out.join("report.json"));
    let counters = &report["counters"];
    let local = counters["connect_failures_local"].as_u64().unwrap_or(0);
    assert!(local > 0, "{counters}");
    assert!(
        local <= counters["connect_failures"].as_u64().unwrap_or(0),
        "{counters}"
    );
    let tool = &report["load_generator"];
    assert_eq!(tool["saturated"], true, "{tool}");
    assert_eq!(tool["connect_failures_local"], local, "{tool}");
    let reasons = tool["reasons"].as_array().expect("reasons");
    assert!(
        reasons.iter().any(|r| r["rule"] == "local_resources"),
        "{tool}"
    );
    let markdown = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(markdown.contains(HEADLINE), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains(HEADLINE));
}
