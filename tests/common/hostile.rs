//! Hostile servers: small raw-TCP servers on 127.0.0.1 that each break the WebSocket protocol in
//! one way (or treat the client badly in one way), for tests that check a run survives them and
//! counts the cause. Every connection is served on its own thread, bounded in time.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
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
    /// Upgrades, then sends junk: a continuation frame that continues nothing, then stray bytes.
    GarbageAfterUpgrade,
    /// Upgrades, then sends a masked text frame (servers must not mask).
    MaskedFrame,
    /// Upgrades, then sends a frame with reserved opcode 0x3.
    ReservedOpcode,
    /// Upgrades, then sends a Ping without FIN (control frames must not be fragmented).
    FragmentedControl,
    /// Upgrades, then sends Pings as fast as it can and never answers the client's.
    PingFlood,
    /// Upgrades, reads everything, answers nothing.
    IgnoresPings,
    /// Upgrades, then sends a close frame with this code.
    CloseCode(u16),
    /// Upgrades, sends half a frame, then resets the connection (RST).
    ResetMidFrame,
}

/// How long one connection may be served.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);
/// Pings a flooding server sends at most per connection, and how many per write (a batch about
/// every millisecond: some 100,000 a second).
const FLOOD_PINGS: usize = 2_000_000;
const FLOOD_BATCH: usize = 100;

/// A running hostile server; stops accepting when dropped.
pub struct HostileServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostileServer {
    pub fn start(behaviour: Hostile) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + CONNECTION_LIFETIME * 3;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            std::thread::spawn(move || serve(stream, behaviour));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> TargetUrl {
        ws_url(self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves one connection; any socket error just ends it.
fn serve(mut stream: TcpStream, behaviour: Hostile) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Some(key) = read_upgrade_key(&mut stream) else {
        return;
    };
    let switching = |accept: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    };
    let accept = String::from_utf8_lossy(&actix_http::ws::hash_key(key.as_bytes())).into_owned();
    let after_upgrade: &[u8] = match behaviour {
        Hostile::NoUpgrade => return,
        Hostile::Ok200 => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            linger(&mut stream);
            return;
        }
        Hostile::WrongAccept => {
            let _ = stream.write_all(switching("bm90IHRoZSByaWdodCBhbnN3ZXI=").as_bytes());
            linger(&mut stream);
            return;
        }
        Hostile::GarbageAfterUpgrade => &[0x80, 0x03, b'a', b'b', b'c', 0x00, 0x13, 0x37],
        Hostile::MaskedFrame => &[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2],
        Hostile::ReservedOpcode => &[0x83, 0x00],
        Hostile::FragmentedControl => &[0x09, 0x01, b'p'],
        Hostile::PingFlood | Hostile::IgnoresPings | Hostile::CloseCode(_) => &[],
        Hostile::ResetMidFrame => &[0x82, 0x7e, 0x10, 0x00, 1, 2, 3],
    };
    if stream.write_all(switching(&accept).as_bytes()).is_err() {
        return;
    }
    // The wrong frame goes out only once the client has sent a frame (its first heartbeat), so it
    // never shares a segment with the 101 and always reaches the client's frame reader.
    if !matches!(behaviour, Hostile::PingFlood | Hostile::IgnoresPings)
        && !client_has_sent_a_frame(&mut stream)
    {
        return;
    }
    let _ = stream.write_all(after_upgrade);
    match behaviour {
        Hostile::PingFlood => flood(&mut stream),
        Hostile::CloseCode(code) => {
            let [high, low] = code.to_be_bytes();
            let _ = stream.write_all(&[0x88, 0x02, high, low]);
            linger(&mut stream);
        }
        Hostile::ResetMidFrame => {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        _ => linger(&mut stream),
    }
}

/// Reads the request head and returns its Sec-WebSocket-Key.
fn read_upgrade_key(stream: &mut TcpStream) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if Instant::now() > deadline || head.len() > 16 * 1024 {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    })
}

/// Waits (bounded) for the first bytes of a client frame; false if none came.
fn client_has_sent_a_frame(stream: &mut TcpStream) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut first = [0; 64];
    while Instant::now() < deadline {
        match stream.read(&mut first) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(e) if is_timeout(&e) => {}
            Err(_) => return false,
        }
    }
    false
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Keeps the connection open, reading and discarding, until the client goes or time runs out.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    let mut sink = [0; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sends Pings in paced batches until the client goes or time runs out; another thread reads
/// and discards, and keeps the connection open afterwards.
fn flood(stream: &mut TcpStream) {
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    let Ok(mut reader) = stream.try_clone() else {
        return;
    };
    std::thread::spawn(move || linger(&mut reader));
    let batch: Vec<u8> = [0x89, 0x01, b'f'].repeat(FLOOD_BATCH);
    for _ in 0..FLOOD_PINGS / FLOOD_BATCH {
        if Instant::now() > deadline || stream.write_all(&batch).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
