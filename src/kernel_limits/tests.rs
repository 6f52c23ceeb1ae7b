use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::proc::fake::{tcp_line, typical, write};
use super::*;

fn ips(n: u8) -> Vec<IpAddr> {
    (0..n).map(|i| IpAddr::from([127, 0, 0, 2 + i])).collect()
}

fn target() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

fn layout(clients: u32, source_ips: &[IpAddr], processes: u32) -> Layout<'_> {
    Layout {
        scope: "this run".into(),
        clients,
        ramp: Duration::from_secs(100),
        source_ips,
        shard: Shard::WHOLE,
        processes,
        embedded: false,
        proxy: false,
        destination: Some(target()),
        target_on_host: true,
    }
}

/// A fake /proc with this machine's values; returns it with its directory.
fn typical_proc() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    typical(root.path());
    root
}

#[test]
fn a_million_clients_over_56_processes_and_41_addresses() {
    let sources = ips(41);
    let needs = layout(1_000_000, &sources, 56).needs();
    assert_eq!(needs.clients_per_process, 17_858, "ceil(1,000,000 / 56)");
    assert_eq!(needs.descriptors_per_process, 17_858 + 64);
    // Both ends on this host, and each process's spare descriptors.
    assert_eq!(needs.descriptors_on_host, 2_000_000 + 56 * 64);
    assert_eq!(needs.sockets_on_host, 2_000_000);
    assert_eq!(needs.connections, 1_000_000);
    assert_eq!(needs.ports.len(), 41);
    // 1,000,000 = 41 x 24,390 + 10: the first ten addresses take one more.
    assert_eq!(needs.ports[0], (PortSource::Bound(sources[0]), 24_391));
    assert_eq!(needs.ports[40], (PortSource::Bound(sources[40]), 24_390));
    assert_eq!(needs.arrivals_per_100ms, Some(1_000));

    let kernel = Kernel::read(typical_proc().path(), &[]);
    let verdict = check(&needs, &kernel);
    assert!(verdict.refusals.is_empty(), "{verdict:?}");
    // 24,391 of 28,232 ports from each address: past half the range, one warning for all 41.
    // 2,000,000 sockets against 575,796 pages: only a warning (a rough minimum).
    assert_eq!(verdict.warnings.len(), 2, "{verdict:?}");
    assert!(
        verdict.warnings[0].starts_with(
            "net.ipv4.ip_local_port_range is 32768 60999: 24391 clients connect from 127.0.0.2, \
             24391 of its 28232 ports (and 40 more source addresses past half): past half the \
             range"
        ) && verdict.warnings[0].ends_with("(at least 71 for 1000000)"),
        "{verdict:?}"
    );
    assert!(verdict.warnings[1].starts_with("net.ipv4.tcp_mem allows 575796 pages (2249 MiB)"));
    // 71 addresses keep each under half: no port warning.
    let spread = ips(71);
    let verdict = check(&layout(1_000_000, &spread, 56).needs(), &kernel);
    assert_eq!(verdict.warnings.len(), 1, "{verdict:?}");
    assert!(verdict.warnings[0].starts_with("net.ipv4.tcp_mem"));
}

#[test]
fn a_shard_checks_its_own_share() {
    let sources = ips(3);
    let mut shard = layout(70, &sources, 1);
    shard.shard = Shard { index: 2, count: 8 };
    shard.embedded = true;
    shard.proxy = true;
    let needs = shard.needs();
    // Clients 2, 10, 18, ..., 66: nine of them.
    assert_eq!(needs.clients_per_process, 9);
    // Each client: its socket, the proxy's two, the embedded server's one.
    assert_eq!(needs.descriptors_per_process, 9 * 4 + 64);
    assert_eq!(needs.connections, 18);
    // Client c uses source c % 3: 2, 10, 18, ... -> 2, 1, 0, 2, 1, 0, 2, 1, 0.
    assert_eq!(
        needs.ports,
        vec![
            (PortSource::Bound(sources[0]), 3),
            (PortSource::Bound(sources[1]), 3),
            (PortSource::Bound(sources[2]), 3),
            (PortSource::Kernel { destination: None }, 9),
        ]
    );
}

