//! `clients.on_open` against the scripted server: the frames arrive in order before the first
//! heartbeat on every connection, with the client's id and the connection's number filled in; an
//! expected answer holds everything back until it comes, and a missing one loses the connection
//! as `handshake_rejected` (then backoff and retry, and no reset of the attempt count).

use crate::common::*;
use wschaos::scenario::*;

fn text(template: &str) -> OnOpenItem {
    OnOpenItem {
        frame: OnOpenFrame::Text(Template::parse(template).expect("template")),
        expect: None,
    }
}

fn expecting(template: &str, answer: &str, within_ms: u64) -> OnOpenItem {
    OnOpenItem {
        expect: Some(Expect {
            text_contains: answer.into(),
            within: ms(within_ms),
        }),
        ..text(template)
    }
}

fn text_client(server: &TestServer, count: u32, duration_ms: u64) -> Scenario {
    let mut s = scenario(server.url(), count, ms(duration_ms));
    s.clients.heartbeat.mode = text_heartbeat(HEARTBEAT, ACK);
    s
}

#[test]
fn on_open_frames_arrive_in_order_before_the_first_heartbeat_on_every_connection() {
    // The first connection of each client is closed after 400 ms: the second one is conn 2.
    let server = TestServer::start(Behaviour {
        close_after: Some(ms(400)),
        close_code: 4000,
        close_connections: 2,
        ..Behaviour::default()
    });
    let mut s = text_client(&server, 2, 1500);
    s.clients.heartbeat.interval = ms(100);
    s.clients.on_open = vec![
        text(r#"{"auth":{{client_id}},"conn":{{conn}}}"#),
        OnOpenItem {
            frame: OnOpenFrame::Binary(vec![0x01, 0xff]),
            expect: None,
        },
        text("sub {{client_id}}"),
    ];
    let report = run_scenario(s).report;
    assert_eq!(report.counters.disconnects_close_frame, 2);

    let mut seen = Vec::new();
    for conn in server.connections() {
        let got = &conn.received;
        let Some(Received::Text(auth)) = got.first() else {
            panic!("no auth frame first: {got:?}")
        };
        let auth: serde_json::Value = serde_json::from_str(auth).expect("json");
        let (id, n) = (auth["auth"].as_u64(), auth["conn"].as_u64());
        let (Some(id), Some(n)) = (id, n) else {
            panic!("placeholders not filled: {auth}")
        };
        assert_eq!(got.get(1), Some(&Received::Binary(vec![0x01, 0xff])));
        assert_eq!(got.get(2), Some(&Received::Text(format!("sub {id}"))));
        let rest = &got[3..];
        assert!(
            rest.iter().all(|r| *r == Received::Heartbeat),
            "only heartbeats after on_open: {got:?}"
        );
        assert!(!rest.is_empty(), "heartbeats follow: {got:?}");
        seen.push((id, n));
    }
    seen.sort_unstable();
    assert_eq!(seen, [(0, 1), (0, 2), (1, 1), (1, 2)]);
}

#[test]
fn a_missing_answer_is_handshake_rejected_then_backoff_and_retry_without_heartbeats() {
    // The server echoes "auth 0": no "welcome" in it.
    let server = TestServer::start(Behaviour::default());
    let mut s = text_client(&server, 1, 1500);
    s.clients.heartbeat.interval = ms(50);
    s.clients.on_open = vec![expecting("auth {{client_id}}", "welcome", 200), text("sub")];
    let c = run_scenario(s).report.counters;
    assert!(c.connect_attempts > 1, "{c:?}");
    assert!(c.disconnects_handshake_rejected >= 2, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_handshake_rejected, "{c:?}");
    assert_eq!(c.heartbeats_sent, 0, "{c:?}");
    let conns = server.connections();
    assert!(conns.len() >= 2);
    for conn in &conns {
        assert_eq!(
            conn.received,
            [Received::Text("auth 0".into())],
            "nothing after the unanswered item"
        );
        if let Some(ended) = conn.ended {
            assert!(ended >= conn.opened + ms(150), "not before within");
        }
    }
}

#[test]
fn a_rejected_handshake_is_no_successful_open_so_max_attempts_still_gives_up() {
    let server = TestServer::start(Behaviour::default());
    let mut s = text_client(&server, 1, 3000);
    s.clients.reconnect.initial = ms(50);
    s.clients.reconnect.max_attempts = 3;
    s.clients.on_open = vec![expecting("auth", "welcome", 100)];
    let c = run_scenario(s).report.counters;
    assert_eq!(c.connect_attempts, 3, "{c:?}");
    assert_eq!(c.connects, 3, "each attempt opened at the WebSocket level");
    assert_eq!(c.disconnects_handshake_rejected, 3, "{c:?}");
    assert_eq!(c.gave_up, 1, "{c:?}");
}

#[test]
fn an_answer_lets_the_rest_and_heartbeats_go_and_is_not_counted_as_an_ack() {
    // The answer to the auth item is the heartbeat ack text itself.
    let server = TestServer::start(Behaviour {
        replies: vec![("auth", ACK)],
        ..Behaviour::default()
    });
    let mut s = text_client(&server, 1, 1200);
    s.clients.heartbeat.interval = ms(100);
    s.clients.on_open = vec![expecting("auth {{client_id}}", ACK, 1000), text("sub")];
    let c = run_scenario(s).report.counters;
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert!(c.heartbeats_sent >= 3, "{c:?}");
    assert!(
        c.heartbeat_acks <= c.heartbeats_sent,
        "the answer is no ack: {c:?}"
    );
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    let got = &conns[0].received;
    assert_eq!(
        got[..2],
        [
            Received::Text("auth 0".into()),
            Received::Text("sub".into())
        ]
    );
    assert!(
        got[2..].iter().all(|r| *r == Received::Heartbeat),
        "{got:?}"
    );
}
