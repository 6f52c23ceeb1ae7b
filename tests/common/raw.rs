//! A raw WebSocket server for tests that need a server to misbehave in ways a real one will not:
//! a plain TcpListener on 127.0.0.1 whose every connection runs a script on its own thread, with
//! helpers to complete (or botch) the upgrade by hand and to read and write frames.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wschaos::scenario::{TargetUrl, WsUrl};

/// Connections a server accepts before its accept loop ends.
const MAX_CONNECTIONS: usize = 200;
/// Longest a script blocks on one read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RawServer {
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

impl RawServer {
    /// Runs `script(stream, index)` on every accepted connection (index counts from 0).
    pub fn start<F>(script: F) -> Self
    where
        F: Fn(TcpStream, usize) + Send + Sync + 'static,
    {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind"), script)
    }

    pub fn start_on<F>(listener: TcpListener, script: F) -> Self
    where
        F: Fn(TcpStream, usize) + Send + Sync + 'static,
    {
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let log = accepted.clone();
        let script = Arc::new(script);
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().take(MAX_CONNECTIONS).enumerate() {
                let Ok(stream) = stream else { continue };
                log.lock().expect("log").push(Instant::now());
                let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
                let script = script.clone();
                std::thread::spawn(move || script(stream, index));
            }
        });
        Self { addr, accepted }
    }

    pub fn url(&self) -> TargetUrl {
        TargetUrl::Ws(WsUrl {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            path: "/".into(),
        })
    }

    /// When each connection was accepted.
    pub fn accepted(&self) -> Vec<Instant> {
        self.accepted.lock().expect("log").clone()
    }
}

/// Reads the upgrade request (at most 16 KiB) and returns its `Sec-WebSocket-Key`.
pub fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    })
}

/// The `Sec-WebSocket-Accept` value for `key`.
pub fn accept_value(key: &str) -> String {
    String::from_utf8_lossy(&actix_http::ws::hash_key(key.as_bytes())).into_owned()
}

/// Reads the request and answers 101 with `connection` as the Connection header line (or none).
pub fn upgrade_with(stream: &mut TcpStream, connection: Option<&str>) -> bool {
    let Some(key) = read_request(stream) else {
        return false;
    };
    let connection = connection.map_or(String::new(), |v| format!("Connection: {v}\r\n"));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{connection}Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_value(&key)
    );
    stream.write_all(response.as_bytes()).is_ok()
}

/// Completes the upgrade and sends `bytes` in the same write as the 101.
pub fn upgrade_and_send(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let Some(key) = read_request(stream) else {
        return false;
    };
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_value(&key)
    )
    .into_bytes();
    response.extend_from_slice(bytes);
    stream.write_all(&response).is_ok()
}

/// Completes the upgrade properly.
pub fn upgrade(stream: &mut TcpStream) -> bool {
    upgrade_with(stream, Some("Upgrade"))
}

/// An unmasked (server) frame: `first` is the FIN/RSV/opcode byte.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one (masked) client frame: its opcode and unmasked payload; `None` on EOF, error or a
/// payload over 1 MiB.
pub fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > 1 << 20 {
        return None;
    }
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        stream.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some((head[0] & 0x0f, payload))
}

/// The close code in a close frame's payload.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(payload.get(..2)?.try_into().ok()?))
}

/// Serves an upgraded connection politely until the client closes it: answers pings and the close
/// handshake, ignores the rest. Returns the client's close code, if it sent one.
pub fn serve(stream: &mut TcpStream) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (op, payload) = read_frame(stream)?;
        match op {
            0x9 => {
                let _ = stream.write_all(&frame(0x8A, &payload));
            }
            0x8 => {
                let _ = stream.write_all(&frame(0x88, &payload));
                return close_code(&payload);
            }
            _ => {}
        }
    }
    None
}
