//! `target.protocol: graphql-ws` against a real third-party server — the `graphql-ws` package's
//! own server on Node's `ws` with `graphql`'s executor (`tests/node/graphql_ws_server.js`,
//! skipped with a note where node or the packages are missing) — and against servers that do
//! not speak it: the embedded echo server, a silent one, one that closes with the protocol's
//! codes (the scriptable test server).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::common::child_server::{ChildServer, node_dir, node_missing};
use crate::common::run_scenario;
use crate::common::server::{Behaviour, Received, TestServer};
use wschaos::report::Report;
use wschaos::scenario::parse;

/// Ticks per second of the Node server's `counter` subscription.
const RATE: u32 = 20;
/// How long the Node server may take to print its counts after a run (it prints every 200 ms).
const SETTLE: Duration = Duration::from_millis(700);

const SUBSCRIBE: &str = "  graphql_ws:
    init_payload: {token: t}
    subscribe: {query: 'subscription { counter { seq sent_at } }'}
";
const STREAM: &str = "  stream: {seq: /seq, sent_at: /sent_at}\n";

/// A run of 4 clients for `duration` against `url` (`protocol` and its settings in `target`,
/// anything else for `clients` in `extra`), heartbeats every 200 ms.
fn run(url: &str, target: &str, duration: &str, extra: &str) -> Report {
    run_with(
        "{interval: 200ms, timeout: 1s}",
        url,
        target,
        duration,
        extra,
    )
}

