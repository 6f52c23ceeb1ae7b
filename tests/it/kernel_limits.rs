//! The kernel-capacity preflight: a run the kernel cannot hold is refused before any client
//! connects, naming the limit and how to raise it.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// Runs `command` with its descriptor limit (soft and hard) at `limit`.
fn limit_descriptors(command: &mut std::process::Command, limit: libc::rlim_t) {
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limit between fork
    // and exec, and the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A listener no client of a refused run may reach, and its address.
fn idle_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// 70,000 clients from one source address against `addr`.
fn too_many_from_one_address(dir: &Path, addr: SocketAddr) -> PathBuf {
    scenario_file(
        dir,
        "too_many.yaml",
        &format!(
            "name: too_many\nduration: 5s\ntarget: {{url: \"ws://{addr}/\"}}\n\
             clients: {{count: 70000, ramp: 1s, source_ips: [127.0.0.2]}}\n"
        ),
    )
}

/// 70,000 clients from one source address in one process: more than any port range holds, and
/// (with the descriptor limit lowered to 4,096 for the child) more descriptors than it may open.
#[test]
fn a_run_past_the_port_range_and_the_descriptor_limit_is_refused_before_connecting() {
    let (listener, addr) = idle_listener();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = too_many_from_one_address(dir.path(), addr);
    let out = dir.path().join("out");
    let mut command = run_command(&file, &out);
    limit_descriptors(&mut command, 4096);
    let stderr = refused(&mut command);
    assert!(
        stderr.contains(
            "this host's kernel cannot hold this run (checked before connecting anything)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "the descriptor limit (RLIMIT_NOFILE, `ulimit -Hn`) is 4096: one process of this \
             run needs 70064 descriptors"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("net.ipv4.ip_local_port_range is ")
            && stderr.contains("70000 clients connect from 127.0.0.2"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "no client connected");
    assert!(!out.join("report.json").exists(), "no run, no report");
}

/// The same scenario under `--procs`: the whole run is refused on its ports before any shard
/// starts (the descriptors fit once spread).
#[test]
fn a_sharded_run_past_the_port_range_is_refused_before_the_shards_start() {
    let (listener, addr) = idle_listener();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = too_many_from_one_address(dir.path(), addr);
    let out = dir.path().join("out");
    let stderr = refused(run_command(&file, &out).args(["--procs", "40"]));
    assert!(
        stderr.contains("70000 clients connect from 127.0.0.2")
            && stderr.contains("at least 3 for 70000 clients"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("RLIMIT_NOFILE"),
        "1,750 clients a process fit: {stderr}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "no client connected");
    assert!(!out.join("shard-0").exists(), "no shard started");
}

/// 200 clients under a limit of 64 descriptors: refused by default; `--ignore-kernel-limits`
/// runs it anyway (tests/it/self_diagnosis.rs pins what that run then reports).
#[test]
fn a_process_short_of_descriptors_is_refused_unless_told_to_run_anyway() {
    let (listener, addr) = idle_listener();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "short.yaml",
        &format!(
            "name: short\nduration: 1s\ntarget: {{url: \"ws://{addr}/\"}}\nclients: {{count: 200}}\n"
        ),
    );
    let out = dir.path().join("out");
    let mut command = run_command(&file, &out);
    limit_descriptors(&mut command, 64);
    let stderr = refused(&mut command);
    assert!(
        stderr.contains(
            "the descriptor limit (RLIMIT_NOFILE, `ulimit -Hn`) is 64: one process of this run \
             needs 264 descriptors (200 clients in it)"
        ),
        "{stderr}"
    );
    assert!(listener.accept().is_err(), "no client connected");

    let mut command = run_command(&file, &out);
    command.arg("--ignore-kernel-limits");
    limit_descriptors(&mut command, 64);
    let output = command.output().expect("run wschaos");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(--ignore-kernel-limits: running anyway)"),
        "{stderr}"
    );
    assert!(out.join("report.json").exists(), "it ran: {stderr}");
}
