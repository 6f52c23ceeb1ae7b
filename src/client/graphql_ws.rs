//! GraphQL over WebSocket (the `graphql-transport-ws` subprotocol) for one client: the messages
//! it sends (`connection_init`, `subscribe` and `complete` made once per run; each `ping`
//! written into a stack buffer with the heartbeat's sequence number in its payload), what a
//! message from the server is (read from the frame's bytes, no JSON value built per message),
//! and where a `next` message carries the subscription's result: `clients.stream` places are
//! read in the value of the single root field of its `payload.data` (a subscription has exactly
//! one root field), so `/seq` finds `{"data":{"counter":{"seq":7}}}`'s 7.
//!
//! The client actor dispatches to this (`actor/graphql_ws.rs`); the connection counts as
//! established (heartbeats start, the backoff starts over) only once `connection_ack` came.

use std::io::Write;
use std::time::Instant;

use crate::scenario::GraphqlWs;
use crate::scenario::stream::{skip_whitespace, string_end, top_level_u64};

/// What a `pong` the client sends looks like (the answer to a server's `ping`).
pub const PONG: &[u8] = br#"{"type":"pong"}"#;

/// Room for the longest `ping` (`{"type":"ping","payload":{"seq":<20 digits>}}`).
pub type PingBuffer = [u8; 64];

/// The messages a graphql-ws client sends, made once per run.
#[derive(Debug)]
pub struct Wire {
    connection_init: String,
    /// The subscription's `subscribe` and `complete` messages and its id as a JSON string (to
    /// compare with the raw `id` of the server's messages).
    subscription: Option<Subscription>,
}

#[derive(Debug)]
struct Subscription {
    subscribe: String,
    complete: String,
    id_json: String,
}

impl Wire {
    /// The messages of a graphql-ws target (`client::app` makes them once per run).
    pub fn new(settings: &GraphqlWs) -> Wire {
        let mut init = serde_json::Map::new();
        init.insert("type".into(), "connection_init".into());
        if let Some(payload) = &settings.init_payload {
            init.insert("payload".into(), payload.clone().into());
        }
        let subscription = settings.subscribe.as_ref().map(|s| {
            let mut payload = serde_json::Map::new();
            payload.insert("query".into(), s.query.clone().into());
            if let Some(variables) = &s.variables {
                payload.insert("variables".into(), variables.clone().into());
            }
            if let Some(name) = &s.operation_name {
                payload.insert("operationName".into(), name.clone().into());
            }
            let subscribe =
                serde_json::json!({"id": s.id, "type": "subscribe", "payload": payload});
            let complete = serde_json::json!({"id": s.id, "type": "complete"});
            Subscription {
                subscribe: subscribe.to_string(),
                complete: complete.to_string(),
                id_json: serde_json::Value::from(s.id.as_str()).to_string(),
            }
        });
        Wire {
            connection_init: serde_json::Value::Object(init).to_string(),
            subscription,
        }
    }

    pub fn connection_init(&self) -> &[u8] {
        self.connection_init.as_bytes()
    }

    /// The `subscribe` message, if the scenario has a subscription.
    pub fn subscribe(&self) -> Option<&[u8]> {
        self.subscription.as_ref().map(|s| s.subscribe.as_bytes())
    }

    /// The `complete` message that ends the subscription, if the scenario has one.
    pub fn complete(&self) -> Option<&[u8]> {
        self.subscription.as_ref().map(|s| s.complete.as_bytes())
    }

    /// Whether `id` (the raw JSON value of a message's `id`) names our subscription.
    fn is_ours(&self, id: Option<&[u8]>) -> bool {
        match (&self.subscription, id) {
            (Some(s), Some(id)) => id == s.id_json.as_bytes(),
            _ => false,
        }
    }
}

