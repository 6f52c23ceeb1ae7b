//! Thresholds through the real binary: a passing set exits 0, an impossible one exits 1 with a
//! JUnit failure, a malformed one exits 2 naming its position.

use crate::common::*;

const TINY: &str = "name: tiny\nseed: 3\nduration: 1s\ntarget: {url: embedded}\n\
clients: {count: 10, heartbeat: {interval: 200ms, timeout: 400ms}}\n\
thresholds:\n  - \"clients.gave_up == 0\"\n  - \"heartbeat.delivered_ratio > 50%\"\n  - \"heartbeat_rtt.p99 < 10s\"\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn passing_thresholds_exit_0_and_are_listed_with_measured_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    let out = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("run wschaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr(&out));
    assert!(
        stdout.contains("threshold PASS clients.gave_up == 0 (measured 0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("threshold PASS heartbeat.delivered_ratio > 50%"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).expect("junit.xml");
    assert!(junit.contains("tests=\"3\""), "{junit}");
    assert!(junit.contains("failures=\"0\""), "{junit}");
}

#[test]
fn an_impossible_threshold_exits_1_with_a_junit_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    let out = wschaos()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--threshold", "heartbeat_rtt.p99 < 1us", "--quiet"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--quiet prints nothing");
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).expect("junit.xml");
    assert!(junit.contains("tests=\"4\""), "{junit}");
    assert!(junit.contains("failures=\"1\""), "{junit}");
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
        let out = wschaos()
            .arg(command)
            .arg(&file)
            .output()
            .expect("run wschaos");
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        // Line 9: `  - "heartbeat_rtt.p99 < 10"`, the string at column 5, `10` 20 characters in.
        let expected = format!("{}:9:26: thresholds[2]", file.display());
        assert!(
            stderr(&out).contains(&expected),
            "{command}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("add a unit"), "{}", stderr(&out));
    }
}

#[test]
fn a_malformed_threshold_flag_exits_2_naming_the_flag_and_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    let out = wschaos()
        .arg("run")
        .arg(&file)
        .args(["--threshold", "heartbeat_rtt.p99 =< 5ms"])
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "--threshold \"heartbeat_rtt.p99 =< 5ms\": at offset 18: expected a comparison"
        ),
        "{err}"
    );
}

#[test]
fn a_fractional_count_threshold_exits_2_naming_the_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "tiny.yaml", TINY);
    for (expr, expected) in [
        (
            "clients.gave_up <= 0.5",
            "at offset 19: clients.gave_up is a count: the limit must be a whole number",
        ),
        (
            "counters.connects < 18446744073709551616",
            "at offset 20: counters.connects is a count: the limit must be below 2^64",
        ),
    ] {
        let out = wschaos()
            .arg("run")
            .arg(&file)
            .args(["--threshold", expr])
            .output()
            .expect("run wschaos");
        assert_eq!(out.status.code(), Some(2), "{expr}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{expr}: {}", stderr(&out));
    }
}
