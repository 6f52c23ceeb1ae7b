//! `wschaos compare`: identical reports pass, a doubled heartbeat p99 is a regression, bad
//! input exits 2. The fixtures are a real report.json and edited copies of it.

use std::path::{Path, PathBuf};

use crate::common::*;
use wschaos::scenario::*;

fn write_copy(dir: &Path, name: &str, json: &serde_json::Value) -> PathBuf {
    let report_dir = dir.join(name);
    std::fs::create_dir_all(&report_dir).expect("mkdir");
    std::fs::write(
        report_dir.join("report.json"),
        serde_json::to_vec_pretty(json).expect("serialize"),
    )
    .expect("write report.json");
    report_dir
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = wschaos()
        .arg("compare")
        .arg(base)
        .arg(new)
        .args(extra)
        .output()
        .expect("run wschaos");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn compare_flags_a_doubled_p99_and_passes_identical_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(
        scenario(TargetUrl::Embedded, 10, ms(1200)),
        dir.path(),
        Default::default(),
    );
    let base_file = finished.dir.join("report.json");
    let base = read_json(&base_file);
    assert!(
        base["histograms"]["heartbeat_rtt"]["p99"]
            .as_u64()
            .is_some_and(|p| p > 0)
    );

    // Identical: a directory against its own report.json.
    let (code, text) = compare(&finished.dir, &base_file, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("0 regression(s) beyond the 10.0% tolerance"),
        "{text}"
    );
    assert!(
        text.contains("heartbeat_rtt.p99"),
        "every figure is listed: {text}"
    );
    assert!(text.contains("counters.reconnects"), "{text}");
    assert!(text.contains("ratios.heartbeat_delivered"), "{text}");

    let mut slower = base.clone();
    let p99 = base["histograms"]["heartbeat_rtt"]["p99"]
        .as_u64()
        .unwrap_or(1);
    slower["histograms"]["heartbeat_rtt"]["p99"] = (p99 * 2).into();
    let slower_dir = write_copy(dir.path(), "slower", &slower);
    let (code, text) = compare(&finished.dir, &slower_dir, &[]);
    assert_eq!(code, Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("heartbeat_rtt.p99 "))
        .unwrap_or_default();
    assert!(
        line.contains("+100.0%") && line.ends_with("REGRESSION"),
        "{text}"
    );
    assert!(text.contains("1 regression(s)"), "{text}");

    // The same change is no regression with a tolerance above it; the reverse is "better".
    let (code, text) = compare(&finished.dir, &slower_dir, &["--tolerance", "150%"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = compare(&finished.dir, &slower_dir, &["--min-delta", "10s"]);
    assert_eq!(
        code,
        Some(0),
        "a latency change under --min-delta is no regression: {text}"
    );
    let (code, text) = compare(&slower_dir, &finished.dir, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("better"), "{text}");

    // A ratio that dropped is a regression too.
    let mut lossy = base.clone();
    lossy["ratios"]["heartbeat_delivered"] = 0.5.into();
    let lossy_dir = write_copy(dir.path(), "lossy", &lossy);
    let (code, text) = compare(&finished.dir, &lossy_dir, &[]);
    assert_eq!(code, Some(1), "{text}");
}

#[test]
fn compare_rejects_what_is_not_a_report_with_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nowhere");
    let not_json = dir.path().join("notes.json");
    std::fs::write(&not_json, "hello").expect("write");
    let other = write_copy(dir.path(), "other", &serde_json::json!({"name": "x"}));

    let (code, text) = compare(&missing, &not_json, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("nowhere") && text.contains("cannot read"),
        "{text}"
    );
    let (code, text) = compare(&not_json, &not_json, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("invalid JSON"), "{text}");
    let (code, text) = compare(&other, &other, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no schema_version"), "{text}");
    let (code, text) = compare(&other, &other, &["--tolerance", "lots"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--tolerance"), "{text}");
}
