//! Live progress and machine output: the coordinator's once-a-second progress points reach the
//! channel in `RunOptions`, and `run --json` prints report.json and nothing else on stdout.

use crate::common::*;
use wschaos::run::RunOptions;
use wschaos::scenario::*;

#[test]
fn progress_points_arrive_once_a_second_with_clients_and_faults() {
    let mut s = scenario(TargetUrl::Embedded, 8, ms(2200));
    s.faults = vec![fault(
        500,
        FaultKind::Drop {
            mode: DropMode::Close,
        },
    )];
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        progress: Some(tx),
        ..RunOptions::default()
    };
    let finished = run_scenario_in(s, dir.path(), options);
    let points: Vec<_> = rx.iter().collect();
    assert_eq!(points.len(), finished.report.timeline.len());
    assert!(points.len() >= 2, "{points:?}");
    assert!(points.iter().all(|p| p.clients == 8 && p.duration_s == 2.2));
    assert!(
        points.iter().any(|p| p.active_faults == ["drop"]),
        "{points:?}"
    );
    let last = points.last().expect("a point");
    assert_eq!(
        last.connected,
        finished.report.timeline.last().expect("point").connected
    );
    assert!(last.line().starts_with("connected "), "{}", last.line());
}

#[test]
fn json_flag_prints_only_the_report_on_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = tiny_scenario_file(dir.path(), 5);
    let out_dir = dir.path().join("out");
    let (stdout, stderr) = exits(run_command(&file, &out_dir).arg("--json"), 0);
    let printed: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is exactly one JSON document");
    let written = read_json(&out_dir.join("report.json"));
    assert_eq!(printed, written);
    assert_eq!(printed["counters"]["clients_connected"], 5);
    assert!(stderr.contains("heartbeat_rtt"), "summary on stderr");
}
