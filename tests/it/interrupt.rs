//! The real binary cut short: SIGINT, SIGTERM or SIGHUP mid-run still writes the whole report
//! (exit 128 + the signal) and stops the target; a SIGKILL leaves no child behind; and a target
//! that dies for good does not keep the report from being written.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;

/// How a run is set up for a signal: on the embedded server, or with a managed target that must
/// be gone afterwards.
enum Target {
    Embedded,
    Managed,
}

#[test]
fn sigint_sigterm_and_sighup_write_a_complete_interrupted_report_and_exit_128_plus_the_signal() {
    for (signal, code, target, count) in [
        (libc::SIGINT, 130, Target::Embedded, 20),
        (libc::SIGTERM, 143, Target::Managed, 10),
        (libc::SIGHUP, 129, Target::Embedded, 10),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let threshold = "thresholds: [\"clients.gave_up == 0\"]\n";
        let (file, managed) = match target {
            Target::Embedded => (
                embedded_scenario_file(dir.path(), "long", "30s", count, threshold),
                None,
            ),
            Target::Managed => {
                let (file, addr, needle) = managed_target_scenario(dir.path(), count, threshold);
                (file, Some((addr, needle)))
            }
        };
        let out_dir = dir.path().join("out");
        let mut run = spawn(&mut run_command(&file, &out_dir));
        if let Some((addr, _)) = &managed {
            assert!(eventually(Duration::from_secs(15), || accepts(*addr)));
        }
        std::thread::sleep(ms(1500));
        let (exit, stderr) = run.interrupt(signal, false);
        assert_eq!(exit, Some(code), "signal {signal}: {stderr}");

        assert_report_files(&out_dir);
        let json = read_json(&out_dir.join("report.json"));
        assert_eq!(json["interrupted"], true, "signal {signal}");
        assert!(json["elapsed_s"].as_f64().is_some_and(|e| e < 30.0));
        let histograms = json["histograms"].as_object().expect("histograms");
        for name in [
            "connect_time",
            "heartbeat_rtt",
            "reconnect_time",
            "reconnect_attempts",
            "detection",
            "message_rtt",
            "send_lag_heartbeat",
            "send_lag_message",
        ] {
            let h = &histograms[name];
            assert!(h["count"].is_u64() && h["hdr"].is_string(), "{name}: {h}");
        }
        assert!(json["histograms"]["heartbeat_rtt"]["count"].as_u64() > Some(0));
        assert_eq!(
            json["counters"]["closed_manually"], count,
            "signal {signal}: every client closed"
        );
        assert_eq!(json["thresholds"][0]["passed"], true, "signal {signal}");
        if let Some((addr, needle)) = managed {
            assert!(!accepts(addr), "nothing listens on {addr} after the run");
            assert_eq!(
                processes_with(&needle),
                Vec::<u32>::new(),
                "the target is gone"
            );
        }
    }
}

#[test]
fn a_target_that_dies_for_good_still_gets_its_report() {
    let (mut server, addr) = start(&["serve", "--port", "0"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "dies.yaml",
        &format!(
            "name: dies\nseed: 9\nduration: 2500ms\ntarget: {{url: \"ws://{addr}/\"}}\n\
             clients: {{count: 10, heartbeat: {{interval: 200ms, timeout: 400ms}},\n  \
             reconnect: {{backoff: fixed, initial: 100ms, jitter: none}}}}\n\
             thresholds: [\"clients.gave_up == 0\", \"reconnects > 0\"]\n"
        ),
    );
    let out_dir = dir.path().join("out");
    let mut run = spawn(&mut run_command(&file, &out_dir));
    std::thread::sleep(ms(1000));
    server.kill().expect("kill the server");

    let status = wait_bounded(&mut run.0, Duration::from_secs(20));
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    assert_report_files(&out_dir);
    let json = read_json(&out_dir.join("report.json"));
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["counters"]["clients_connected"], 10);
    assert!(
        json["counters"]["connect_failures"].as_u64() > Some(0),
        "{json}"
    );
    // Nothing came back: no connection was re-opened, and that threshold fails.
    assert_eq!(json["counters"]["reconnects"], 0);
    assert_eq!(json["thresholds"][1]["passed"], false);
    assert_eq!(status.code(), Some(1));
}

/// A 30 s scenario of `count` clients, `extra` YAML lines after them, whose target is `wschaos
/// serve` on a free port, started by wschaos itself; returns the file, the target's address and a
/// string only the target's command line holds.
fn managed_target_scenario(
    dir: &std::path::Path,
    count: u32,
    extra: &str,
) -> (std::path::PathBuf, SocketAddr, String) {
    let addr = closed_port();
    let port = addr.port();
    let file = scenario_file(
        dir,
        "managed.yaml",
        &format!(
            "name: managed\nseed: 5\nduration: 30s\n\
             target: {{url: \"ws://{addr}/\", command: [\"{exe}\", serve, --port, \"{port}\"]}}\n\
             clients: {{count: {count}, heartbeat: {{interval: 200ms, timeout: 400ms}}}}\n{extra}",
            exe = env!("CARGO_BIN_EXE_wschaos"),
        ),
    );
    (file, addr, format!("serve --port {port}"))
}

/// SIGKILLs `run` once it is up and fails unless every process whose command line holds
/// `needle` (what `run` started) is gone soon after.
fn assert_sigkill_leaves_nothing_running(mut run: Running, needle: &str) {
    signal(&run.0, libc::SIGKILL);
    let _ = run.0.wait();
    assert!(
        eventually(Duration::from_secs(5), || processes_with(needle).is_empty()),
        "left running: {:?}",
        processes_with(needle)
    );
}

#[test]
fn sigkill_of_wschaos_leaves_no_target_command_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, addr, needle) = managed_target_scenario(dir.path(), 10, "");
    let run = spawn(&mut run_command(&file, &dir.path().join("out")));
    assert!(eventually(Duration::from_secs(15), || accepts(addr)));
    assert!(!processes_with(&needle).is_empty());
    assert_sigkill_leaves_nothing_running(run, &needle);
    assert!(eventually(Duration::from_secs(5), || !accepts(addr)));
}

#[test]
fn sigkill_of_wschaos_procs_leaves_no_shard_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = embedded_scenario_file(dir.path(), "procs-orphans", "30s", 4, "");
    let needle = file.display().to_string();
    let run = spawn(run_command(&file, &dir.path().join("out")).args(["--procs", "2", "--quiet"]));
    let shards_up = || processes_with(&format!("{needle} --shard")).len() == 2;
    assert!(eventually(Duration::from_secs(10), shards_up));
    assert_sigkill_leaves_nothing_running(run, &needle);
}
