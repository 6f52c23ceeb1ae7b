//! Hostile servers: raw-TCP servers on 127.0.0.1 that break the WebSocket protocol, or treat the
//! client badly, in one way each (`Hostile`, one behaviour per variant, served by
//! `HostileServer`), and `RawServer` for tests that script a connection themselves, with the
//! pieces both are made of: reading the upgrade request, answering it rightly or not, writing
//! server frames and reading client frames. Every connection runs on its own thread, bounded in
//! time; a misbehaviour goes out in the same write as the 101 (the client decodes bytes that
//! arrive with the 101 at once). Also the memory probe the hostile cases use.
#![allow(dead_code)] // each test module uses a different subset

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wschaos::scenario::TargetUrl;

use super::ws_url;

/// The one thing a hostile server does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Reads the upgrade request, then closes without a response.
    NoUpgrade,
    /// Answers the upgrade with `200 OK`.
    Ok200,
    /// Answers `101` with a Sec-WebSocket-Accept that does not match the key.
    WrongAccept,
    /// Answers `101` without a `Connection: Upgrade` line (then serves politely).
    NoConnectionUpgrade,
    /// Upgrades, then sends junk: a continuation frame that continues nothing, then stray bytes.
    GarbageAfterUpgrade,
    /// Upgrades, then sends a text frame header declaring 2^62 bytes and streams its payload
    /// for `STREAM_FOR` (or until the client lets go).
    EndlessFrame,
    /// Upgrades, then sends one 16 MiB binary frame: over any client's frame limit, and exactly
    /// the proxy's.
    OversizedFrame,
    /// Upgrades, then sends a masked text frame (servers must not mask).
    MaskedFrame,
    /// Upgrades, then sends a frame with reserved opcode 0x3.
    ReservedOpcode,
    /// Upgrades, then sends a Ping without FIN (control frames must not be fragmented).
    FragmentedControl,
    /// Upgrades, then sends a text frame with RSV1 set (no extension was negotiated).
    ReservedBit,
    /// Upgrades, then sends a text frame that is not UTF-8.
    InvalidUtf8,
    /// Upgrades, then sends Pings as fast as it can and never answers the client's.
    PingFlood,
    /// Upgrades, reads everything, answers nothing.
    IgnoresPings,
    /// Upgrades, then sends a close frame with this code.
    CloseCode(u16),
    /// Upgrades, sends half a frame, then resets the connection (RST).
    ResetMidFrame,
    /// Upgrades, then never reads again, its receive buffer 4 KiB (no autotuning).
    NeverReads,
}

/// How long one connection may be served.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);
/// How long a server accepts connections.
const ACCEPT_LIFETIME: Duration = Duration::from_secs(60);
/// Connections a server accepts at most.
const MAX_CONNECTIONS: usize = 200;
/// Longest a script blocks on one read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `EndlessFrame` streams: at a few hundred MB/s, long enough that a client buffering
/// the payload would grow by gigabytes.
pub const STREAM_FOR: Duration = Duration::from_secs(3);
/// The payload `OversizedFrame` declares and sends.
pub const OVERSIZED: u64 = 16 << 20;
/// How long `NeverReads` holds a connection.
const NEVER_READS_HOLD: Duration = Duration::from_secs(6);
/// Pings a flooding server sends at most per connection, and how many per write (a batch about
/// every millisecond: some 100,000 a second).
const FLOOD_PINGS: usize = 2_000_000;
const FLOOD_BATCH: usize = 100;

/// A server that runs a script on every connection; stops accepting when dropped.
pub struct RawServer {
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
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
        listener.set_nonblocking(true).expect("nonblocking");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (accepted.clone(), stop.clone());
        let script = Arc::new(script);
        std::thread::spawn(move || {
            let deadline = Instant::now() + ACCEPT_LIFETIME;
            let mut index = 0;
            while index < MAX_CONNECTIONS
                && !stopped.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                lock(&log).push(Instant::now());
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
                let script = script.clone();
                std::thread::spawn(move || script(stream, index));
                index += 1;
            }
        });
        Self {
            addr,
            accepted,
            stop,
        }
    }

    pub fn url(&self) -> TargetUrl {
        ws_url(self.addr)
    }

    /// When each connection was accepted.
    pub fn accepted(&self) -> Vec<Instant> {
        lock(&self.accepted).clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a hostile server saw of the client on one connection.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Close code of the client's close frame, if one came (`Some(None)`: one without a code).
    pub close: Option<Option<u16>>,
    /// Payload bytes the server managed to write before the client let go (`EndlessFrame`,
    /// `OversizedFrame`).
    pub written: u64,
}

