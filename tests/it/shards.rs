//! Past one process: `--shard i/n`, `--procs N` and `merge` add up to the whole run.

use crate::common::*;
use wschaos::run::{RunOptions, run};
use wschaos::scenario::*;
use wschaos::shards::Shard;

#[test]
fn procs_runs_shards_and_merges_histograms_and_counters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "tiny.yaml",
        "name: tiny\nduration: 1500ms\ntarget: {url: embedded}\n\
         clients: {count: 41, heartbeat: {interval: 200ms, timeout: 400ms}}\n",
    );
    let out = dir.path().join("out");
    let status = wschaos()
        .arg("run")
        .arg(&file)
        .args(["--procs", "2", "--quiet", "--out"])
        .arg(&out)
        .status()
        .expect("run wschaos");
    assert_eq!(status.code(), Some(0));

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

    // `wschaos merge` over the same shard directories gives the same figures.
    let again = dir.path().join("again");
    let status = wschaos()
        .arg("merge")
        .arg(out.join("shard-0"))
        .arg(out.join("shard-1"))
        .arg("--out")
        .arg(&again)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("merge");
    assert_eq!(status.code(), Some(0));
    let remerged = read_json(&again.join("report.json"));
    assert_eq!(remerged["counters"], merged["counters"]);
    assert_eq!(remerged["histograms"], merged["histograms"]);
}

#[test]
fn shards_agree_on_which_clients_a_fault_picks() {
    let base = || {
        let mut s = scenario(TargetUrl::Embedded, 60, ms(1200));
        s.faults = vec![Fault {
            at: ms(600),
            duration: None,
            fraction: 0.5,
            kind: FaultKind::Drop {
                mode: DropMode::Reset,
            },
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
    let out = wschaos()
        .args(["run", "scenarios/basic.yaml", "--shard", "2/2"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 <= i < n"));
}

/// Starts `wschaos run --procs 2` of a 30 s scenario in its own process group (as a terminal
/// would), lets the shards get going, sends `signal` to it (or to its whole group, as Ctrl-C
/// does), and returns the exit code and stderr. The report goes to `dir/out`.
fn interrupt_procs(dir: &std::path::Path, signal: i32, to_group: bool) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let file = dir.join("long.yaml");
    std::fs::write(
        &file,
        "name: long\nduration: 30s\ntarget: {url: embedded}\n\
         clients: {count: 10, heartbeat: {interval: 200ms, timeout: 400ms}}\n",
    )
    .expect("write scenario");
    let mut child = wschaos()
        .arg("run")
        .arg(&file)
        .args(["--procs", "2", "--quiet", "--out"])
        .arg(dir.join("out"))
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start wschaos");
    std::thread::sleep(ms(2000));
    let pid = child.id() as i32;
    // SAFETY: kill(2) on our child (or its process group); no memory effects.
    let sent = unsafe { libc::kill(if to_group { -pid } else { pid }, signal) };
    assert_eq!(sent, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("wschaos --procs did not end within 20 s of signal {signal}");
        }
        std::thread::sleep(ms(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status.code(), stderr)
}

fn assert_interrupted_merge(dir: &std::path::Path, code: Option<i32>, expected: i32, stderr: &str) {
    assert_eq!(code, Some(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = dir.join("out");
    let merged = read_json(&out.join("report.json"));
    assert_eq!(merged["interrupted"], true);
    assert!(merged["elapsed_s"].as_f64().is_some_and(|e| e < 30.0));
    for shard in ["shard-0", "shard-1"] {
        let report = read_json(&out.join(shard).join("report.json"));
        assert_eq!(report["interrupted"], true, "{shard}");
        assert_eq!(report["counters"]["closed_manually"], 5, "{shard}");
    }
}

#[test]
fn sigint_to_the_procs_parent_interrupts_every_shard_and_merges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = interrupt_procs(dir.path(), libc::SIGINT, false);
    assert_interrupted_merge(dir.path(), code, 130, &stderr);
}

#[test]
fn ctrl_c_to_the_procs_process_group_interrupts_every_shard_once_and_merges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = interrupt_procs(dir.path(), libc::SIGINT, true);
    assert_interrupted_merge(dir.path(), code, 130, &stderr);
}

#[test]
fn sigterm_to_the_procs_parent_interrupts_every_shard_and_exits_143() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = interrupt_procs(dir.path(), libc::SIGTERM, false);
    assert_interrupted_merge(dir.path(), code, 143, &stderr);
}
