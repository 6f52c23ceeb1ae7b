//! The report directory: all five files from one short run with a fault and two thresholds,
//! the hlog read back with the hdrhistogram crate, the HTML checked for self-containment (also
//! with hostile text in the scenario name, a threshold and a fault kind).

use std::process::Command;

use crate::common::*;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use wschaos::report::{FaultRecord, Report, RunRecord, ScenarioInfo, Threshold, ThresholdResult};
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
        fraction: 0.5,
        ..fault(
            1000,
            FaultKind::Drop {
                mode: DropMode::Reset,
            },
        )
    }];
    s.thresholds = vec!["clients.gave_up == 0".into()];
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        thresholds: vec![Threshold::parse("heartbeat_rtt.p99 < 1us").expect("valid")],
        ..RunOptions::default()
    };
    let finished = run_scenario_in(s, dir.path(), options);
    let report = &finished.report;
    assert_report_files(&finished.dir);

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
    assert_self_contained(&html);
    assert_eq!(html.matches("<svg").count(), 6, "six charts");
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

/// Elements the page may use: none of them loads anything.
const ALLOWED_ELEMENTS: &[&str] = &[
    "!doctype", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "table",
    "tr", "th", "td", "code", "svg", "rect", "line", "polyline", "circle", "text",
];

/// Fails unless `html` is self-contained: no script, no element that loads anything, and no
/// `src=`, `href=`, CSS `url(` or `@import`, event handler, or `scheme://` / `//host` reference in
/// any tag or in the style sheet. Text between tags may say anything, as long as it is escaped:
/// then every `<` opens a tag, and every tag is one of ours.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no JavaScript");
    let mut rest = lower.as_str();
    let mut tags = 0;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag: {after:.80}"));
        let tag = &after[..close];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        assert!(
            ALLOWED_ELEMENTS.contains(&name),
            "element <{name}> in <{tag}>"
        );
        for bad in ["src=", "href=", "url(", "@import", "://", "\"//", " on"] {
            assert!(!tag.contains(bad), "{bad:?} in <{tag}>");
        }
        tags += 1;
        rest = &after[close + 1..];
    }
    assert!(tags > 100, "a page with charts and tables, not {tags} tags");
    let style_start = lower.find("<style>").expect("a style sheet") + "<style>".len();
    let style_len = lower[style_start..].find("</style>").expect("closed");
    let style = &lower[style_start..style_start + style_len];
    for bad in ["url(", "@import", "//", "expression("] {
        assert!(!style.contains(bad), "{bad:?} in the style sheet");
    }
}

#[test]
fn hostile_text_in_the_report_renders_as_inert_text() {
    const HOSTILE: &str = "<script>alert(1)</script> http://x //evil.example/a.css url(x) @import";
    let scenario = ScenarioInfo {
        name: HOSTILE.into(),
        seed: 1,
        duration_s: 2.0,
        clients: 3,
        target: "ws://127.0.0.1:9/<img src=http://x>".into(),
        tls_insecure: false,
        compression_offered: false,
        stages: Vec::new(),
        protocol: "raw".into(),
    };
    let mut report = Report::new(
        scenario,
        "2024-01-01T00:00:00Z".into(),
        RunRecord::default(),
        None,
    );
    report.thresholds = vec![ThresholdResult {
        expr: format!("{HOSTILE} < 1"),
        measured: 0.0,
        measured_display: "\" onload=\"https://x".into(),
        passed: false,
    }];
    report.faults = vec![FaultRecord::started(
        0,
        "<a href=\"https://x\">drop</a>",
        0.5,
        1,
    )];
    let dir = tempfile::tempdir().expect("temp dir");
    report.write_all(dir.path()).expect("write the report");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");

    assert_self_contained(&html);
    let shown =
        "&lt;script&gt;alert(1)&lt;/script&gt; http://x //evil.example/a.css url(x) @import";
    assert!(
        html.contains(&format!("<title>wschaos report: {shown}</title>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("<code>{shown} &lt; 1</code>")),
        "{html}"
    );
    assert!(
        html.contains("<td>&quot; onload=&quot;https://x</td>"),
        "{html}"
    );
    assert!(
        html.contains("ws://127.0.0.1:9/&lt;img src=http://x&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;a href=&quot;https://x&quot;&gt;drop&lt;/a&gt;</text>"),
        "the fault band's label: {html}"
    );
}

/// Runs `command` with `--out` a directory where `report.json` cannot be written (a non-empty
/// directory holds its name, so the final rename fails as a write on a full disk would): it must
/// exit 2, print the summary starting `summary` anyway, say why on stderr, and leave nothing
/// half-written (the blocking directory untouched, no temporary file).
fn assert_unwritable_report_is_exit_2(dir: &std::path::Path, command: &mut Command, summary: &str) {
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("report.json")).expect("mkdir");
    std::fs::write(out.join("report.json").join("keep"), "x").expect("write");

    let (stdout, stderr) = exits(command.arg("--out").arg(&out), 2);
    assert!(
        stdout.contains(summary),
        "the summary is shown anyway: {stdout}"
    );
    assert!(stderr.contains("cannot write the report"), "{stderr}");

    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"], "no temporary or partial file");
    assert!(out.join("report.json").join("keep").is_file());
}

#[test]
fn a_report_that_cannot_be_written_exits_2_after_printing_the_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = embedded_scenario_file(dir.path(), "unwritable", "1s", 4, "");
    assert_unwritable_report_is_exit_2(
        dir.path(),
        wschaos().arg("run").arg(&file),
        "unwritable — 4 clients against",
    );
}

#[test]
fn a_merge_that_cannot_be_written_exits_2_after_printing_the_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = ScenarioInfo {
        name: "merged-unwritable".into(),
        seed: 1,
        duration_s: 1.0,
        clients: 2,
        target: "ws://127.0.0.1:9/".into(),
        tls_insecure: false,
        compression_offered: false,
        stages: Vec::new(),
        protocol: "raw".into(),
    };
    let shard = Report::new(
        scenario,
        "2024-01-01T00:00:00Z".into(),
        RunRecord::default(),
        None,
    );
    let shard_dir = dir.path().join("shard-0");
    shard.write_all(&shard_dir).expect("write the shard");
    assert_unwritable_report_is_exit_2(
        dir.path(),
        wschaos().arg("merge").arg(&shard_dir),
        "merged-unwritable — 2 clients",
    );
}
