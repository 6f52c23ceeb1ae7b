//! `wschaos serve --max-conns N` and `target.max_conns`: the embedded server holds at most N
//! WebSocket connections; an upgrade past them gets `503 Service Unavailable` and the connection
//! ends; a slot frees when a connection closes. Clients count the 503 as a rejected connect.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::common::*;
use wschaos::scenario::TargetUrl;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends an upgrade request on a new connection and returns it with the response head.
fn upgrade(addr: SocketAddr) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(ms(3000))).expect("timeout");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).expect("send the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (tcp, String::from_utf8_lossy(&head).into_owned())
}

fn accepted(head: &str) -> bool {
    head.starts_with("HTTP/1.1 101 ")
}

/// A refusal at the limit: 503, `Connection: close`, then the end of the stream.
fn refused_and_closed(tcp: &mut TcpStream, head: &str) -> bool {
    let mut rest = [0u8; 16];
    head.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
        && head.to_ascii_lowercase().contains("connection: close")
        && matches!(tcp.read(&mut rest), Ok(0))
}

/// Opens `count` connections one after another; the accepted ones, and the refused count.
fn open(addr: SocketAddr, count: usize) -> (Vec<TcpStream>, usize) {
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..count {
        let (mut tcp, head) = upgrade(addr);
        if accepted(&head) {
            open.push(tcp);
        } else {
            assert!(refused_and_closed(&mut tcp, &head), "{head:?}");
            refused += 1;
        }
    }
    (open, refused)
}

/// Whether a new upgrade is accepted within a few seconds (the server sees a close a little
/// after the client makes it).
fn accepted_again(addr: SocketAddr) -> Option<TcpStream> {
    for _ in 0..100 {
        let (tcp, head) = upgrade(addr);
        if accepted(&head) {
            return Some(tcp);
        }
        std::thread::sleep(ms(30));
    }
    None
}

#[test]
fn serve_max_conns_refuses_past_the_limit_with_503_until_a_connection_closes() {
    let (_server, addr) = start(&["serve", "--port", "0", "--max-conns", "3"]);
    let (mut open_now, refused) = open(addr, 5);
    assert_eq!((open_now.len(), refused), (3, 2));

    drop(open_now.pop());
    let again = accepted_again(addr);
    assert!(again.is_some(), "a slot frees when a connection closes");
    let (_, refused) = open(addr, 1);
    assert_eq!(refused, 1, "and the limit holds again once it is taken");
}

#[test]
fn the_limit_holds_over_all_the_procs_together() {
    let (_server, addr) = start(&["serve", "--port", "0", "--procs", "2", "--max-conns", "3"]);
    // The kernel spreads new connections over both processes; still 3 in all.
    let (open_now, refused) = open(addr, 8);
    assert_eq!((open_now.len(), refused), (3, 5));
}

#[test]
fn a_run_against_a_limited_embedded_target_counts_the_refusals_as_rejected_connects() {
    let mut s = scenario(TargetUrl::Embedded, 5, ms(1500));
    s.target.max_conns = Some(3);
    let report = run_scenario(s).report;
    let c = &report.counters;
    assert_eq!(c.clients_connected, 3, "{c:?}");
    assert!(c.connect_failures_rejected >= 2, "{c:?}");
    assert_eq!(c.connect_failures, c.connect_failures_rejected, "{c:?}");
    let server = report.server.expect("the embedded server's counts");
    assert_eq!(server.refused_full, c.connect_failures_rejected);
    assert!(
        wschaos::report::render_summary(&report).contains("rejected: HTTP status, not 101"),
        "the summary names the cause"
    );
}
