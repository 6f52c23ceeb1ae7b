//! Past one process: `--shard i/n`, `--procs N` and `merge` add up to the whole run.

use crate::common::*;
use wschaos::run::{RunOptions, run};
use wschaos::scenario::*;
use wschaos::shards::Shard;

#[test]
fn procs_runs_shards_and_merges_histograms_and_counters() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No seed in the file: the parent draws one and hands it to both shards.
    let file = embedded_scenario_file(dir.path(), "tiny", "1500ms", 41, "");
    let out = dir.path().join("out");
    exits(
        run_command(&file, &out).args(["--procs", "2", "--quiet"]),
        0,
    );

    let merged = read_json(&out.join("report.json"));
    let shards = [
        read_json(&out.join("shard-0/report.json")),
        read_json(&out.join("shard-1/report.json")),
    ];
    assert_eq!(shards[0]["shard"], "0/2");
    assert_eq!(shards[0]["counters"]["clients_started"], 21);
    assert_eq!(shards[1]["counters"]["clients_started"], 20);
    assert_eq!(merged["counters"]["clients_connected"], 41);
    assert_eq!(shards[0]["scenario"]["seed"], shards[1]["scenario"]["seed"]);
    // Started as an Indexed Job's pods: one common start, the index from the environment.
    assert_eq!(shards[0]["started_at"], shards[1]["started_at"]);
    assert_eq!(merged["started_at"], shards[0]["started_at"]);
    assert_eq!(shards[1]["shard"], "1/2");
    let count = |r: &serde_json::Value| {
        r["histograms"]["heartbeat_rtt"]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    assert!(count(&merged) > 0);
    assert_eq!(count(&merged), count(&shards[0]) + count(&shards[1]));
    let max = |r: &serde_json::Value| {
        r["histograms"]["heartbeat_rtt"]["max"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(max(&merged), max(&shards[0]).max(max(&shards[1])));
    // The tool's own figures: CPU seconds add up, saturated if any shard was.
    let cpu_s = |r: &serde_json::Value| r["load_generator"]["cpu_s"].as_f64().unwrap_or(-1.0);
    assert!(cpu_s(&shards[0]) > 0.0 && cpu_s(&shards[1]) > 0.0);
    assert!((cpu_s(&merged) - cpu_s(&shards[0]) - cpu_s(&shards[1])).abs() < 1e-9);
    let saturated = |r: &serde_json::Value| r["load_generator"]["saturated"].as_bool();
    assert_eq!(
        saturated(&merged),
        Some(saturated(&shards[0]) == Some(true) || saturated(&shards[1]) == Some(true))
    );

    // `wschaos merge` over the same shard directories gives the same figures.
    let again = dir.path().join("again");
    exits(
        wschaos()
            .arg("merge")
            .arg(out.join("shard-0"))
            .arg(out.join("shard-1"))
            .arg("--out")
            .arg(&again),
        0,
    );
    let remerged = read_json(&again.join("report.json"));
    assert_eq!(remerged["counters"], merged["counters"]);
    assert_eq!(remerged["histograms"], merged["histograms"]);
}

#[test]
fn shards_agree_on_which_clients_a_fault_picks() {
    let base = || {
        let mut s = scenario(TargetUrl::Embedded, 60, ms(1200));
        s.faults = vec![Fault {
            fraction: 0.5,
            ..fault(
                600,
                FaultKind::Drop {
                    mode: DropMode::Reset,
                },
            )
        }];
        s
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let targeted = |shard: Option<Shard>, name: &str| {
        let options = RunOptions {
            out: Some(dir.path().join(name)),
            seed: Some(11),
            shard,
            ..RunOptions::default()
        };
        let report = run(base(), &options).expect("run").report;
        report.faults[0].clients_targeted
    };
    let whole = targeted(None, "whole");
    let halves = targeted(Some(Shard { index: 0, count: 2 }), "a")
        + targeted(Some(Shard { index: 1, count: 2 }), "b");
    assert!(whole > 10 && whole < 50, "{whole}");
    assert_eq!(halves, whole);
}

#[test]
fn a_bad_shard_is_rejected() {
    let stderr = refused(
        wschaos()
            .args(["run", "scenarios/basic.yaml", "--shard", "2/2"])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    assert!(stderr.contains("0 <= i < n"), "{stderr}");
}

/// Starts `wschaos run --procs 2` of a 30 s scenario in its own process group (as a terminal
/// would), lets the shards get going, sends `signal` to it (or to its whole group, as Ctrl-C
/// does), and returns the exit code and stderr. The report goes to `dir/out`.
fn interrupt_procs(dir: &std::path::Path, signal: i32, to_group: bool) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let file = embedded_scenario_file(dir, "long", "30s", 10, "");
    let mut run = spawn(
        run_command(&file, &dir.join("out"))
            .args(["--procs", "2", "--quiet"])
            .process_group(0),
    );
    std::thread::sleep(ms(2000));
    run.interrupt(signal, to_group)
}

#[test]
fn sigint_sigterm_and_ctrl_c_to_procs_interrupt_every_shard_once_and_merge() {
    for (signal, to_group, expected) in [
        (libc::SIGINT, false, 130),
        // Ctrl-C: the parent and both shards get the signal.
        (libc::SIGINT, true, 130),
        (libc::SIGTERM, false, 143),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (code, stderr) = interrupt_procs(dir.path(), signal, to_group);
        let context = format!("signal {signal}, to the group: {to_group}");
        assert_eq!(code, Some(expected), "{context}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let out = dir.path().join("out");
        let merged = read_json(&out.join("report.json"));
        assert_eq!(merged["interrupted"], true, "{context}");
        assert!(merged["elapsed_s"].as_f64().is_some_and(|e| e < 30.0));
        for shard in ["shard-0", "shard-1"] {
            let report = read_json(&out.join(shard).join("report.json"));
            assert_eq!(report["interrupted"], true, "{context}: {shard}");
            assert_eq!(
                report["counters"]["closed_manually"], 5,
                "{context}: {shard}"
            );
        }
    }
}