/// A `ping` carrying `seq` (a server that echoes the payload in its `pong`, as the reference
/// server does, gives each heartbeat its exact RTT), written into `buf`.
pub fn ping(seq: u64, buf: &mut PingBuffer) -> &[u8] {
    let len = buf.len();
    let mut rest: &mut [u8] = buf;
    // 36 bytes of text and at most 20 digits: always fits.
    let _ = write!(rest, r#"{{"type":"ping","payload":{{"seq":{seq}}}}}"#);
    let written = len - rest.len();
    &buf[..written]
}

/// What a message from the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    ConnectionAck,
    Ping,
    /// With the sequence number of our `ping` when the server echoed its payload.
    Pong {
        seq: Option<u64>,
    },
    /// A result of our subscription: the value of its root field (`None`: no data, errors
    /// only).
    Next {
        result: Option<&'a [u8]>,
    },
    /// The server ended our subscription: with an error, or completed.
    Ended {
        complete: bool,
    },
    /// `next`, `error` or `complete` of an operation that is not (or no longer) ours: ignored,
    /// as the protocol allows.
    OtherOperation,
    /// A message the protocol has, but not from a server (`connection_init`, `subscribe`): the
    /// raw value of its `type`. An echo server sends these.
    NotFromServer(&'a [u8]),
    /// Not a graphql-ws message at all (no JSON object with a known `type`).
    Invalid,
}

/// Whether a text frame is a graphql-ws `pong` (the chaos proxy's heartbeat ack for
/// graphql-ws scenarios).
pub fn is_pong(text: &[u8]) -> bool {
    Fields::of(text).is_some_and(|mut fields| {
        fields.any(|(key, value)| key == b"type" && value == br#""pong""#)
    })
}

/// Reads one text frame from the server.
pub fn read<'a>(wire: &Wire, text: &'a [u8]) -> Message<'a> {
    let mut kind = None;
    let mut id = None;
    let mut payload = None;
    let Some(fields) = Fields::of(text) else {
        return Message::Invalid;
    };
    for (key, value) in fields {
        match key {
            b"type" => kind = Some(value),
            b"id" => id = Some(value),
            b"payload" => payload = Some(value),
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return Message::Invalid;
    };
    match kind {
        br#""connection_ack""# => Message::ConnectionAck,
        br#""ping""# => Message::Ping,
        br#""pong""# => Message::Pong {
            seq: payload.and_then(|p| top_level_u64(p, b"seq")),
        },
        br#""next""# | br#""error""# | br#""complete""# if !wire.is_ours(id) => {
            Message::OtherOperation
        }
        br#""next""# => Message::Next {
            result: payload.and_then(root_field_value),
        },
        br#""error""# => Message::Ended { complete: false },
        br#""complete""# => Message::Ended { complete: true },
        br#""connection_init""# | br#""subscribe""# => Message::NotFromServer(kind),
        _ => Message::Invalid,
    }
}

/// The value of the one field of `payload.data` (a subscription's single root field).
fn root_field_value(payload: &[u8]) -> Option<&[u8]> {
    let data = Fields::of(payload)?.find(|(key, _)| *key == b"data")?.1;
    Fields::of(data)?.next().map(|(_, value)| value)
}

/// What a graphql-ws connection went through so far.
#[derive(Debug, Clone, Copy)]
pub struct GraphqlConn {
    /// When `connection_init` went out.
    pub init_sent: Instant,
    pub acked: bool,
    /// Our subscription is running: sent, and neither ended by the server nor completed by us.
    pub subscribed: bool,
}

impl GraphqlConn {
    pub fn new(init_sent: Instant) -> Self {
        Self {
            init_sent,
            acked: false,
            subscribed: false,
        }
    }
}

/// The top-level fields of a JSON object, as raw key (between its quotes) and raw value bytes;
/// the iteration stops at the object's end or at anything malformed.
struct Fields<'a> {
    json: &'a [u8],
    at: usize,
    /// No field read yet (the next one has no comma before it).
    first: bool,
}