#[test]
fn seventy_thousand_clients_on_one_address_in_one_process_are_refused() {
    let sources = ips(1);
    let needs = layout(70_000, &sources, 1).needs();
    let kernel = Kernel::read(typical_proc().path(), &[PortSource::Bound(sources[0])]);
    let err = check(&needs, &kernel)
        .into_result("this run")
        .expect_err("cannot fit");
    assert!(
        err.starts_with(
            "this host's kernel cannot hold this run (checked before connecting anything):"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "the descriptor limit (RLIMIT_NOFILE, `ulimit -Hn`) is 20000: one process of this \
             run needs 70064 descriptors (70000 clients in it)"
        ),
        "{err}"
    );
    assert!(err.contains("`--procs 4`"), "20,000 - 64 a process: {err}");
    assert!(
        err.contains(
            "net.ipv4.ip_local_port_range is 32768 60999 (28232 ports per source address and \
             destination): 70000 clients connect from 127.0.0.2, 0 of those ports already in use"
        ),
        "{err}"
    );
    // 70,000 > 64,512: no range is wide enough, only more addresses.
    assert!(!err.contains("1024 65535"), "{err}");
    assert!(err.contains("at least 3 for 70000 clients"), "{err}");
}

#[test]
fn ports_in_use_count_against_the_range() {
    let root = typical_proc();
    let sources = ips(1);
    let mut text = String::from("  sl  local_address rem_address\n");
    for port in 40_000..40_010 {
        text.push_str(&tcp_line(SocketAddr::new(sources[0], port), target()));
        text.push('\n');
    }
    write(root.path(), "net/tcp", &text);
    let kernel = Kernel::read(root.path(), &[PortSource::Bound(sources[0])]);
    let fits = layout(28_222, &sources, 2).needs();
    let verdict = check(&fits, &kernel);
    assert!(verdict.refusals.is_empty(), "{verdict:?}");
    assert_eq!(
        verdict.warnings.len(),
        1,
        "past half the range: {verdict:?}"
    );
    assert!(
        verdict.warnings[0].contains("28222 clients connect from 127.0.0.2, 28232 of its 28232"),
        "{verdict:?}"
    );
    // The ports in use count: 14,106 + 10 is exactly half, 14,107 + 10 one past it.
    assert_eq!(
        check(&layout(14_106, &sources, 1).needs(), &kernel),
        Verdict::default()
    );
    assert_eq!(
        check(&layout(14_107, &sources, 1).needs(), &kernel)
            .warnings
            .len(),
        1
    );
    let mut full = String::from("  sl  local_address rem_address\n");
    for port in 32_768..=60_999 {
        full.push_str(&tcp_line(SocketAddr::new(sources[0], port), target()));
        full.push('\n');
    }
    let full_root = typical_proc();
    write(full_root.path(), "net/tcp", &full);
    let all_taken = Kernel::read(full_root.path(), &[PortSource::Bound(sources[0])]);
    assert_eq!(all_taken.ports_in_use, vec![28_232]);
    let verdict = check(&layout(1, &sources, 1).needs(), &all_taken);
    assert!(
        verdict.refusals[0].ends_with("every port of the range is taken: wait for those connections to close, or connect from other clients.source_ips"),
        "{verdict:?}"
    );
    let one_more = layout(28_223, &sources, 2).needs();
    let verdict = check(&one_more, &kernel);
    assert_eq!(verdict.refusals.len(), 1, "{verdict:?}");
    assert!(
        verdict.refusals[0].contains("28223 clients connect from 127.0.0.2, 10 of those ports"),
        "{verdict:?}"
    );
    assert!(
        verdict.refusals[0].contains("`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`"),
        "{verdict:?}"
    );
}

#[test]
fn without_source_addresses_the_ports_are_per_destination() {
    let root = typical_proc();
    let mut text = String::from("  sl  local_address rem_address\n");
    let other = SocketAddr::from(([127, 0, 0, 1], 9001));
    text.push_str(&tcp_line(
        "127.0.0.1:40000".parse().expect("addr"),
        target(),
    ));
    text.push('\n');
    text.push_str(&tcp_line("127.0.0.1:40001".parse().expect("addr"), other));
    text.push('\n');
    write(root.path(), "net/tcp", &text);
    let needs = layout(28_231, &[], 2).needs();
    assert_eq!(
        needs.ports,
        vec![(
            PortSource::Kernel {
                destination: Some(target())
            },
            28_231
        )]
    );
    let sources: Vec<PortSource> = needs.ports.iter().map(|(s, _)| *s).collect();
    let kernel = Kernel::read(root.path(), &sources);
    assert_eq!(
        kernel.ports_in_use,
        vec![1],
        "only the socket to the same destination"
    );
    let verdict = check(&needs, &kernel);
    assert!(verdict.refusals.is_empty(), "{verdict:?}");
    assert!(
        verdict.warnings[0].contains("set clients.source_ips to loopback addresses (at least 2"),
        "{verdict:?}"
    );
    let verdict = check(&layout(28_232, &[], 2).needs(), &kernel);
    assert!(
        verdict.refusals[0].contains("28232 connections go to 127.0.0.1:9000 from one address")
            && verdict.refusals[0].contains("set clients.source_ips to at least 2"),
        "{verdict:?}"
    );
}