/// A server doing one `Hostile` thing on every connection, until `heal` makes it a polite echo
/// server for the connections that come after.
pub struct HostileServer {
    raw: RawServer,
    seen: Arc<Mutex<Vec<Seen>>>,
    healed: Arc<AtomicBool>,
}

impl HostileServer {
    pub fn start(behaviour: Hostile) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let healed = Arc::new(AtomicBool::new(false));
        let (log, healthy) = (seen.clone(), healed.clone());
        let raw = RawServer::start_on(listener(behaviour), move |mut stream, _| {
            if healthy.load(Ordering::Relaxed) {
                if upgrade(&mut stream) {
                    serve(&mut stream);
                }
            } else {
                misbehave(stream, behaviour, &log);
            }
        });
        Self { raw, seen, healed }
    }

    pub fn addr(&self) -> SocketAddr {
        self.raw.addr
    }

    pub fn url(&self) -> TargetUrl {
        self.raw.url()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.raw.accepted().len()
    }

    /// What the server saw on each upgraded connection so far, in upgrade order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Connections accepted from now on are served politely (upgrade, echo, pongs, close).
    pub fn heal(&self) {
        self.healed.store(true, Ordering::Relaxed);
    }
}

/// A loopback listener; `NeverReads` gets a 4 KiB receive buffer so it fills at once.
fn listener(behaviour: Hostile) -> TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    if behaviour == Hostile::NeverReads {
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    }
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    socket.listen(128).expect("listen");
    TcpListener::from(socket)
}

/// The 101 response, with `connection` as the Connection header's value (or no such line).
fn switching(accept: &str, connection: Option<&str>) -> String {
    let connection = connection.map_or(String::new(), |v| format!("Connection: {v}\r\n"));
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{connection}\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// Serves one connection the way `behaviour` says; any socket error just ends it.
fn misbehave(mut stream: TcpStream, behaviour: Hostile, log: &Arc<Mutex<Vec<Seen>>>) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Some(key) = read_request(&mut stream) else {
        return;
    };
    let accept = accept_value(&key);
    let after_upgrade: Vec<u8> = match behaviour {
        Hostile::NoUpgrade => return,
        Hostile::Ok200 => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            hold_open(&mut stream);
            return;
        }
        Hostile::WrongAccept => {
            let wrong = switching("bm90IHRoZSByaWdodCBhbnN3ZXI=", Some("Upgrade"));
            let _ = stream.write_all(wrong.as_bytes());
            hold_open(&mut stream);
            return;
        }
        Hostile::NoConnectionUpgrade => {
            if stream
                .write_all(switching(&accept, None).as_bytes())
                .is_ok()
            {
                serve(&mut stream);
            }
            return;
        }
        Hostile::GarbageAfterUpgrade => vec![0x80, 0x03, b'a', b'b', b'c', 0x00, 0x13, 0x37],
        Hostile::EndlessFrame => header(0x81, 1 << 62),
        Hostile::OversizedFrame => header(0x82, OVERSIZED),
        Hostile::MaskedFrame => vec![0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2],
        Hostile::ReservedOpcode => frame(0x83, b""),
        Hostile::FragmentedControl => vec![0x09, 0x01, b'p'],
        Hostile::ReservedBit => frame(0xC1, b"hi"), // FIN + RSV1 + text
        Hostile::InvalidUtf8 => frame(0x81, &[b'h', 0xff, 0xfe]),
        Hostile::CloseCode(code) => frame(0x88, &code.to_be_bytes()),
        Hostile::ResetMidFrame => vec![0x82, 0x7e, 0x10, 0x00, 1, 2, 3],
        Hostile::PingFlood | Hostile::IgnoresPings | Hostile::NeverReads => Vec::new(),
    };
    let mut response = switching(&accept, Some("Upgrade")).into_bytes();
    response.extend_from_slice(&after_upgrade);
    if stream.write_all(&response).is_err() {
        return;
    }
    match behaviour {
        Hostile::NeverReads => {
            std::thread::sleep(NEVER_READS_HOLD);
            return;
        }
        Hostile::ResetMidFrame => {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            return;
        }
        _ => {}
    }
    let slot = {
        let mut seen = lock(log);
        seen.push(Seen::default());
        seen.len() - 1
    };
    let watcher = stream.try_clone().ok().map(|mut reading| {
        let log = log.clone();
        std::thread::spawn(move || watch_client(&mut reading, &log, slot))
    });
    let written = match behaviour {
        Hostile::EndlessFrame => stream_payload(&mut stream, u64::MAX),
        Hostile::OversizedFrame => stream_payload(&mut stream, OVERSIZED),
        Hostile::PingFlood => {
            flood(&mut stream);
            0
        }
        _ => 0,
    };
    lock(log)[slot].written = written;
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// A server frame header (no mask) declaring `len` payload bytes, in the 8-byte form.
fn header(first: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first, 127];
    out.extend_from_slice(&len.to_be_bytes());
    out
}