impl<'a> Fields<'a> {
    fn of(json: &'a [u8]) -> Option<Self> {
        let start = skip_whitespace(json, 0);
        (json.get(start) == Some(&b'{')).then_some(Fields {
            json,
            at: start + 1,
            first: true,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let json = self.json;
        let at = std::mem::replace(&mut self.at, json.len());
        let mut i = skip_whitespace(json, at);
        if !std::mem::take(&mut self.first) {
            if json.get(i) != Some(&b',') {
                return None;
            }
            i = skip_whitespace(json, i + 1);
        }
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(json, i)?;
        let key = &json[i + 1..key_end];
        let colon = skip_whitespace(json, key_end + 1);
        if json.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_whitespace(json, colon + 1);
        let end = value_end(json, start)?;
        self.at = end;
        Some((key, &json[start..end]))
    }
}

/// Where the JSON value starting at `start` ends (exclusive).
fn value_end(json: &[u8], start: usize) -> Option<usize> {
    match json.get(start)? {
        b'"' => string_end(json, start).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < json.len() {
                match json[i] {
                    b'"' => i = string_end(json, i)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = json[start..]
                .iter()
                .take_while(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            (len > 0).then_some(start + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{GraphqlSubscribe, Place};

    fn wire(id: &str) -> Wire {
        Wire::new(&GraphqlWs {
            init_payload: serde_json::json!({"token": "t"}).as_object().cloned(),
            subscribe: Some(GraphqlSubscribe {
                id: id.into(),
                query: "subscription { counter { seq } }".into(),
                variables: serde_json::json!({"every": 5}).as_object().cloned(),
                operation_name: None,
            }),
        })
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn a_pong_is_told_from_other_messages_whatever_its_payload() {
        assert!(is_pong(br#"{"type":"pong"}"#));
        assert!(is_pong(br#"{"type": "pong", "payload": {"seq": 3}}"#));
        assert!(is_pong(br#"{"payload":{"type":"ping"},"type":"pong"}"#));
        assert!(!is_pong(br#"{"type":"ping"}"#));
        assert!(!is_pong(
            br#"{"type":"next","id":"1","payload":{"data":{"type":"pong"}}}"#
        ));
        assert!(!is_pong(b"pong"));
    }

    #[test]
    fn the_client_messages_are_the_protocols_json() {
        let w = wire("a\"b");
        assert_eq!(
            json(w.connection_init()),
            serde_json::json!({"type": "connection_init", "payload": {"token": "t"}})
        );
        assert_eq!(
            json(w.subscribe().expect("subscribe")),
            serde_json::json!({"id": "a\"b", "type": "subscribe", "payload": {
                "query": "subscription { counter { seq } }", "variables": {"every": 5}}})
        );
        assert_eq!(
            json(w.complete().expect("complete")),
            serde_json::json!({"id": "a\"b", "type": "complete"})
        );
        let bare = Wire::new(&GraphqlWs::default());
        assert_eq!(bare.connection_init(), br#"{"type":"connection_init"}"#);
        assert_eq!((bare.subscribe(), bare.complete()), (None, None));

        let mut buf: PingBuffer = [0; 64];
        assert_eq!(
            json(ping(u64::MAX, &mut buf)),
            serde_json::json!({"type": "ping", "payload": {"seq": u64::MAX}})
        );
        assert_eq!(ping(7, &mut buf), br#"{"type":"ping","payload":{"seq":7}}"#);
        assert_eq!(json(PONG), serde_json::json!({"type": "pong"}));
    }

    #[test]
    fn server_messages_are_told_apart_by_type_and_operation_id() {
        let w = wire("1");
        fn read<'a>(w: &Wire, text: &'a str) -> Message<'a> {
            super::read(w, text.as_bytes())
        }
        let read = |text: &'static str| read(&w, text);
        assert_eq!(read(r#"{"type":"connection_ack"}"#), Message::ConnectionAck);
        assert_eq!(
            read(r#" { "payload" : {"x": [1, {"y": "}"}]}, "type" : "connection_ack" } "#),
            Message::ConnectionAck
        );
        assert_eq!(read(r#"{"type":"ping"}"#), Message::Ping);
        assert_eq!(read(r#"{"type":"pong"}"#), Message::Pong { seq: None });
        assert_eq!(
            read(r#"{"type":"pong","payload":{"seq":41}}"#),
            Message::Pong { seq: Some(41) }
        );
        assert_eq!(
            read(r#"{"type":"pong","payload":null}"#),
            Message::Pong { seq: None }
        );
        let next =
            r#"{"id":"1","type":"next","payload":{"data":{"counter":{"seq":7,"sent_at":9}}}}"#;
        let Message::Next {
            result: Some(result),
        } = read(next)
        else {
            panic!("a result expected")
        };
        assert_eq!(result, br#"{"seq":7,"sent_at":9}"#);
        assert_eq!(Place::JsonField("seq".into()).read(true, result), Some(7));
        assert_eq!(
            read(r#"{"id":"1","type":"next","payload":{"errors":[{"message":"x"}]}}"#),
            Message::Next { result: None }
        );
        assert_eq!(
            read(r#"{"id":"1","type":"next","payload":{"data":null}}"#),
            Message::Next { result: None }
        );
        assert_eq!(
            read(r#"{"id":"1","type":"error","payload":[{"message":"bad"}]}"#),
            Message::Ended { complete: false }
        );
        assert_eq!(
            read(r#"{"type":"complete","id":"1"}"#),
            Message::Ended { complete: true }
        );
        for other in [
            r#"{"id":"2","type":"next","payload":{"data":{"c":1}}}"#,
            r#"{"type":"complete"}"#,
            r#"{"id":1,"type":"complete"}"#,
        ] {
            assert_eq!(read(other), Message::OtherOperation, "{other}");
        }
        assert_eq!(
            read(r#"{"type":"connection_init","payload":{}}"#),
            Message::NotFromServer(br#""connection_init""#)
        );
        for invalid in [
            "",
            "Heartbeat",
            "[1]",
            r#"{"type":"hello"}"#,
            r#"{"kind":"ping"}"#,
            r#"{"type":ping}"#,
            r#"{"type""#,
            "{",
        ] {
            assert_eq!(read(invalid), Message::Invalid, "{invalid}");
        }
    }

    #[test]
    fn without_a_subscription_no_result_is_ours() {
        let bare = Wire::new(&GraphqlWs::default());
        assert_eq!(
            read(
                &bare,
                br#"{"id":"1","type":"next","payload":{"data":{"c":1}}}"#
            ),
            Message::OtherOperation
        );
    }

    #[test]
    fn fields_are_raw_slices_and_malformed_text_ends_them() {
        let text = br#"{"a": "x\"}", "b" :[1,[2]], "c":{"d":{}} ,"e":-1.5e3,"f":true}"#;
        let fields: Vec<_> = Fields::of(text).expect("an object").collect();
        let expected: [(&[u8], &[u8]); 5] = [
            (b"a", br#""x\"}""#),
            (b"b", b"[1,[2]]"),
            (b"c", br#"{"d":{}}"#),
            (b"e", b"-1.5e3"),
            (b"f", b"true"),
        ];
        assert_eq!(fields, expected);
        assert!(Fields::of(b"  [1]").is_none());
        assert_eq!(Fields::of(br#"{"a":}"#).map(Iterator::count), Some(0));
        assert_eq!(Fields::of(br#"{"a":[1,"#).map(Iterator::count), Some(0));
        assert_eq!(
            Fields::of(br#"{"a":1 "b":2}"#).map(Iterator::count),
            Some(1)
        );
    }
}
