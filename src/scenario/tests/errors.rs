//! Every way a scenario can be invalid, as one table: the broken text, where the error must
//! point (line, column) and what it must say.

use super::{MINIMAL, with};
use crate::scenario::{ScenarioError, parse};

/// What the message must say.
enum Says {
    Exactly(String),
    StartsWith(&'static str),
    Contains(&'static str),
    /// Starts with the first, ends with the second.
    Between(&'static str, String),
}

struct Case {
    yaml: String,
    /// `None`: only the message is pinned.
    at: Option<(usize, usize)>,
    says: Says,
}

fn case(yaml: impl Into<String>, at: (usize, usize), says: Says) -> Case {
    Case {
        yaml: yaml.into(),
        at: Some(at),
        says,
    }
}

fn exactly(message: impl Into<String>) -> Says {
    Says::Exactly(message.into())
}

fn replacing(from: &str, to: &str) -> String {
    MINIMAL.replace(from, to)
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        // ---- serde-level: syntax, unknown and missing keys, wrong types ----
        case(
            replacing("  url: embedded\n", "  url: embedded\n  colour: blue\n"),
            (5, 3),
            exactly(
                "unknown field `colour`, expected one of url, headers, subprotocols, command, tls, push",
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
        // ---- clients ----
        case(
            with("  source_ips: [127.0.0.2, localhost]\n"),
            (7, 27),
            Says::Contains("expected an IP address"),
        ),
        case(
            with("  reconnect:\n    backoff: decorrelated\n    jitter: full\n"),
            (9, 13),
            exactly(
                "clients.reconnect.jitter: decorrelated backoff is already randomised; remove \
                 jitter or set jitter: none",
            ),
        ),
        case(
            with("  reconnect: {initial: 2s, max: 1s}\n"),
            (7, 33),
            exactly(
                "clients.reconnect.max: expected a duration at least as long as initial (2s), \
                 found \"1s\"",
            ),
        ),
        case(
            with("  reconnect: {initial: 1m}\n"),
            (7, 24),
            exactly(
                "clients.reconnect.initial: expected a duration no longer than max (30s, the \
                 default), found \"1m\"; raise max as well",
            ),
        ),
        case(
            with("  reconnect: {max: 100ms}\n"),
            (7, 20),
            exactly(
                "clients.reconnect.max: expected a duration at least as long as initial (500ms, \
                 the default), found \"100ms\"",
            ),
        ),
        case(
            with("  reconnect: {multiplier: 0.5}\n"),
            (7, 27),
            exactly(
                "clients.reconnect.multiplier: expected a finite number of at least 1.0, found 0.5",
            ),
        ),
        case(
            with("  reconnect: {multiplier: .inf}\n"),
            (7, 27),
            exactly(
                "clients.reconnect.multiplier: expected a finite number of at least 1.0, found inf",
            ),
        ),
        case(
            with("  heartbeat:\n    mode: ping\n    payload: hello\n"),
            (9, 14),
            exactly(
                "clients.heartbeat.payload: only used with mode: text, but mode is ping; remove \
                 payload or set mode: text",
            ),
        ),
        case(
            with("  heartbeat: {mode: none, ack: pong}\n"),
            (7, 32),
            exactly(
                "clients.heartbeat.ack: only used with mode: text, but mode is none; remove ack \
                 or set mode: text",
            ),
        ),
        case(
            with("  heartbeat: {max_missed: 0}\n"),
            (7, 27),
            exactly("clients.heartbeat.max_missed: expected a whole number of at least 1, found 0"),
        ),
        case(
            with("  heartbeat: {mode: text, payload: \"\"}\n"),
            (7, 36),
            exactly("clients.heartbeat.payload: expected a non-empty text, found \"\""),
        ),
        case(
            with("  messages: {rate: 1/s, size: 8}\n"),
            (7, 31),
            exactly(
                "clients.messages.size: expected a whole number of bytes from 16 to 1048576, \
                 found 8",
            ),
        ),
        case(
            with("  send_buffer: 64KB\n"),
            (7, 16),
            exactly(
                "clients.send_buffer: expected a whole number of bytes, or of KiB, MiB or GiB \
                 (like 65536, 64KiB or 1MiB), found \"64KB\"",
            ),
        ),
        case(
            with("  send_timeout: 0s\n"),
            (7, 17),
            exactly(
                "clients.send_timeout: expected a duration greater than zero like 500ms, 5s or \
                 2m, found \"0s\"",
            ),
        ),
        case(
            with("  send_timeout: 10\n"),
            (7, 17),
            Says::StartsWith("clients.send_timeout: expected a duration greater than zero"),
        ),
        case(
            with("  timer_resolution: 1s\n"),
            (7, 21),
            exactly("clients.timer_resolution: expected a duration from 0s to 100ms, found \"1s\""),
        ),
        case(
            with("  timer_resolution: fast\n"),
            (7, 21),
            Says::StartsWith("clients.timer_resolution: expected a duration like 0s, 500ms"),
        ),
        // clients.on_open: one frame per item, hex as written, known placeholders only.
        case(
            with("  on_open: [{text: \"\"}]\n"),
            (7, 20),
            exactly("clients.on_open[0].text: expected a non-empty text, found \"\""),
        ),
        case(
            with("  on_open:\n    - {text: a}\n    - {text: b, binary_hex: 0a}\n"),
            (9, 29),
            exactly(
                "clients.on_open[1].binary_hex: expected one of text and binary_hex in an item, \
                 found both; make two items",
            ),
        ),
        case(
            with("  on_open:\n    - expect: {text_contains: ok}\n"),
            (8, 7),
            exactly(
                "clients.on_open[0]: expected text or binary_hex (the frame to send), found \
                 neither",
            ),
        ),
        case(
            with("  on_open: [{binary_hex: abc}]\n"),
            (7, 26),
            exactly(
                "clients.on_open[0].binary_hex: expected an even number of hex digits (two per \
                 byte)",
            ),
        ),
        case(
            with("  on_open: [{binary_hex: \"{{conn}}\"}]\n"),
            (7, 26),
            exactly(
                "clients.on_open[0].binary_hex: expected hex digits (0-9, a-f; sent as written, \
                 no placeholders), found '{'",
            ),
        ),
        case(
            with("  on_open: [{text: \"id {{client}}\"}]\n"),
            (7, 20),
            exactly(
                "clients.on_open[0].text: unknown placeholder at \"{{client}}\"; the known ones \
                 are {{client_id}} and {{conn}}",
            ),
        ),
        case(
            with("  on_open: [{text: a, expect: {text_contains: \"\"}}]\n"),
            (7, 47),
            exactly(
                "clients.on_open[0].expect.text_contains: expected a non-empty text, found \"\"",
            ),
        ),
        case(
            with("  on_open: [{text: a, expect: {text_contains: ok, within: 0s}}]\n"),
            (7, 59),
            Says::StartsWith(
                "clients.on_open[0].expect.within: expected a duration greater than zero",
            ),
        ),
        case(
            with("  on_open: [{text: a, expect: {within: 1s}}]\n"),
            (7, 32),
            Says::Contains("missing field `text_contains`"),
        ),
        case(
            with("  on_open: [{txt: a}]\n"),
            (7, 14),
            Says::StartsWith("unknown field `txt`, expected one of text, binary_hex, expect"),
        ),
        case(
            with(&format!(
                "  on_open: [{}]\n",
                vec!["{text: a}"; 33].join(", ")
            )),
            (7, 365),
            exactly("clients.on_open[32]: expected at most 32 items, found 33"),
        ),
        case(
            with(&format!("  on_open: [{{text: {}}}]\n", "a".repeat(65537))),
            (7, 20),
            Says::StartsWith("clients.on_open[0].text: expected at most 64 KiB, found 65537 bytes"),
        ),
        // target.push and clients.stream: where a number is, push on the embedded server only.
        case(
            with("  stream: {seq: seq}\n").replace("url: embedded", "url: ws://127.0.0.1:9/"),
            (7, 17),
            exactly(
                "clients.stream.seq: expected a JSON pointer to a top-level field like /seq, or \
                 bytes N..N+8 (a big-endian u64 of a binary frame) like bytes 0..8, found \"seq\"",
            ),
        ),
        case(
            with("  stream: {seq: /data/seq}\n").replace("url: embedded", "url: ws://h/"),
            (7, 17),
            exactly(
                "clients.stream.seq: expected a pointer to a top-level field (one /name), found \
                 \"/data/seq\"; nested fields are not read",
            ),
        ),
        case(
            with("  stream: {seq: bytes 0..4}\n").replace("url: embedded", "url: ws://h/"),
            (7, 17),
            exactly(
                "clients.stream.seq: expected a range of exactly 8 bytes (a big-endian u64) like \
                 bytes 0..8, found \"bytes 0..4\"",
            ),
        ),
        case(
            with("  stream: {seq: /seq, sent_at: bytes 8..16}\n")
                .replace("url: embedded", "url: ws://h/"),
            (7, 32),
            exactly(
                "clients.stream.sent_at: expected the same kind of place as seq (/seq: a JSON \
                 field), found \"bytes 8..16\"",
            ),
        ),
        case(
            with("  stream: {seq: /seq, resume_param: \"a b\"}\n")
                .replace("url: embedded", "url: ws://h/"),
            (7, 37),
            Says::StartsWith(
                "clients.stream.resume_param: expected a query parameter name of 1 to 64",
            ),
        ),
        case(
            with("  stream: {seq: /seq}\n"),
            (7, 11),
            Says::StartsWith(
                "clients.stream: the embedded server pushes nothing without target.push",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: 10/s}\n",
            ) + "  stream: {seq: /seq, resume_param: from}\n",
            (8, 37),
            exactly(
                "clients.stream.resume_param: the embedded server reads ?since=<seq>; set \
                 resume_param: since, found \"from\"",
            ),
        ),
        case(
            replacing(
                "url: embedded",
                "url: ws://127.0.0.1:9/\n  push: {rate: 10/s}",
            ),
            (5, 9),
            Says::StartsWith("target.push: is the embedded server's push mode (url: embedded)"),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: 2000/s}\n",
            ),
            (5, 16),
            exactly(
                "target.push.rate: expected at most 1000/s (one timer tick per message), found \"2000/s\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: closed}\n",
            ),
            (5, 16),
            exactly(
                "target.push.rate: expected N/s or N/m with N a positive number (like 10/s or \
                 30/m), found \"closed\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: 10/s, size: 8}\n",
            ),
            (5, 28),
            exactly("target.push.size: expected a whole number of bytes from 16 to 65536, found 8"),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: 10/s, resume: true}\n",
            ) + "  stream: {seq: /seq}\n",
            (5, 30),
            exactly(
                "target.push.resume: replays from ?since=<seq>, which clients send only with \
                 clients.stream.resume_param: since",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  push: {rate: 10/s, colour: red}\n",
            ),
            (5, 22),
            Says::StartsWith("unknown field `colour`, expected one of rate, size, resume"),
        ),
        // The kernel's keepalive limits: past them every connect would fail with EINVAL.
        case(
            with("  tcp_keepalive: {idle: 365d, interval: 1s, count: 3}\n"),
            (7, 25),
            exactly(
                "clients.tcp_keepalive.idle: expected whole seconds from 1s to 32767s (the \
                 kernel's limit for TCP_KEEPIDLE), found \"365d\"",
            ),
        ),
        case(
            with("  tcp_keepalive: {idle: 32768s, interval: 1s, count: 3}\n"),
            (7, 25),
            Says::Contains("TCP_KEEPIDLE"),
        ),
        case(
            with("  tcp_keepalive: {idle: 5s, interval: 1500ms, count: 3}\n"),
            (7, 39),
            exactly(
                "clients.tcp_keepalive.interval: expected whole seconds from 1s to 32767s (the \
                 kernel's limit for TCP_KEEPINTVL), found \"1500ms\"",
            ),
        ),
        case(
            with("  tcp_keepalive: {idle: 5s, interval: 0s, count: 3}\n"),
            (7, 39),
            Says::Contains("expected a duration greater than zero"),
        ),
        case(
            with("  tcp_keepalive: {idle: 5s, interval: 1s, count: 128}\n"),
            (7, 50),
            exactly(
                "clients.tcp_keepalive.count: expected at most 127 probes (the kernel's limit for \
                 TCP_KEEPCNT), found 128",
            ),
        ),
        case(
            with("  tcp_keepalive: {idle: 5s, interval: 1s, count: 0}\n"),
            (7, 50),
            exactly("clients.tcp_keepalive.count: expected at least 1 probe, found 0"),
        ),
        // ---- faults ----
        case(
            with("faults:\n  - kind: drop\n    at: 10s\n    fraction: 1.5\n"),
            (10, 15),
            exactly("faults[0].fraction: expected a number from 0.0 to 1.0, found 1.5"),
        ),
        case(
            with("faults:\n  - {kind: drop, at: 10s}\n"),
            (8, 12),
            exactly(
                "faults[0]: a drop fault needs fraction: the share of connected clients to drop, \
                 from 0.0 to 1.0",
            ),
        ),
        case(
            with("faults:\n  - {kind: server_kill, at: 10s, fraction: 0.5}\n"),
            (8, 44),
            exactly(
                "faults[0].fraction: not a field of server_kill faults; server_kill takes kind, \
                 at, downtime, signal",
            ),
        ),
        case(
            with("faults:\n  - {kind: server_kill, at: 1s}\n  - {kind: gremlins, at: 35s}\n"),
            (9, 12),
            Says::StartsWith(
                "faults[1].kind: expected one of server_kill, drop, delay_pongs, stop_acking, \
                 partition",
            ),
        ),
        case(
            with("faults:\n  - {kind: partition, at: 10s}\n"),
            (8, 12),
            exactly(
                "faults[0]: a partition fault needs duration: how long it stays active, like 10s",
            ),
        ),
        case(
            with("faults:\n  - {kind: partition, at: 50s, duration: 20s}\n"),
            (8, 42),
            Says::Contains("past the end of the scenario"),
        ),
        case(
            with("faults:\n  - {kind: server_kill, at: 70s}\n"),
            (8, 29),
            exactly("faults[0].at: fault at 70s is past the scenario duration 60s"),
        ),
        case(
            with("faults:\n  - {kind: server_kill, at: 1m}\n"),
            (8, 29),
            exactly(
                "faults[0].at: fault at 1m is at the very end of the scenario (duration 60s); it \
                 must start earlier",
            ),
        ),
        Case {
            yaml: with("faults:\n  - {kind: server_kill, at: 10s, signal: stop}\n"),
            at: None,
            says: Says::Contains("the embedded server can only be killed"),
        },
        Case {
            yaml: with("faults:\n  - {kind: server_kill, at: 10s, signal: stop}\n")
                .replace("url: embedded", "url: ws://127.0.0.1:9001/"),
            at: None,
            says: Says::Contains("server_kill needs a server wschaos controls"),
        },
        // ---- thresholds ----
        case(
            with("thresholds: [\"messages.lost == 0\", \" \"]\n"),
            (7, 36),
            exactly(
                "thresholds[1]: expected a threshold expression like \"heartbeat_rtt.p99 < 50ms\", \
                 found \" \"",
            ),
        ),
        // The string starts at column 38: its opening quote, then 14 characters to `p98`.
        case(
            with("thresholds: [\"clients.gave_up == 0\", \"heartbeat_rtt.p98 < 5ms\"]\n"),
            (7, 53),
            Says::StartsWith("thresholds[1] \"heartbeat_rtt.p98 < 5ms\": unknown statistic"),
        ),
        case(
            with("thresholds:\n  - heartbeat_rtt.p99 < 50\n"),
            (8, 25),
            Says::Contains("add a unit"),
        ),
        case(
            with("thresholds: ['nope.p99 < 5ms']\n"),
            (7, 15),
            Says::Contains(""),
        ),
    ];

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