/// `run` with these `clients.heartbeat` settings.
fn run_with(heartbeat: &str, url: &str, target: &str, duration: &str, extra: &str) -> Report {
    let yaml = format!(
        "name: gqlws\nseed: 5\nduration: {duration}\ntarget:\n  url: {url}\n{target}clients:\n  \
         count: 4\n  connect_timeout: 1s\n  heartbeat: {heartbeat}\n  \
         reconnect: {{backoff: fixed, initial: 200ms, jitter: none}}\n{extra}"
    );
    let scenario = parse(&yaml, "gqlws.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    run_scenario(scenario).report
}

fn graphql(settings: &str) -> String {
    format!("  protocol: graphql-ws\n{settings}")
}

/// The Node graphql-ws server, killed when dropped.
struct NodeGraphql(ChildServer);

impl NodeGraphql {
    /// `None` (after a printed note) where Node or the packages are missing.
    fn start(test: &str) -> Option<Self> {
        if let Some(why) = ["graphql-ws", "graphql", "ws"]
            .into_iter()
            .find_map(node_missing)
        {
            eprintln!("SKIPPED graphql_ws::{test}: {why}");
            return None;
        }
        let mut command = Command::new("node");
        command
            .arg(node_dir().join("graphql_ws_server.js"))
            .args(["--rate", &RATE.to_string()]);
        Some(Self(ChildServer::start(command)))
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.0.port)
    }

    /// The server's latest counts of what clients sent it, once it has been quiet a moment.
    fn received(&self) -> BTreeMap<String, u64> {
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.0.lines.recv_timeout(SETTLE) {
                Ok(line) => last = line.strip_prefix("stats ").map(str::to_string).or(last),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let last = last.expect("a stats line from the server");
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"))
    }
}

#[test]
fn against_the_graphql_ws_package_acks_are_timed_pings_match_and_the_subscription_has_no_gaps() {
    let Some(server) = NodeGraphql::start(
        "against_the_graphql_ws_package_acks_are_timed_pings_match_and_the_subscription_has_no_gaps",
    ) else {
        return;
    };
    let report = run(&server.url(), &graphql(SUBSCRIBE), "3s", STREAM);
    let received = server.received();
    let c = &report.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert_eq!(report.histograms["connection_ack_time"].count, 4);
    assert!(report.histograms["connection_ack_time"].p50 > 0);

    // Every client pinged; the server received what the report says was sent, less the pings
    // still in flight when the run ended (at most one per client).
    assert_eq!(received["pinging_connections"], 4, "{received:?}");
    assert!(c.heartbeats_sent >= 4 * 8, "{c:?}");
    assert!(received["ping"] <= c.heartbeats_sent, "{received:?} {c:?}");
    assert!(
        received["ping"] + 4 >= c.heartbeats_sent,
        "{received:?} {c:?}"
    );
    assert!(c.heartbeat_acks + 4 >= c.heartbeats_sent, "{c:?}");
    assert_eq!(c.heartbeat_misses, 0, "{c:?}");
    assert_eq!(
        report.histograms["heartbeat_rtt"].count, c.heartbeat_acks,
        "the reference server echoes the ping's payload: every pong has its RTT"
    );

    // The subscription: one per connection, every tick in order, completed before the close.
    assert_eq!(received["connection_init"], 4, "{received:?}");
    assert_eq!(received["subscribe"], 4, "{received:?}");
    assert_eq!(received["complete"], 4, "{received:?}");
    assert_eq!(received["other"], 0, "{received:?}");
    assert!(c.push_received >= 4 * u64::from(RATE), "{c:?}");
    assert_eq!(
        (
            c.push_gaps,
            c.push_duplicates,
            c.push_reordered,
            c.push_unparsed
        ),
        (0, 0, 0, 0),
        "{c:?}"
    );
    assert_eq!(report.histograms["push_latency"].count, c.push_received);
    assert_eq!(
        (c.graphql_ws_errors, c.graphql_ws_completes),
        (0, 0),
        "{c:?}"
    );
    assert_eq!(report.scenario.protocol, "graphql-ws");
    let summary = wschaos::report::render_summary(&report);
    assert!(
        summary.contains(&format!(
            "graphql   connection acks 4  no ack 0  server pings answered {}  \
             subscription errors 0  completed by the server 0\n",
            c.graphql_ws_server_pings
        )),
        "{summary}"
    );
}

#[test]
fn a_reconnected_graphql_ws_subscription_counts_the_ticks_it_missed() {
    let Some(server) =
        NodeGraphql::start("a_reconnected_graphql_ws_subscription_counts_the_ticks_it_missed")
    else {
        return;
    };
    let drop = "faults:\n  - {kind: drop, at: 1s, fraction: 1.0, mode: reset}\n";
    let report = run(
        &server.url(),
        &graphql(SUBSCRIBE),
        "3s",
        &format!("{STREAM}{drop}"),
    );
    let received = server.received();
    let c = &report.counters;
    assert_eq!((c.disconnects_dropped, c.reconnects), (4, 4), "{c:?}");
    assert_eq!(report.histograms["connection_ack_time"].count, 8);
    assert_eq!(received["connection_init"], 8, "{received:?}");
    assert_eq!(received["subscribe"], 8, "{received:?}");
    // 200 ms of backoff at 20 ticks a second: a few ticks per client went by unseen.
    assert!(c.push_missed_across_outage >= 4, "{c:?}");
    assert_eq!(c.push_gaps, 0, "{c:?}");
    assert_eq!(c.heartbeat_misses, 0, "{c:?}");
}

#[test]
fn the_proxy_faults_act_on_graphql_ws_pongs() {
    let Some(server) = NodeGraphql::start("the_proxy_faults_act_on_graphql_ws_pongs") else {
        return;
    };
    // Pongs held 300 ms for the first second: every RTT of that second is at least that.
    let delayed = run(
        &server.url(),
        &graphql(""),
        "2s",
        "faults:\n  - {kind: delay_pongs, at: 0s, duration: 1s, delay: 300ms}\n",
    );
    let rtt = &delayed.histograms["heartbeat_rtt"];
    assert!(rtt.max >= 300_000, "{} us", rtt.max);
    assert_eq!(
        delayed.counters.heartbeat_misses, 0,
        "{:?}",
        delayed.counters
    );
    // No pong for 1.5 s against a 1 s timeout: every client declares the server dead and
    // comes back once the fault is over.
    let stopped = run(
        &server.url(),
        &graphql(""),
        "4s",
        "faults:\n  - {kind: stop_acking, at: 500ms, duration: 1500ms}\n",
    );
    let c = &stopped.counters;
    assert!(c.disconnects_heartbeat_timeout >= 4, "{c:?}");
    assert!(c.reconnects >= 4, "{c:?}");
    assert_eq!(c.gave_up, 0, "{c:?}");
}

#[test]
fn raw_clients_against_the_graphql_ws_package_are_closed_with_4406() {
    let Some(server) =
        NodeGraphql::start("raw_clients_against_the_graphql_ws_package_are_closed_with_4406")
    else {
        return;
    };
    let report = run(&server.url(), "", "2s", "");
    let c = &report.counters;
    assert!(c.disconnects_close_frame >= 4, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_close_frame, "{c:?}");
    assert_eq!(
        report.close_codes.keys().collect::<Vec<_>>(),
        ["4406"],
        "Subprotocol not acceptable"
    );
}
#[test]
fn graphql_ws_clients_against_an_echo_server_fail_with_no_connection_ack_and_back_off() {
    let addr = crate::common::server::embedded_on_own_thread(None);
    let report = run(&format!("ws://{addr}/"), &graphql(""), "2s", "");
    let c = &report.counters;
    // The echoed connection_init is no ack: each connection ends at once, and the client
    // tries again after its 200 ms backoff (the attempts never reset: none was established).
    assert!(c.disconnects_no_connection_ack >= 4 * 3, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_no_connection_ack, "{c:?}");
    assert!(c.disconnects_no_connection_ack <= 4 * 11, "{c:?}");
    assert_eq!((c.heartbeats_sent, c.push_received), (0, 0), "{c:?}");
    assert_eq!(report.histograms["connection_ack_time"].count, 0);
}

#[test]
fn a_server_that_never_acks_is_left_after_connect_timeout() {
    // Answers connection_init with a pong (allowed before the ack, and no ack).
    let server = TestServer::start(Behaviour {
        replies: vec![(r#"{"type":"connection_init""#, r#"{"type":"pong"}"#)],
        ..Behaviour::default()
    });
    let started = Instant::now();
    let report = run(
        &format!("ws://{}/", server.addr),
        &graphql(""),
        "2500ms",
        "",
    );
    let c = &report.counters;
    // connect_timeout 1s, then 200 ms of backoff: two or three connections per client.
    assert!(
        (8..=12).contains(&c.disconnects_no_connection_ack),
        "{c:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(c.disconnects(), c.disconnects_no_connection_ack, "{c:?}");
    let connections = server.connections();
    let first = &connections[0];
    assert_eq!(
        first.received.first(),
        Some(&Received::Text(r#"{"type":"connection_init"}"#.into()))
    );
    let lived = first.ended.map(|end| end - first.opened);
    assert!(
        lived.is_some_and(|d| d >= Duration::from_millis(900)),
        "{lived:?}"
    );
}

#[test]
fn a_graphql_ws_close_code_is_counted_by_code() {
    let server = TestServer::start(Behaviour {
        replies: vec![
            (
                r#"{"type":"connection_init""#,
                r#"{"type":"connection_ack"}"#,
            ),
            (r#"{"type":"ping""#, r#"{"type":"pong"}"#),
        ],
        close_after: Some(Duration::from_millis(300)),
        close_code: 4403,
        close_connections: 4,
        ..Behaviour::default()
    });
    let report = run(&format!("ws://{}/", server.addr), &graphql(""), "2s", "");
    let c = &report.counters;
    assert_eq!(c.disconnects_close_frame, 4, "{c:?}");
    assert_eq!(c.disconnects(), 4, "{c:?}");
    assert_eq!(report.close_codes.get("4403"), Some(&4));
    assert_eq!(c.reconnects, 4, "{c:?}");
    assert_eq!(report.histograms["connection_ack_time"].count, 8);
}

#[test]
fn server_pings_are_answered_and_a_message_that_is_not_graphql_ws_closes_with_4400() {
    // Each client ping is answered with a server ping (no pong): the client answers those.
    let server = TestServer::start(Behaviour {
        replies: vec![
            (
                r#"{"type":"connection_init""#,
                r#"{"type":"connection_ack"}"#,
            ),
            (r#"{"type":"ping""#, r#"{"type":"ping"}"#),
        ],
        ..Behaviour::default()
    });
    let report = run_with(
        "{interval: 200ms, timeout: 10s}",
        &format!("ws://{}/", server.addr),
        &graphql(""),
        "1500ms",
        "",
    );
    let c = &report.counters;
    assert!(c.graphql_ws_server_pings >= 4 * 4, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    let pongs: usize = server
        .connections()
        .iter()
        .map(|conn| {
            conn.received
                .iter()
                .filter(|r| **r == Received::Text(r#"{"type":"pong"}"#.into()))
                .count()
        })
        .sum();
    assert_eq!(pongs as u64, c.graphql_ws_server_pings, "{c:?}");

    // The same pings answered with text that is not graphql-ws.
    let garbage = TestServer::start(Behaviour {
        replies: vec![
            (
                r#"{"type":"connection_init""#,
                r#"{"type":"connection_ack"}"#,
            ),
            (r#"{"type":"ping""#, "Heartbeat"),
        ],
        ..Behaviour::default()
    });
    let report = run(
        &format!("ws://{}/", garbage.addr),
        &graphql(""),
        "1500ms",
        "",
    );
    let c = &report.counters;
    assert!(c.disconnects_protocol_error >= 4, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_protocol_error, "{c:?}");
    let closes: Vec<_> = garbage
        .connections()
        .iter()
        .map(|conn| conn.client_close)
        .collect();
    assert!(closes.contains(&Some(4400)), "{closes:?}");
}

#[test]
fn a_subscription_the_server_refuses_counts_an_error_and_the_connection_stays() {
    let server = TestServer::start(Behaviour {
        replies: vec![
            (
                r#"{"type":"connection_init""#,
                r#"{"type":"connection_ack"}"#,
            ),
            (
                // The subscribe message (its keys in order: id, payload, type).
                r#"{"id":"1","payload""#,
                r#"{"id":"1","type":"error","payload":[{"message":"no such field"}]}"#,
            ),
            (r#"{"type":"ping""#, r#"{"type":"pong"}"#),
        ],
        ..Behaviour::default()
    });
    let report = run(
        &format!("ws://{}/", server.addr),
        &graphql("  graphql_ws: {subscribe: {query: 'subscription { nothing }'}}\n"),
        "1s",
        "",
    );
    let c = &report.counters;
    assert_eq!(
        (c.graphql_ws_errors, c.graphql_ws_completes),
        (4, 0),
        "{c:?}"
    );
    assert_eq!((c.disconnects(), c.push_received), (0, 0), "{c:?}");
    assert!(c.heartbeat_acks > 0, "{c:?}");
    // The subscription ended: no complete for it at the close.
    let completes = server
        .connections()
        .iter()
        .flat_map(|conn| conn.received.clone())
        .filter(|r| matches!(r, Received::Text(t) if t.contains(r#""type":"complete""#)))
        .count();
    assert_eq!(completes, 0);
}
