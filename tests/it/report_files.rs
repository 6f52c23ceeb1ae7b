//! The report directory: all five files from one short run with a fault and two thresholds,
//! the hlog read back with the hdrhistogram crate, the HTML checked for self-containment.

use crate::common::*;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use wschaos::report::Threshold;
use wschaos::run::RunOptions;
use wschaos::scenario::*;

fn decode(base64_v2: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_v2)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("a V2 histogram")
}

#[test]
fn a_run_writes_all_five_files_and_they_agree_with_report_json() {
    let mut s = scenario(TargetUrl::Embedded, 20, ms(2500));
    s.faults = vec![Fault {
        at: ms(1000),
        duration: None,
        fraction: 0.5,
        kind: FaultKind::Drop {
            mode: DropMode::Reset,
        },
    }];
    s.thresholds = vec!["clients.gave_up == 0".into()];
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        thresholds: vec![Threshold::parse("heartbeat_rtt.p99 < 1us").expect("valid")],
        ..RunOptions::default()
    };
    let finished = run_scenario_in(s, dir.path(), options);
    let report = &finished.report;
    for file in REPORT_FILES {
        assert!(finished.dir.join(file).is_file(), "{file} missing");
    }

    // Thresholds: the scenario's first, then --threshold; one holds, one cannot.
    let results: Vec<(&str, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.expr.as_str(), t.passed))
        .collect();
    assert_eq!(
        results,
        [
            ("clients.gave_up == 0", true),
            ("heartbeat_rtt.p99 < 1us", false)
        ]
    );
    let json = read_json(&finished.dir.join("report.json"));
    assert_eq!(json["thresholds"][1]["passed"], false);
    assert!(json["timeline"][0]["disconnects_dropped"].is_u64());

    // The hlog: every interval read back sums to the report's heartbeat_rtt histogram.
    let hlog = std::fs::read(finished.dir.join("heartbeat_rtt.hlog")).expect("hlog");
    let mut merged: Option<Histogram<u64>> = None;
    let mut intervals = 0;
    let mut last_start = None;
    for entry in IntervalLogIterator::new(&hlog) {
        let LogEntry::Interval(interval) = entry.expect("a valid log line") else {
            continue;
        };
        intervals += 1;
        assert!(last_start.is_none_or(|s| s <= interval.start_timestamp()));
        last_start = Some(interval.start_timestamp());
        let h = decode(interval.encoded_histogram());
        match merged.as_mut() {
            Some(m) => m.add(&h).expect("same bounds"),
            None => merged = Some(h),
        }
    }
    assert!(intervals >= 2, "{intervals} intervals");
    let merged = merged.expect("at least one interval");
    let rtt = &report.histograms["heartbeat_rtt"];
    assert!(rtt.count > 0);
    assert_eq!(merged.len(), rtt.count);
    let totals = decode(&rtt.hdr);
    assert!(merged.equivalent(merged.max(), totals.max()));
    assert_eq!(merged.value_at_quantile(0.99), rtt.p99);
    assert_eq!(merged.value_at_quantile(0.5), rtt.p50);
    let text = String::from_utf8_lossy(&hlog);
    assert!(text.starts_with("#[Histogram log format version 1.3]\n#[StartTime: "));
    assert!(text.contains("\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","));

    // The HTML page: self-contained, one SVG per chart.
    let html = std::fs::read_to_string(finished.dir.join("report.html")).expect("html");
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("http"), "no external reference");
    assert_eq!(html.matches("<svg").count(), 5, "five charts");
    assert!(html.contains(">drop</text>"), "the drop is drawn as a band");
    assert!(html.contains("heartbeat_rtt.p99 &lt; 1us"));

    // JUnit: one case per threshold, the failure carries the measured value.
    let junit = std::fs::read_to_string(finished.dir.join("junit.xml")).expect("junit");
    assert!(junit.contains("tests=\"2\""), "{junit}");
    assert!(junit.contains("failures=\"1\""), "{junit}");
    let failed = &report.thresholds[1];
    assert!(
        junit.contains(&format!(
            "measured {}, threshold heartbeat_rtt.p99 &lt; 1us",
            failed.measured_display
        )),
        "{junit}"
    );

    // summary.md lists the thresholds with measured values and the verdict.
    let md = std::fs::read_to_string(finished.dir.join("summary.md")).expect("summary.md");
    assert!(md.contains("**FAIL**: a threshold failed"), "{md}");
    assert!(md.contains("| `clients.gave_up == 0` | 0 | pass |"), "{md}");
    assert!(md.contains("| `heartbeat_rtt.p99 < 1us` |"), "{md}");
}
