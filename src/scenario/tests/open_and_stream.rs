//! What a client sends and follows on its connections: `clients.on_open` items and the
//! server-pushed stream (`target.push`, `clients.stream`), parsed into the model.

use super::*;

#[test]
fn on_open_items_become_frames_in_file_order_with_their_awaited_answers() {
    let s = ok(&with(
        "  on_open:\n    - {text: 'auth {{client_id}}', expect: {text_contains: ok, within: 2s}}\n    - binary_hex: 'DE ad 01'\n    - {text: sub, expect: {text_contains: subscribed}}\n",
    ));
    let text = |t: &str| OnOpenFrame::Text(Template::parse(t).expect("template"));
    assert_eq!(
        s.clients.on_open,
        vec![
            OnOpenItem {
                frame: text("auth {{client_id}}"),
                expect: Some(Expect {
                    text_contains: "ok".into(),
                    within: secs(2),
                }),
            },
            OnOpenItem {
                frame: OnOpenFrame::Binary(vec![0xde, 0xad, 0x01]),
                expect: None,
            },
            OnOpenItem {
                frame: text("sub"),
                expect: Some(Expect {
                    text_contains: "subscribed".into(),
                    within: on_open::DEFAULT_EXPECT_WITHIN,
                }),
            },
        ]
    );
    let max = vec!["{binary_hex: 00}"; on_open::MAX_ON_OPEN_ITEMS].join(", ");
    let s = ok(&with(&format!("  on_open: [{max}]\n")));
    assert_eq!(s.clients.on_open.len(), 32);
    let s = ok(&with(&format!(
        "  on_open: [{{text: {}}}]\n",
        "a".repeat(65536)
    )));
    assert_eq!(s.clients.on_open.len(), 1, "64 KiB is allowed");
}

#[test]
fn a_push_stream_and_its_follower_parse_into_the_model() {
    let s = ok(
        &with("  stream: {seq: /seq, sent_at: /sent_at, resume_param: since}\n").replace(
            "  url: embedded\n",
            "  url: embedded\n  push: {rate: 30/m, size: 100, resume: true}\n",
        ),
    );
    assert_eq!(
        s.target.push,
        Some(Push {
            rate_per_s: 0.5,
            size: 100,
            resume: true
        })
    );
    assert_eq!(
        s.clients.stream,
        Some(Stream {
            seq: Place::JsonField("seq".into()),
            sent_at: Some(Place::JsonField("sent_at".into())),
            resume_param: Some("since".into()),
        })
    );
    let defaults = ok(&with("  stream: {seq: /seq}\n").replace(
        "  url: embedded\n",
        "  url: embedded\n  push: {rate: 10/s}\n",
    ));
    assert_eq!(
        defaults.target.push,
        Some(Push {
            rate_per_s: 10.0,
            size: 64,
            resume: false
        })
    );
    // An external server: any parameter name, binary places.
    let external = ok(&with(
        "  stream: {seq: bytes 0..8, sent_at: bytes 8..16, resume_param: from}\n",
    )
    .replace("url: embedded", "url: ws://127.0.0.1:9/"));
    let stream = external.clients.stream.expect("stream");
    assert_eq!(stream.seq, Place::Bytes(0));
    assert_eq!(stream.sent_at, Some(Place::Bytes(8)));
    assert_eq!(stream.resume_param.as_deref(), Some("from"));
    assert_eq!(external.target.push, None);
}
