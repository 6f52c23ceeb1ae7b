//! The error table's rows for `clients`, `faults` and `thresholds` (the table and its runner:
//! `errors.rs`).

use super::errors::{Case, Says, case, exactly, replacing};
use super::with;

pub(super) fn rows() -> Vec<Case> {
    vec![
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
    ]
}
