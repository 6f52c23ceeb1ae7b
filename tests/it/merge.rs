//! The exact merge: shards started together as the pods of an Indexed Job (`--shards N`,
//! `JOB_COMPLETION_INDEX`, `--start-at`), merged into the report one process would have written
//! (histograms bucket by bucket, the fleet's RTT log, counters); shards of other runs, twice
//! the same shard or a missing one refused; `--start-at` early and late.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::common::*;
use wschaos::report::{decode_histogram, parse_hlog};

/// A chaos scenario on the embedded target: a server kill, then half the clients dropped.
const CHAOS: &str = "name: merge-chaos\nseed: 5\nduration: 3s\ntarget: {url: embedded}\n\
    clients:\n  count: 40\n  heartbeat: {interval: 200ms, timeout: 400ms}\n  \
    reconnect: {backoff: exponential, initial: 100ms, max: 400ms, jitter: full}\n\
    faults:\n  - {kind: server_kill, at: 800ms, downtime: 300ms}\n  \
    - {kind: drop, at: 2s, fraction: 0.5, mode: reset}\n";

/// An RFC 3339 instant `offset_ms` from now (negative: in the past).
fn instant_from_now(offset_ms: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(offset_ms);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// One pod of an Indexed Job: `run FILE --shards count --start-at AT` with
/// `JOB_COMPLETION_INDEX=index`, its report in `out`.
fn pod(file: &Path, out: &Path, count: u32, index: u32, start_at: &str) -> Child {
    run_command(file, out)
        .args([
            "--shards",
            &count.to_string(),
            "--start-at",
            start_at,
            "--quiet",
        ])
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a shard")
}

/// Waits for `child`, which must exit 0.
fn finished(mut child: Child, what: &str) {
    let out = child.wait_with_output_bounded();
    assert_eq!(out.0, Some(0), "{what}: {}", out.1);
}

trait BoundedWait {
    fn wait_with_output_bounded(&mut self) -> (Option<i32>, String);
}

impl BoundedWait for Child {
    /// The exit code and stderr, waiting at most 30 s (then the child is killed).
    fn wait_with_output_bounded(&mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.try_wait().expect("wait") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status.code(), stderr);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.kill();
                let _ = self.wait();
                return (None, "still running after 30 s".into());
            }
            std::thread::sleep(ms(50));
        }
    }
}

fn merge_command(out: &Path, inputs: &[&Path]) -> Command {
    let mut command = wschaos();
    command.arg("merge");
    for input in inputs {
        command.arg(input);
    }
    command.arg("--out").arg(out).arg("--quiet");
    command
}

fn hist(text: &Value) -> Histogram<u64> {
    decode_histogram(text.as_str().expect("an hdr text")).expect("a histogram")
}

/// `merged` holds exactly the counts of `parts`, bucket by bucket: each part's bucket lands in
/// the merged bucket holding its value. (Not `count_at` on the parts: an auto-resized part
/// answers a value past its range with its last bucket.)
fn assert_sum(merged: &Histogram<u64>, parts: &[Histogram<u64>], what: &str) {
    use std::collections::BTreeMap;
    assert_eq!(
        merged.len(),
        parts.iter().map(Histogram::len).sum::<u64>(),
        "{what}: total"
    );
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    for part in parts {
        for bucket in part.iter_recorded() {
            let key = merged.highest_equivalent(bucket.value_iterated_to());
            *expected.entry(key).or_default() += bucket.count_at_value();
        }
    }
    let actual: BTreeMap<u64, u64> = merged
        .iter_recorded()
        .map(|bucket| {
            let key = merged.highest_equivalent(bucket.value_iterated_to());
            (key, bucket.count_at_value())
        })
        .collect();
    assert_eq!(actual, expected, "{what}: buckets");
}

