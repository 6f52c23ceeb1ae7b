//! Thresholds through the real binary: a passing set exits 0, an impossible one exits 1 with a
//! JUnit failure, a malformed one exits 2 naming its position.

use tempfile::TempDir;

use crate::common::*;

const TINY: &str = "name: tiny\nseed: 3\nduration: 1s\ntarget: {url: embedded}\n\
clients: {count: 10, heartbeat: {interval: 200ms, timeout: 400ms}}\n\
thresholds:\n  - \"clients.gave_up == 0\"\n  - \"heartbeat.delivered_ratio > 50%\"\n  - \"heartbeat_rtt.p99 < 10s\"\n";

/// Runs `TINY` with `args` added; it must exit with `code`. Returns the directory (the report is
/// in `out/`), stdout, and junit.xml, which must count `tests` cases and `failures` failures.
fn run_tiny(args: &[&str], code: i32, tests: u32, failures: u32) -> (TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    let (stdout, _) = exits(run_command(&file, &dir.path().join("out")).args(args), code);
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).expect("junit.xml");
    assert!(junit.contains(&format!("tests=\"{tests}\"")), "{junit}");
    assert!(
        junit.contains(&format!("failures=\"{failures}\"")),
        "{junit}"
    );
    (dir, stdout, junit)
}

#[test]
fn passing_thresholds_exit_0_and_are_listed_with_measured_values() {
    let (_dir, stdout, _) = run_tiny(&[], 0, 3, 0);
    assert!(
        stdout.contains("threshold PASS clients.gave_up == 0 (measured 0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("threshold PASS heartbeat.delivered_ratio > 50%"),
        "{stdout}"
    );
}

#[test]
fn an_impossible_threshold_exits_1_with_a_junit_failure() {
    let args = ["--threshold", "heartbeat_rtt.p99 < 1us", "--quiet"];
    let (dir, stdout, junit) = run_tiny(&args, 1, 4, 1);
    assert!(stdout.is_empty(), "--quiet prints nothing");
    assert!(
        junit.contains("<failure message=\"measured ")
            && junit.contains("threshold heartbeat_rtt.p99 &lt; 1us\""),
        "{junit}"
    );
    let md = std::fs::read_to_string(dir.path().join("out/summary.md")).expect("summary.md");
    assert!(md.contains("| `heartbeat_rtt.p99 < 1us` |"), "{md}");
    assert!(md.contains("| **FAIL** |"), "{md}");
}

#[test]
fn a_malformed_threshold_in_a_file_fails_check_with_its_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = TINY.replace("heartbeat_rtt.p99 < 10s", "heartbeat_rtt.p99 < 10");
    let file = scenario_file(dir.path(), "broken.yaml", &broken);
    for command in ["check", "run"] {
        let stderr = refused(wschaos().arg(command).arg(&file));
        // Line 9: `  - "heartbeat_rtt.p99 < 10"`, the string at column 5, `10` 20 characters in.
        let expected = format!("{}:9:26: thresholds[2]", file.display());
        assert!(stderr.contains(&expected), "{command}: {stderr}");
        assert!(stderr.contains("add a unit"), "{stderr}");
    }
}

#[test]
fn a_malformed_or_fractional_count_threshold_flag_exits_2_naming_the_flag_and_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    for (expr, expected) in [
        (
            "heartbeat_rtt.p99 =< 5ms",
            "--threshold \"heartbeat_rtt.p99 =< 5ms\": at offset 18: expected a comparison",
        ),
        (
            "clients.gave_up <= 0.5",
            "at offset 19: clients.gave_up is a count: the limit must be a whole number",
        ),
        (
            "counters.connects < 18446744073709551616",
            "at offset 20: counters.connects is a count: the limit must be below 2^64",
        ),
    ] {
        let stderr = refused(wschaos().arg("run").arg(&file).args(["--threshold", expr]));
        assert!(stderr.contains(expected), "{expr}: {stderr}");
    }
}
