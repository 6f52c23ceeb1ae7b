//! `wschaos serve --procs N`: N processes share one port (SO_REUSEPORT) and die together.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn siblings_on(port: u16) -> usize {
    let needle = format!("--reuse-port --host 127.0.0.1 --port {port} ");
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read(e.path().join("cmdline"))
                        .map(|c| {
                            String::from_utf8_lossy(&c)
                                .replace('\0', " ")
                                .contains(&needle)
                        })
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn serve_procs_shares_one_port_and_the_siblings_die_with_the_parent() {
    let mut parent = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["serve", "--port", "0", "--procs", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut first = String::new();
    BufReader::new(parent.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("address line");
    let addr: std::net::SocketAddr = first.trim().parse().expect("address");
    assert_eq!(siblings_on(addr.port()), 2);

    let s = scenario(ws_url(addr), 60, ms(800));
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, 60);

    let _ = parent.kill();
    let _ = parent.wait();
    // The siblings get SIGKILL when their parent dies; give the kernel a moment.
    for _ in 0..50 {
        if siblings_on(addr.port()) == 0 {
            break;
        }
        std::thread::sleep(ms(20));
    }
    assert_eq!(siblings_on(addr.port()), 0);
}
