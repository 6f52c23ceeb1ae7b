//! `wschaos serve --procs N`: N processes share one port (SO_REUSEPORT) and die together.

use crate::common::*;

fn siblings_on(port: u16) -> usize {
    processes_with(&format!("--reuse-port --host 127.0.0.1 --port {port} ")).len()
}

#[test]
fn serve_procs_shares_one_port_and_the_siblings_die_with_the_parent() {
    let (mut parent, addr) = start(&["serve", "--port", "0", "--procs", "3"]);
    assert_eq!(siblings_on(addr.port()), 2);

    let s = scenario(ws_url(addr), 60, ms(800));
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, 60);

    let _ = parent.kill();
    // The siblings get SIGKILL when their parent dies; give the kernel a moment.
    for _ in 0..50 {
        if siblings_on(addr.port()) == 0 {
            break;
        }
        std::thread::sleep(ms(20));
    }
    assert_eq!(siblings_on(addr.port()), 0);
}
