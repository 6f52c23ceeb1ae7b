//! Every way a scenario can be invalid, as one table: the broken text, where the error must
//! point (line, column) and what it must say. The rows for `clients`, `faults` and `thresholds`
//! are in `errors_clients.rs`, those of `target.protocol` in `graphql_ws.rs` and `socketio.rs`.

use super::{MINIMAL, with};
use crate::scenario::{ScenarioError, parse};

/// What the message must say.
pub(super) enum Says {
    Exactly(String),
    StartsWith(&'static str),
    Contains(&'static str),
    /// Starts with the first, ends with the second.
    Between(&'static str, String),
}

pub(super) struct Case {
    pub yaml: String,
    /// `None`: only the message is pinned.
    pub at: Option<(usize, usize)>,
    pub says: Says,
}

pub(super) fn case(yaml: impl Into<String>, at: (usize, usize), says: Says) -> Case {
    Case {
        yaml: yaml.into(),
        at: Some(at),
        says,
    }
}

pub(super) fn exactly(message: impl Into<String>) -> Says {
    Says::Exactly(message.into())
}

pub(super) fn replacing(from: &str, to: &str) -> String {
    MINIMAL.replace(from, to)
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        // ---- serde-level: syntax, unknown and missing keys, wrong types ----
        case(
            replacing("  url: embedded\n", "  url: embedded\n  colour: blue\n"),
            (5, 3),
            exactly(
                "unknown field `colour`, expected one of url, headers, subprotocols, command, tls, push, max_conns, protocol, graphql_ws, socketio",
            ),
        ),
        case(
            with("faults:\n  - {kind: server_kill, at: 1s, colour: red}\n"),
            (8, 33),
            Says::StartsWith("unknown field `colour`, expected one of kind, at, duration"),
        ),
        case(
            replacing("  url: embedded", "  url: \"embedded"),
            (4, 8),
            exactly("unclosed quote"),
        ),
        case(
            replacing("duration: 60s", "duration: 60s: 5"),
            (2, 14),
            exactly("mapping values are not allowed in this context"),
        ),
        case(
            replacing("count: 10", "count: ten"),
            (6, 10),
            exactly("invalid u64"),
        ),
        case(
            with("  heartbeat: fast\n"),
            (7, 14),
            exactly("expected mapping start"),
        ),
        case(
            with("  heartbeat: {mode: pong}\n"),
            (7, 21),
            exactly("unknown variant `pong`, expected one of ping, text, none"),
        ),
        case(
            with("  compression: gzip\n"),
            (7, 16),
            exactly("unknown variant `gzip`, expected one of none, deflate"),
        ),
        // serde-saphyr reports a missing key at the start of the mapping's last entry.
        case(
            "name: t\nduration: 60s\ntarget: {url: embedded}\n",
            (3, 1),
            exactly("missing field `clients`"),
        ),
        case(
            with("duration: 30s\n"),
            (7, 1),
            exactly("duplicate mapping key `duration` is not allowed here"),
        ),
        case(
            format!("{MINIMAL}---\n{MINIMAL}"),
            (8, 1),
            exactly("only single YAML document expected but multiple found"),
        ),
        case("", (1, 1), exactly("unexpected end of file")),
        // ---- name, durations ----
        case(
            replacing("duration: 60s", "duration: sixty"),
            (2, 11),
            exactly(
                "duration: expected a duration greater than zero like 500ms, 5s or 2m, found \
                 \"sixty\"",
            ),
        ),
        case(
            with("  ramp: 5x\n"),
            (7, 9),
            exactly("clients.ramp: expected a duration like 0s, 500ms, 5s or 2m, found \"5x\""),
        ),
        // A bare number has no unit: it is read as text and rejected, never guessed.
        case(
            with("  heartbeat: {interval: 5}\n"),
            (7, 25),
            exactly(
                "clients.heartbeat.interval: expected a duration greater than zero like 500ms, \
                 5s or 2m, found \"5\"",
            ),
        ),
        case(
            with("  connect_timeout: 400days\n"),
            (7, 20),
            exactly(
                "clients.connect_timeout: expected a duration of at most 365 days, found \
                 \"400days\"",
            ),
        ),
        case(
            with("  heartbeat:\n    interval: 0s\n"),
            (8, 15),
            exactly(
                "clients.heartbeat.interval: expected a duration greater than zero like 500ms, \
                 5s or 2m, found \"0s\"",
            ),
        ),
        case(
            with("  ramp: 1m\n"),
            (7, 9),
            exactly(
                "clients.ramp: expected a duration shorter than the scenario duration 60s, found \
                 \"1m\"",
            ),
        ),
        // ---- target ----
        // ---- target.tls ----
        case(
            replacing("embedded", "ws://example.com/ws\n  tls: true"),
            (5, 8),
            exactly(
                "target.tls: TLS needs a wss:// url (or url: embedded, which then serves TLS); \
                 this url is ws://",
            ),
        ),
        case(
            replacing("embedded", "wss://example.com/ws\n  tls: false"),
            (5, 8),
            exactly("target.tls: a wss:// url always speaks TLS; use ws:// for a plain connection"),
        ),
        case(
            replacing(
                "embedded",
                "embedded\n  tls: {resume: false, ca_file: ca.pem}",
            ),
            (5, 33),
            exactly(
                "target.tls.ca_file: is for wss:// targets: the embedded server's certificate is \
                 made at start and its clients trust it (only resume applies)",
            ),
        ),
        case(
            replacing("embedded", "embedded\n  tls: {insecure: true}"),
            (5, 19),
            Says::StartsWith("target.tls.insecure: is for wss:// targets"),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {ca_file: /nonexistent/ca.pem}"),
            (5, 18),
            Says::StartsWith(
                "target.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {ca_file: Cargo.toml}"),
            (5, 18),
            exactly(
                "target.tls.ca_file: \"Cargo.toml\" holds no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)",
            ),
        ),
        case(
            replacing(
                "embedded",
                "wss://h\n  tls: {ca_file: Cargo.toml, insecure: true}",
            ),
            (5, 40),
            exactly(
                "target.tls.insecure: skips certificate verification, so ca_file would never be \
                 used; remove one of them",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {client_cert: c.pem}"),
            (5, 22),
            exactly(
                "target.tls.client_cert: needs target.tls.client_key too (the certificate's \
                 private key, PEM)",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {client_key: k.pem}"),
            (5, 21),
            exactly(
                "target.tls.client_key: needs target.tls.client_cert too (the certificate chain, \
                 PEM)",
            ),
        ),
        case(
            replacing(
                "embedded",
                "wss://h\n  tls: {client_cert: Cargo.toml, client_key: Cargo.toml}",
            ),
            (5, 22),
            exactly(
                "target.tls.client_cert: \"Cargo.toml\" holds no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {server_name: \"not a name\"}"),
            (5, 22),
            exactly(
                "target.tls.server_name: expected a DNS name or IP address, found \"not a name\"",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: {colour: blue}"),
            (5, 9),
            Says::StartsWith(
                "unknown field `colour`, expected one of ca_file, client_cert, client_key, \
                 server_name, insecure, resume",
            ),
        ),
        case(
            replacing("embedded", "wss://h\n  tls: 5"),
            (5, 3),
            Says::Contains("true, false or a mapping of TLS settings"),
        ),
        case(
            replacing("embedded", "ftp://example.com/"),
            (4, 8),
            exactly(
                "target.url: expected embedded or ws[s]://host[:port][/path][?query], found \
                 \"ftp://example.com/\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  headers: {Host: example.com}\n",
            ),
            (5, 13),
            exactly(
                "target.headers.Host: this header is set by the WebSocket handshake itself and \
                 cannot be overridden",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  headers: {X-A: \"a\\r\\nEvil: 1\"}\n",
            ),
            (5, 18),
            exactly(
                "target.headers.X-A: expected a header value without line breaks or control \
                 characters, found '\\r' at character 2 (the value is not shown: it may be a \
                 secret)",
            ),
        ),
        // A header line pasted as a name: the error points at the first bad character and
        // quotes nothing of the name, which holds the value.
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  headers: {\"Authorization: Bearer s3cret\": x}\n",
            ),
            (5, 13),
            exactly(
                "target.headers: expected a header name made of letters, digits and \
                 !#$%&'*+-.^_`|~, found ':' at character 14 (the name is not shown: it may hold a \
                 pasted header value)",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  headers: {\"\": x}\n",
            ),
            (5, 13),
            exactly(
                "target.headers: expected a header name made of letters, digits and \
                 !#$%&'*+-.^_`|~, found nothing (the name is not shown: it may hold a pasted \
                 header value)",
            ),
        ),
        // Credentials in the URL are not echoed back, whatever else is wrong with it.
        case(
            replacing("url: embedded", "url: \"ws://u:s3cret@h/#frag\""),
            (4, 8),
            exactly(
                "target.url: expected embedded or ws[s]://host[:port][/path][?query] without \
                 user:password@ (send credentials with target.headers; the URL is not shown: it \
                 holds them)",
            ),
        ),
        case(
            replacing("url: embedded", "url: \"u:s3cret@h\""),
            (4, 8),
            Says::Contains("the URL is not shown"),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  subprotocols: [chat, chat]\n",
            ),
            (5, 24),
            exactly("target.subprotocols[1]: subprotocol \"chat\" is listed twice"),
        ),
        Case {
            yaml: replacing(
                "  url: embedded\n",
                "  url: embedded\n  command: \"node server.js\"\n",
            ),
            at: None,
            says: Says::StartsWith("target.command: a command starts an external server"),
        },
        case(
            replacing("  url: embedded\n", "  url: embedded\n  max_conns: 0\n"),
            (5, 14),
            exactly("target.max_conns: expected at least 1 connection, found 0"),
        ),
        case(
            replacing("  url: embedded\n", "  url: ws://h\n  max_conns: 3\n"),
            (5, 14),
            Says::StartsWith("target.max_conns: limits the embedded server (url: embedded)"),
        ),
    ];
    cases.extend(super::graphql_ws::rows());
    cases.extend(super::errors_clients::rows());
    cases.extend(super::stages::rows());
    cases.extend(super::socketio::rows());

    for bad in [
        "0/s", "-1/s", "1/h", "1", "fast", "1e3/s", "inf/s", "/s", "./s",
    ] {
        cases.push(case(
            with(&format!("  messages: {{rate: \"{bad}\"}}\n")),
            (7, 20),
            exactly(format!(
                "clients.messages.rate: expected N/s or N/m with N a positive number (like 1/s, \
                 0.5/s or 30/m), or closed, found {bad:?}"
            )),
        ));
    }
    for bad in [
        "ws://",
        "ws://:80/",
        "ws://h:0/",
        "ws://h:70000/",
        "ws://h:/",
        "wss://h:0/",
        "wss://",
        "ws://h/#frag",
        "ws://h/a b",
        "ws://[nope]/",
        "localhost:80",
        "http://h/",
        "Embedded",
    ] {
        cases.push(case(
            replacing("url: embedded", &format!("url: \"{bad}\"")),
            (4, 8),
            Says::Between("target.url: expected ", format!("found {bad:?}")),
        ));
    }
    for bad in ["1023", "0", "0KiB", "2GiB", "1073741825"] {
        cases.push(case(
            with(&format!("  send_buffer: {bad}\n")),
            (7, 16),
            exactly(format!(
                "clients.send_buffer: expected a size from 1KiB to 1GiB, found {bad:?}"
            )),
        ));
    }
    for bad in ["1.5MiB", "-1", "1 TiB", "lots", "\"\""] {
        cases.push(case(
            with(&format!("  send_buffer: {bad}\n")),
            (7, 16),
            Says::StartsWith(
                "clients.send_buffer: expected a whole number of bytes, or of KiB, MiB or GiB",
            ),
        ));
    }
    for count in ["0", "1000001"] {
        cases.push(case(
            replacing("count: 10", &format!("count: {count}")),
            (6, 10),
            exactly(format!(
                "clients.count: expected a whole number from 1 to 1000000, found {count}"
            )),
        ));
    }
    for bad in ["\"\"", "my/run", "..", "\"a b\"", "émoji"] {
        cases.push(case(
            replacing("name: t", &format!("name: {bad}")),
            (1, 7),
            Says::StartsWith("name: expected a name of 1 to 128 characters"),
        ));
    }
    cases
}

/// `target.protocol` and `target.graphql_ws`, and what graphql-ws rules out in `clients`.
#[test]
fn every_invalid_scenario_is_reported_at_its_line_and_column() {
    let cases = cases();
    assert!(cases.len() >= 70, "{} cases", cases.len());
    for Case { yaml, at, says } in cases {
        let (line, column, message) = match parse(&yaml, "s.yaml") {
            Ok(s) => panic!("expected an error, parsed {s:?} from\n{yaml}"),
            Err(ScenarioError::Invalid {
                file,
                line,
                column,
                message,
            }) => {
                assert_eq!(file, "s.yaml");
                (line, column, message)
            }
            Err(other) => panic!("unexpected error {other}"),
        };
        if let Some(at) = at {
            assert_eq!((line, column), at, "{message}\n{yaml}");
        }
        let ok = match &says {
            Says::Exactly(expected) => message == *expected,
            Says::StartsWith(start) => message.starts_with(start),
            Says::Contains(part) => message.contains(part),
            Says::Between(start, end) => message.starts_with(start) && message.ends_with(end),
        };
        assert!(ok, "{message}\n{yaml}");
    }
}
