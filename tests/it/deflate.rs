//! permessage-deflate (`clients.compression: deflate`): against Python `websockets`
//! (`tests/interop/deflate_echo_server.py`, compression on by default there), through the chaos
//! proxy, and against raw servers that answer the offer wrongly or send a decompression bomb.
//! The Python tests are skipped, with a note, where `python3` or its `websockets` module is
//! missing (`python3 -m pip install --user websockets`).

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress};
use wschaos::chaos::toxics::{DropAcks, Latency};
use wschaos::scenario::*;

use crate::common::child_server::ChildServer;
use crate::common::hostile::{RawServer, accept_value, close_code, frame, read_frame};
use crate::common::{ms, run_scenario, scenario, text_heartbeat, ws_url};

/// Why the Python tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    let import = Command::new("python3")
        .args(["-c", "import websockets"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match import {
        Err(_) => Some("`python3` is not on PATH".into()),
        Ok(status) if !status.success() => Some(
            "the `websockets` module is missing (python3 -m pip install --user websockets)".into(),
        ),
        Ok(_) => None,
    }
}

/// The Python echo server, killed when dropped.
struct PythonServer(ChildServer);

impl PythonServer {
    /// Starts the server with `args`; `None` (after a printed note) where it cannot run.
    fn start(test: &str, args: &[&str]) -> Option<Self> {
        if let Some(why) = missing() {
            eprintln!("SKIPPED deflate::{test}: {why}");
            return None;
        }
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/deflate_echo_server.py");
        let mut command = Command::new("python3");
        command.arg(script).args(args).stdin(Stdio::piped());
        Some(Self(ChildServer::start(command)))
    }

    fn url(&self) -> TargetUrl {
        ws_url(([127, 0, 0, 1], self.0.port).into())
    }

    /// The lines printed so far (after the port).
    fn printed(&self) -> Vec<String> {
        std::thread::sleep(ms(300));
        self.0.lines.try_iter().collect()
    }
}

/// `n` bytes that do not compress (xorshift).
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Four clients offering deflate with text heartbeats and compressible messages; each new
/// connection first sends `binary` (random bytes) and a random text the echo must return whole.
fn deflate_scenario(url: TargetUrl, binary: &[u8], text: &str) -> Scenario {
    let mut s = scenario(url, 4, ms(2000));
    s.clients.compression = Compression::Deflate;
    s.clients.heartbeat.mode = text_heartbeat("heartbeat heartbeat", "heartbeat heartbeat");
    // A Python server on a loaded machine can be late by far more than the usual 400 ms.
    s.clients.heartbeat.timeout = ms(3000);
    s.clients.messages = Some(Messages {
        // Closed loop: each client's next message waits for the echo of its last, so at most
        // one per client is in flight when the run ends, however slow the server is.
        rate: MessageRate::Closed,
        size: 4000,
    });
    s.clients.on_open = vec![
        OnOpenItem {
            frame: OnOpenFrame::Binary(binary.to_vec()),
            expect: None,
        },
        OnOpenItem {
            frame: OnOpenFrame::Text(Template::parse(text).expect("template")),
            expect: Some(Expect {
                text_contains: text.into(),
                within: ms(1500),
            }),
        },
    ];
    s
}

/// Runs the scenario against `server` and checks: every connection negotiated deflate (with
/// `answer` in the server's extension header), the random binary reached the server intact,
/// the random text came back whole, messages and heartbeats were echoed, nothing failed.
fn assert_round_trips(server: &PythonServer, answer: &str) {
    let binary = noise(700, 0x9e37_79b9_7f4a_7c15);
    // Letters and digits drawn at random: they compress little.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = noise(600, 0x2545_f491_4f6c_dd1d)
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect();
    let report = run_scenario(deflate_scenario(server.url(), &binary, &text)).report;
    let c = &report.counters;
    assert!(report.scenario.compression_offered);
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.compression_negotiated, c.connects, "{c:?}");
    assert_eq!(c.disconnects_protocol_error, 0, "{c:?}");
    assert_eq!(
        c.disconnects_handshake_rejected, 0,
        "the random text came back: {c:?}"
    );
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert!(c.messages_sent >= 8, "{c:?}");
    assert!(
        c.messages_received + 4 >= c.messages_sent,
        "echoes of compressible messages: {c:?}"
    );
    assert!(
        c.heartbeat_acks >= 4,
        "text acks matched after inflating: {c:?}"
    );
    let printed = server.printed();
    let opens: Vec<_> = printed.iter().filter(|l| l.starts_with("open ")).collect();
    assert_eq!(opens.len() as u64, c.connects, "{printed:?}");
    for open in opens {
        assert!(open.contains(answer), "{open}");
    }
    let binaries: Vec<_> = printed
        .iter()
        .filter(|l| l.starts_with("binary "))
        .collect();
    assert_eq!(binaries.len() as u64, c.connects, "{printed:?}");
    let expected = format!("binary {}", hex(&binary));
    assert!(binaries.iter().all(|l| **l == expected), "{binaries:?}");
    let summary = wschaos::report::render_summary(&report);
    assert!(
        summary.contains(&format!(
            "permessage-deflate offered, negotiated on {} of {} connections",
            c.connects, c.connects
        )),
        "{summary}"
    );
}