#[test]
fn shards_started_together_merge_into_exactly_their_sum_and_match_one_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "chaos.yaml", CHAOS);
    let start_at = instant_from_now(2500);
    let shard_dirs: Vec<PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("pod-{i}")))
        .collect();
    let pods: Vec<Child> = (0..4)
        .map(|i| pod(&file, &shard_dirs[i], 4, i as u32, &start_at))
        .collect();
    // The same run in one process, meanwhile (same file, same seed).
    let whole_dir = dir.path().join("whole");
    let whole = run_command(&file, &whole_dir)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the whole run");
    for (i, child) in pods.into_iter().enumerate() {
        finished(child, &format!("pod {i}"));
    }
    finished(whole, "whole run");

    let merged_dir = dir.path().join("merged");
    let inputs: Vec<&Path> = shard_dirs.iter().map(PathBuf::as_path).collect();
    exits(&mut merge_command(&merged_dir, &inputs), 0);
    let merged = read_json(&merged_dir.join("report.json"));
    let shards: Vec<Value> = shard_dirs
        .iter()
        .map(|d| read_json(&d.join("report.json")))
        .collect();
    for (i, shard) in shards.iter().enumerate() {
        // The index came from JOB_COMPLETION_INDEX; the clock from --start-at.
        assert_eq!(shard["shard"], format!("{i}/4"));
        assert_eq!(
            shard["started_at"],
            Value::from(start_at.clone()),
            "shard {i}"
        );
        assert!(shard["scenario_hash"].is_string());
    }
    assert_eq!(merged["started_at"], Value::from(start_at.clone()));
    assert!(merged.get("partial").is_none() && merged.get("shard").is_none());

    // Counters: the sums.
    for (name, value) in merged["counters"].as_object().expect("counters") {
        let sum: u64 = shards
            .iter()
            .map(|s| s["counters"][name].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(value.as_u64(), Some(sum), "counter {name}");
    }
    // Global histograms: bucket by bucket.
    for (name, summary) in merged["histograms"].as_object().expect("histograms") {
        let parts: Vec<_> = shards
            .iter()
            .map(|s| hist(&s["histograms"][name]["hdr"]))
            .collect();
        assert_sum(&hist(&summary["hdr"]), &parts, name);
    }
    // Per fault: detection, reopen and attempts histograms, and the percentiles from them.
    let faults = merged["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 2);
    for (f, fault) in faults.iter().enumerate() {
        for name in ["detection", "reopen", "attempts"] {
            let parts: Vec<_> = shards
                .iter()
                .filter_map(|s| {
                    let text = &s["faults"][f]["histograms"][name];
                    (!text.is_null()).then(|| hist(text))
                })
                .collect();
            let text = &fault["histograms"][name];
            assert!(!parts.is_empty() && !text.is_null(), "fault {f} {name}");
            let total = hist(text);
            assert_sum(&total, &parts, &format!("fault {f} {name}"));
            if name == "detection" {
                assert_eq!(
                    fault["detection_us"]["p99"].as_u64(),
                    Some(total.value_at_quantile(0.99))
                );
            }
        }
        for count in ["clients_targeted", "noticed", "reopened", "connections_cut"] {
            let sum: u64 = shards
                .iter()
                .map(|s| s["faults"][f][count].as_u64().unwrap_or(0))
                .sum();
            assert_eq!(fault[count].as_u64(), Some(sum), "fault {f} {count}");
        }
        let storm_sum: u64 = shards
            .iter()
            .map(|s| s["faults"][f]["storm"]["attempts"].as_u64().unwrap_or(0))
            .sum();
        assert!(fault["storm"]["attempts"].as_u64() >= Some(storm_sum));
    }
    // The timeline: one clock, so the seconds' counts add up to the shards' totals.
    let timeline_sum = |r: &Value, field: &str| -> u64 {
        r["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|p| p[field].as_u64().unwrap_or(0))
            .sum()
    };
    for field in ["connects", "heartbeat_acks", "disconnects"] {
        let sum: u64 = shards.iter().map(|s| timeline_sum(s, field)).sum();
        assert_eq!(timeline_sum(&merged, field), sum, "timeline {field}");
    }
    let longest = shards
        .iter()
        .map(|s| s["timeline"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    assert!(merged["timeline"].as_array().map_or(0, Vec::len) <= longest + 1);

    // The fleet's RTT log adds up to the merged heartbeat_rtt histogram.
    let log = std::fs::read(merged_dir.join("heartbeat_rtt.hlog")).expect("merged hlog");
    let intervals = parse_hlog(&log).expect("an interval log");
    let logged: u64 = intervals
        .iter()
        .map(|i| i.histogram().expect("interval").len())
        .sum();
    assert!(logged > 0);
    assert_eq!(
        Some(logged),
        merged["histograms"]["heartbeat_rtt"]["count"].as_u64()
    );

    // One process, same seed: the same clients, the same faults' targets; the rest within
    // what timing allows.
    let one = read_json(&whole_dir.join("report.json"));
    let counter = |r: &Value, name: &str| r["counters"][name].as_u64().unwrap_or(0);
    for name in ["clients_started", "clients_connected"] {
        assert_eq!(counter(&merged, name), counter(&one, name), "{name}");
    }
    for f in 0..2 {
        let targeted = |r: &Value| r["faults"][f]["clients_targeted"].as_u64();
        assert_eq!(targeted(&merged), targeted(&one), "fault {f} targeted");
    }
    // The kill reaches every client either way.
    assert_eq!(merged["faults"][0]["noticed"], one["faults"][0]["noticed"]);
    for name in ["connects", "reconnects"] {
        let (a, b) = (counter(&merged, name), counter(&one, name));
        assert!(a.abs_diff(b) <= 4, "{name}: merged {a}, one process {b}");
    }
}

/// Runs shard `shard` (i/n) of `file` with `seed`, its report in `out`.
fn shard_run(file: &Path, out: &Path, shard: &str, seed: &str) -> Child {
    run_command(file, out)
        .args(["--shard", shard, "--seed", seed, "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a shard")
}

#[test]
fn merge_refuses_other_runs_duplicates_and_missing_shards_unless_partial() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = embedded_scenario_file(dir.path(), "m", "1s", 6, "");
    // Same name, clients and duration; another heartbeat: only the hash tells them apart.
    let other = scenario_file(
        dir.path(),
        "other.yaml",
        "name: m\nduration: 1s\ntarget: {url: embedded}\n\
         clients: {count: 6, heartbeat: {interval: 300ms, timeout: 600ms}}\n",
    );
    let d = |name: &str| dir.path().join(name);
    let runs = [
        shard_run(&file, &d("s0"), "0/2", "1"),
        shard_run(&file, &d("s1"), "1/2", "1"),
        shard_run(&file, &d("s1-seed2"), "1/2", "2"),
        shard_run(&other, &d("s1-other"), "1/2", "1"),
        shard_run(&file, &d("s1-of-3"), "1/3", "1"),
    ];
    for (i, run) in runs.into_iter().enumerate() {
        finished(run, &format!("run {i}"));
    }
    let out = d("merged");
    let refusals = [
        (vec!["s0", "s1-seed2"], "s1-seed2", "seed 2, not 1"),
        (vec!["s0", "s1-other"], "s1-other", "scenario hash"),
        (vec!["s0", "s1-of-3"], "s1-of-3", "the run has 2 shards"),
        (vec!["s0", "s1", "s1"], "s1", "shard 1/2 is given twice"),
        (vec!["s0"], "shard 1 of 2 missing", "--allow-partial"),
    ];
    for (inputs, names, says) in refusals {
        let paths: Vec<PathBuf> = inputs.iter().map(|n| d(n)).collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let stderr = refused(&mut merge_command(&out, &refs));
        assert!(
            stderr.contains(names) && stderr.contains(says),
            "{inputs:?}: {stderr}"
        );
    }
    assert!(!out.exists(), "a refused merge writes nothing");

    // --allow-partial: merged and marked.
    exits(merge_command(&out, &[&d("s0")]).arg("--allow-partial"), 0);
    let partial = read_json(&out.join("report.json"));
    assert_eq!(partial["partial"], true);
    assert_eq!(partial["missing_shards"], serde_json::json!([1]));
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        summary.contains("PARTIAL") && summary.contains("shard 1"),
        "{summary}"
    );

    // The whole set merges; a --threshold given to merge is judged on the merged report.
    let whole = d("whole");
    exits(&mut merge_command(&whole, &[&d("s0"), &d("s1")]), 0);
    let merged = read_json(&whole.join("report.json"));
    assert!(merged.get("partial").is_none());
    assert_eq!(merged["counters"]["clients_started"], 6);
    let judged = d("judged");
    exits(
        merge_command(&judged, &[&d("s1"), &d("s0")])
            .args(["--threshold", "clients.connected == 6"]),
        0,
    );
    exits(
        merge_command(&judged, &[&d("s1"), &d("s0")])
            .args(["--threshold", "clients.connected < 6"]),
        1,
    );
    let report = read_json(&judged.join("report.json"));
    let last = report["thresholds"]
        .as_array()
        .and_then(|t| t.last())
        .cloned();
    assert_eq!(
        last.map(|t| (t["expr"].clone(), t["passed"].clone())),
        Some(("clients.connected < 6".into(), false.into()))
    );
}

#[test]
fn shards_takes_its_index_from_job_completion_index_or_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = tiny_scenario_file(dir.path(), 3);
    let out = dir.path().join("out");
    for (index, says) in [
        (None, "JOB_COMPLETION_INDEX is not set"),
        (Some("3"), "JOB_COMPLETION_INDEX=3 is out of range (0..2)"),
        (Some("x"), "is not a shard index"),
    ] {
        let mut command = run_command(&file, &out);
        command
            .args(["--shards", "3"])
            .env_remove("JOB_COMPLETION_INDEX");
        if let Some(index) = index {
            command.env("JOB_COMPLETION_INDEX", index);
        }
        let stderr = refused(&mut command);
        assert!(stderr.contains(says), "{index:?}: {stderr}");
    }
    exits(
        run_command(&file, &out)
            .args(["--shards", "3", "--quiet"])
            .env("JOB_COMPLETION_INDEX", "2"),
        0,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["shard"], "2/3");
    // Clients 2, 5, 8, ... of 3: one.
    assert_eq!(report["counters"]["clients_started"], 1);
}

#[test]
fn start_at_ahead_waits_for_it_and_behind_joins_late() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = embedded_scenario_file(dir.path(), "late", "4s", 4, "seed: 1\n");
    let ahead = instant_from_now(1500);
    let behind = instant_from_now(-1000);
    let early = run_command(&file, &dir.path().join("early"))
        .args(["--start-at", &ahead, "--quiet"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let late = run_command(&file, &dir.path().join("late"))
        .args(["--start-at", &behind, "--quiet"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    finished(early, "early");
    finished(late, "late");

    let unix = |text: &Value| {
        time::OffsetDateTime::parse(
            text.as_str().expect("started_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339")
    };
    let early = read_json(&dir.path().join("early/report.json"));
    assert!(unix(&early["started_at"]) >= unix(&Value::from(ahead)));
    assert!(early.get("joined_late_s").is_none(), "{early}");

    let late = read_json(&dir.path().join("late/report.json"));
    assert_eq!(unix(&late["started_at"]), unix(&Value::from(behind)));
    let late_s = late["joined_late_s"].as_f64().expect("joined_late_s");
    assert!(late_s >= 1.0, "{late_s}");
    // Its clock counts from the instant: its first second comes after it joined, and every
    // client due by then started at once.
    let first_t = late["timeline"][0]["t_s"].as_f64().expect("a point");
    assert!(first_t >= late_s, "{first_t} < {late_s}");
    assert_eq!(late["counters"]["clients_started"], 4);
    let summary = std::fs::read_to_string(dir.path().join("late/summary.md")).expect("summary");
    assert!(summary.contains("joined late"), "{summary}");
}