#[test]
fn embedded_targets_spread_the_destinations_over_the_processes() {
    let mut whole = layout(100_000, &[], 8);
    whole.embedded = true;
    whole.destination = None;
    let needs = whole.needs();
    assert_eq!(
        needs.ports,
        vec![(PortSource::Kernel { destination: None }, 12_500)]
    );
    assert_eq!(needs.descriptors_per_process, 2 * 12_500 + 64);
    let kernel = Kernel::read(typical_proc().path(), &[]);
    let verdict = check(&needs, &kernel);
    assert!(
        verdict.refusals[0].starts_with("the descriptor limit")
            && verdict.refusals[0].contains("`--procs 11`"),
        "200,000 descriptors at 19,936 a process: {verdict:?}"
    );
}

#[test]
fn the_hosts_file_limit_and_nr_open() {
    let root = typical_proc();
    write(root.path(), "sys/fs/file-max", "100000\n");
    write(root.path(), "sys/fs/file-nr", "40000\t0\t100000\n");
    write(root.path(), "sys/fs/nr_open", "10000\n");
    let sources = ips(4);
    let kernel = Kernel::read(root.path(), &[]);
    let verdict = check(&layout(40_000, &sources, 2).needs(), &kernel);
    assert_eq!(verdict.refusals.len(), 2, "{verdict:?}");
    assert!(
        verdict.refusals[0]
            .starts_with("fs.nr_open is 10000: one process of this run needs 20064 descriptors")
            && verdict.refusals[0].contains("`--procs 5`"),
        "nr_open is named before the rlimit under it: {verdict:?}"
    );
    assert_eq!(
        verdict.refusals[1],
        "fs.file-max is 100000 with 40000 files open: this run needs 80128 more descriptors on \
         this host; raise it with `sysctl -w fs.file-max=132140`"
    );
}

#[test]
fn connection_tracking_refuses_only_when_it_tracks() {
    let root = typical_proc();
    write(root.path(), "sys/net/netfilter/nf_conntrack_max", "1000\n");
    write(root.path(), "sys/net/netfilter/nf_conntrack_count", "0\n");
    let sources = ips(1);
    let needs = layout(2_000, &sources, 1).needs();
    let verdict = check(&needs, &Kernel::read(root.path(), &[]));
    assert!(verdict.refusals.is_empty(), "{verdict:?}");
    assert!(
        verdict.warnings[0].starts_with("net.netfilter.nf_conntrack_max is 1000 with 0 tracked")
            && verdict.warnings[0].ends_with("(if this host tracks these connections)"),
        "{verdict:?}"
    );
    write(root.path(), "sys/net/netfilter/nf_conntrack_count", "1\n");
    let verdict = check(&needs, &Kernel::read(root.path(), &[]));
    assert_eq!(verdict.refusals.len(), 1, "{verdict:?}");
    assert!(
        verdict.refusals[0].contains("nf_conntrack_max=2201"),
        "{verdict:?}"
    );
}

#[test]
fn a_burst_at_a_local_listener_warns_about_its_queue() {
    let sources = ips(1);
    let mut burst = layout(5_000, &sources, 1);
    burst.ramp = Duration::ZERO;
    let kernel = Kernel::read(typical_proc().path(), &[]);
    let verdict = check(&burst.needs(), &kernel);
    assert!(verdict.refusals.is_empty(), "{verdict:?}");
    assert!(
        verdict.warnings[0].starts_with(
            "net.core.somaxconn is 4096: about 5000 clients of this run arrive at a listener"
        ),
        "{verdict:?}"
    );
    // The same burst at a target elsewhere: this host's queue is not in the way.
    burst.target_on_host = false;
    assert_eq!(check(&burst.needs(), &kernel), Verdict::default());
}

#[test]
fn preflight_reads_the_fake_proc() {
    let root = typical_proc();
    let sources = ips(8);
    assert_eq!(
        preflight_in(root.path(), &layout(100_000, &sources, 6)),
        Ok(vec![])
    );
    let err = preflight_in(root.path(), &layout(100_000, &sources, 1)).expect_err("one process");
    assert!(err.contains("needs 100064 descriptors"), "{err}");
}
