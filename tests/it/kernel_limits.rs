//! The kernel-capacity preflight: a run the kernel cannot hold is refused before any client
//! connects, naming the limit and how to raise it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::*;

/// 70,000 clients from one source address in one process: more than any port range holds, and
/// (with the descriptor limit lowered to 4,096 for the child) more descriptors than it may open.
#[test]
fn a_run_past_the_port_range_and_the_descriptor_limit_is_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "too_many.yaml",
        &format!(
            "name: too_many\nduration: 5s\ntarget: {{url: \"ws://{addr}/\"}}\n\
             clients: {{count: 70000, ramp: 1s, source_ips: [127.0.0.2]}}\n"
        ),
    );
    let out = dir.path().join("out");
    let mut command = run_command(&file, &out);
    // SAFETY: setrlimit only lowers this child's own limit between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "too_many.yaml",
        &format!(
            "name: too_many\nduration: 5s\ntarget: {{url: \"ws://{addr}/\"}}\n\
             clients: {{count: 70000, ramp: 1s, source_ips: [127.0.0.2]}}\n"
        ),
    );
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