#[test]
fn permessage_deflate_against_python_websockets_is_negotiated_and_echoes_round_trip_intact() {
    let Some(server) = PythonServer::start("python_default", &[]) else {
        return;
    };
    // websockets' defaults: 12-bit windows both ways, which the client must honour.
    assert_round_trips(
        &server,
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    );
}

#[test]
fn a_small_client_window_without_context_takeover_is_honoured() {
    let Some(server) = PythonServer::start("python_small_window", &["--small-window"]) else {
        return;
    };
    assert_round_trips(&server, "client_no_context_takeover");
}

#[test]
fn a_compressed_stream_passes_through_the_chaos_proxy_unchanged() {
    let Some(server) = PythonServer::start("through_proxy", &[]) else {
        return;
    };
    let mut s = scenario(server.url(), 4, ms(2000));
    s.clients.compression = Compression::Deflate;
    s.clients.messages = Some(Messages {
        // Closed loop: each client's next message waits for the echo of its last, so at most
        // one per client is in flight when the run ends, however slow the server is.
        rate: MessageRate::Closed,
        size: 4000,
    });
    s.faults = vec![crate::common::window(
        0,
        2000,
        1.0,
        FaultKind::Proxy(ProxyFault::Latency(Latency {
            latency: ms(2),
            jitter: ms(0),
            direction: wschaos::chaos::Direction::Both,
        })),
    )];
    let c = run_scenario(s).report.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.compression_negotiated, c.connects, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert!(c.heartbeat_acks >= 4, "{c:?}");
    assert!(
        c.messages_received + 4 >= c.messages_sent && c.messages_sent >= 8,
        "{c:?}"
    );
}

#[test]
fn the_proxy_does_not_recognise_a_compressed_text_ack_so_ack_faults_pass_it() {
    let Some(server) = PythonServer::start("compressed_acks", &[]) else {
        return;
    };
    // `stop_acking` on every client: uncompressed text acks would all be swallowed.
    let mut s = scenario(server.url(), 2, ms(1500));
    s.clients.compression = Compression::Deflate;
    s.clients.heartbeat.mode = text_heartbeat("heartbeat heartbeat", "heartbeat heartbeat");
    s.faults = vec![crate::common::window(
        0,
        1500,
        1.0,
        FaultKind::Proxy(ProxyFault::DropAcks(DropAcks)),
    )];
    let c = run_scenario(s).report.counters;
    assert_eq!(c.compression_negotiated, c.connects, "{c:?}");
    assert!(
        c.heartbeat_acks >= 2,
        "compressed acks pass the fault: {c:?}"
    );
    assert_eq!(c.disconnects_heartbeat_timeout, 0, "{c:?}");
}

/// A raw server that answers every upgrade with `extensions` as its extension header, then
/// sends `then` and records the close code of the client's close frame, if one comes.
fn raw_server(extensions: &'static str, then: Vec<u8>) -> (RawServer, Arc<Mutex<Vec<u16>>>) {
    let closes = Arc::new(Mutex::new(Vec::new()));
    let log = closes.clone();
    let server = RawServer::start(move |mut stream: TcpStream, _| {
        let Some(key) = crate::common::hostile::read_request(&mut stream) else {
            return;
        };
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n",
            accept_value(&key)
        );
        if stream.write_all(response.as_bytes()).is_err() || stream.write_all(&then).is_err() {
            return;
        }
        for _ in 0..16 {
            let Some((opcode, payload)) = read_frame(&mut stream) else {
                return;
            };
            if opcode == 0x8 {
                if let (Some(code), Ok(mut log)) = (close_code(&payload), log.lock()) {
                    log.push(code);
                }
                return;
            }
        }
    });
    (server, closes)
}