/// Writes up to `total` payload bytes for at most `STREAM_FOR`; returns how many went out
/// before the time was up or the client let go.
fn stream_payload(stream: &mut TcpStream, total: u64) -> u64 {
    const CHUNK: usize = 64 * 1024;
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let chunk = vec![b'x'; CHUNK];
    let deadline = Instant::now() + STREAM_FOR;
    let mut written = 0;
    while written < total && Instant::now() < deadline {
        let len = (total - written).min(CHUNK as u64) as usize;
        match stream.write(&chunk[..len]) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    written
}

/// Reads the client's frames until it goes (or time runs out), noting its close frame.
fn watch_client(stream: &mut TcpStream, log: &Mutex<Vec<Seen>>, slot: usize) {
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    while Instant::now() < deadline {
        let Some((op, payload)) = read_frame(stream) else {
            return;
        };
        if op == 0x8 {
            lock(log)[slot].close = Some(close_code(&payload));
        }
    }
}

/// Keeps the connection open, reading and discarding, until the client goes or time runs out.
fn hold_open(stream: &mut TcpStream) {
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    let mut sink = [0; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sends Pings in paced batches until the client goes or time runs out.
fn flood(stream: &mut TcpStream) {
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    let batch: Vec<u8> = [0x89, 0x01, b'f'].repeat(FLOOD_BATCH);
    for _ in 0..FLOOD_PINGS / FLOOD_BATCH {
        if Instant::now() > deadline || stream.write_all(&batch).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
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
    let response = switching(&accept_value(&key), connection);
    stream.write_all(response.as_bytes()).is_ok()
}

/// Completes the upgrade and sends `bytes` in the same write as the 101.
pub fn upgrade_and_send(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let Some(key) = read_request(stream) else {
        return false;
    };
    let mut response = switching(&accept_value(&key), Some("Upgrade")).into_bytes();
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

/// A masked (client) frame of under 126 payload bytes.
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "a short frame");
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads one frame (masked or not): its opcode and unmasked payload; `None` on EOF, error or a
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

/// Serves an upgraded connection politely until the client closes it: echoes text and binary
/// frames, answers pings and the close handshake. Returns the client's close code, if it sent
/// one.
pub fn serve(stream: &mut TcpStream) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (op, payload) = read_frame(stream)?;
        match op {
            0x1 | 0x2 => {
                let _ = stream.write_all(&frame(0x80 | op, &payload));
            }
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

/// Upgrades a fresh connection to `addr`, sends a text frame and reads the answer: true if the
/// same text came back (within 2 s).
pub fn echoes(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || !matches!(stream.read(&mut byte), Ok(1)) {
            return false;
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return false;
    }
    if stream
        .write_all(&client_frame(0x81, b"still there?"))
        .is_err()
    {
        return false;
    }
    let echoed = read_frame(&mut stream) == Some((0x1, b"still there?".to_vec()));
    let _ = stream.write_all(&client_frame(0x88, &1000u16.to_be_bytes()));
    echoed
}

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// The highest it has been (VmHWM).
    pub peak: u64,
    /// Now (VmRSS).
    pub now: u64,
}

/// The memory of process `pid` ("self" for this one), from /proc; `None` once it is gone.
pub fn memory(pid: &str) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let value = line[name.len()..].trim().strip_suffix("kB")?.trim();
        Some(value.parse::<u64>().ok()? * 1024)
    };
    Some(Memory {
        peak: kib("VmHWM:")?,
        now: kib("VmRSS:")?,
    })
}

/// Waits (at most `limit`) for `child` to exit, reading its peak memory every 20 ms meanwhile;
/// returns the last peak read (the child's own, as it was just before it exited) and whether it
/// exited successfully. Kills it and fails past the limit.
pub fn peak_memory_until_exit(child: &mut Child, limit: Duration) -> (u64, bool) {
    let deadline = Instant::now() + limit;
    let pid = child.id().to_string();
    let mut peak = 0;
    loop {
        if let Some(memory) = memory(&pid) {
            peak = peak.max(memory.peak);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (peak, status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