/// `message` deflated as permessage-deflate sends it (sync flush, tail removed).
fn deflated(message: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Level::best(), false);
    let mut out = Vec::with_capacity(message.len() / 100 + 1024);
    compress
        .compress_vec(message, &mut out, FlushCompress::Sync)
        .expect("compress");
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "one call did it all");
    out.truncate(out.len() - 4);
    out
}

#[test]
fn data_frames_go_out_compressed_with_rsv1_and_control_frames_do_not() {
    // Each frame as the server saw it: its first byte and its unmasked payload.
    let frames = Arc::new(Mutex::new(Vec::new()));
    let log = frames.clone();
    let server = RawServer::start(move |mut stream: TcpStream, _| {
        let Some(key) = crate::common::hostile::read_request(&mut stream) else {
            return;
        };
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n",
            accept_value(&key)
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
        for _ in 0..64 {
            let mut first = [0u8; 1];
            if stream.peek(&mut first).ok() != Some(1) {
                return;
            }
            let Some((opcode, payload)) = read_frame(&mut stream) else {
                return;
            };
            if let Ok(mut log) = log.lock() {
                log.push((first[0], payload));
            }
            if opcode == 0x8 {
                return;
            }
        }
    });
    let mut s = scenario(server.url(), 1, ms(700));
    s.clients.compression = Compression::Deflate;
    s.clients.heartbeat.interval = ms(100);
    s.clients.heartbeat.timeout = ms(5000);
    s.clients.on_open = vec![
        OnOpenItem {
            frame: OnOpenFrame::Text(Template::parse("hello hello hello hello").expect("template")),
            expect: None,
        },
        OnOpenItem {
            frame: OnOpenFrame::Binary(noise(300, 7)),
            expect: None,
        },
    ];
    let c = run_scenario(s).report.counters;
    assert_eq!(c.compression_negotiated, 1, "{c:?}");
    std::thread::sleep(ms(200));
    let frames = frames.lock().expect("frames").clone();
    let inflate = |payload: &[u8]| {
        // `client_no_context_takeover`: every message inflates on its own.
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(4096);
        Decompress::new(false)
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .expect("deflate data");
        out
    };
    let [(text_byte, text), (binary_byte, binary), rest @ ..] = &frames[..] else {
        panic!("two data frames first: {frames:?}");
    };
    assert_eq!(*text_byte, 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
    assert_eq!(inflate(text), b"hello hello hello hello");
    assert_eq!(*binary_byte, 0x80 | 0x40 | 0x2, "FIN, RSV1, binary");
    assert_eq!(inflate(binary), noise(300, 7));
    let pings: Vec<_> = rest.iter().filter(|(b, _)| b & 0x0f == 0x9).collect();
    assert!(pings.len() >= 2, "{frames:?}");
    assert!(
        rest.iter().all(|(b, _)| b & 0x70 == 0),
        "control frames carry no reserved bit: {frames:?}"
    );
}

#[test]
fn a_small_compressed_frame_that_inflates_past_the_limit_closes_1009() {
    // 16 MiB of zeros in about 16 KiB: far past the clients' 64 KiB frame limit.
    let bomb = deflated(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let (server, closes) = raw_server("permessage-deflate", frame(0xC2, &bomb));
    let mut s = scenario(server.url(), 1, ms(1000));
    s.clients.compression = Compression::Deflate;
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.reconnect.initial = ms(5000);
    let c = run_scenario(s).report.counters;
    assert_eq!(c.compression_negotiated, 1, "{c:?}");
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    std::thread::sleep(ms(200));
    assert_eq!(*closes.lock().expect("closes"), [1009]);
}

#[test]
fn an_extension_answer_that_breaks_rfc_7692_fails_the_connect() {
    for (offer, answer) in [
        (true, "permessage-deflate; client_max_window_bits=20"),
        (true, "permessage-deflate; mystery_param"),
        (true, "x-webkit-deflate-frame"),
        // Not offered at all: any extension in the answer is refused.
        (false, "permessage-deflate"),
    ] {
        let (server, _) = raw_server(answer, Vec::new());
        let mut s = scenario(server.url(), 1, ms(800));
        if offer {
            s.clients.compression = Compression::Deflate;
        }
        let report = run_scenario(s).report;
        let c = &report.counters;
        assert_eq!(c.clients_connected, 0, "{answer}: {c:?}");
        assert!(c.connect_failures_extension >= 1, "{answer}: {c:?}");
        assert_eq!(
            c.connect_failures_extension, c.connect_failures,
            "{answer}: {c:?}"
        );
        let summary = wschaos::report::render_summary(&report);
        assert!(
            summary.contains("attempts failed on the server's extension answer"),
            "{summary}"
        );
    }
}
