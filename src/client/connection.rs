//! One WebSocket connection as a client sees it: TCP connect (optionally from a chosen source
//! address), the HTTP/1.1 upgrade, and a writer that encodes frames straight into one reusable
//! buffer and writes them with a non-blocking syscall.
//!
//! We do the upgrade ourselves (with actix-http's frame codec and `hash_key`) instead of through
//! awc. awc could bind the source address (`Connector::local_address`) and set socket options
//! through a custom connector, but after the upgrade it hands back the socket as a boxed stream
//! with no descriptor, so a `drop` fault could not turn the close into a reset (SO_LINGER 0); it
//! keeps an 8 KiB read and an 8 KiB write buffer per connection where a client needs a few
//! hundred bytes (times every client of a run); and each tunnel holds a permit of its connection
//! pool. The checks awc makes on the response (101, `Upgrade: websocket`, `Connection: upgrade`,
//! `Sec-WebSocket-Accept`) are made here too.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use actix_http::ws::{CloseReason, OpCode, Parser, hash_key};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};

use super::reader::frame_reader;
use crate::chaos::CLIENT_ID_HEADER;
use crate::scenario::{Target, TcpKeepalive, WsUrl};

/// Largest upgrade response we accept before calling the server hostile.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Initial read buffer: heartbeats and acks are tiny; the buffer grows only for big frames.
const READ_BUFFER: usize = 256;

/// Where and how every client of a run connects; built once and shared.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The upgrade request up to (not including) the per-connection `Sec-WebSocket-Key` line.
    request_head: Bytes,
    /// Largest frame accepted from the server.
    pub max_frame: usize,
}

impl Endpoint {
    pub fn new(url: &WsUrl, addr: SocketAddr, target: &Target, max_frame: usize) -> Self {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
            url.path,
            url.host_header()
        );
        for (name, value) in &target.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !target.subprotocols.is_empty() {
            head.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                target.subprotocols.join(", ")
            ));
        }
        Self {
            addr,
            request_head: Bytes::from(head),
            max_frame,
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect: {0}")]
    Io(#[from] io::Error),
    #[error("connect timed out")]
    Timeout,
    #[error("upgrade rejected: {0}")]
    Handshake(String),
}

pub use super::reader::FrameReader;

/// Per-attempt socket and request options.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// Local address to bind before connecting.
    pub source: Option<IpAddr>,
    /// The 16 random bytes of `Sec-WebSocket-Key`.
    pub key: [u8; 16],
    /// Sent as the chaos proxy's client-id header.
    pub client_id: Option<u32>,
    pub keepalive: Option<TcpKeepalive>,
}

/// Connects and upgrades.
pub async fn open(endpoint: &Endpoint, dial: Dial) -> Result<(FrameReader, Writer), ConnectError> {
    let Dial {
        source,
        key,
        client_id,
        keepalive,
    } = dial;
    let socket = if endpoint.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let mut stream = socket.connect(endpoint.addr).await?;
    stream.set_nodelay(true)?;
    if let Some(k) = keepalive {
        let params = socket2::TcpKeepalive::new()
            .with_time(k.idle)
            .with_interval(k.interval)
            .with_retries(k.count);
        socket2::SockRef::from(&stream).set_tcp_keepalive(&params)?;
    }
    let leftover = upgrade(&mut stream, endpoint, key, client_id).await?;

    let fd = stream.as_raw_fd();
    let (read, write) = stream.into_split();
    // A copy: the response buffer goes, and with no leftover (the usual case) nothing is kept.
    let leftover = Bytes::copy_from_slice(&leftover);
    let reader = frame_reader(leftover, read, endpoint.max_frame, READ_BUFFER);
    Ok((reader, Writer::new(write, fd)))
}

async fn upgrade(
    stream: &mut TcpStream,
    endpoint: &Endpoint,
    key: [u8; 16],
    client_id: Option<u32>,
) -> Result<BytesMut, ConnectError> {
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let mut request = Vec::with_capacity(endpoint.request_head.len() + 96);
    request.extend_from_slice(&endpoint.request_head);
    if let Some(id) = client_id {
        request.extend_from_slice(format!("{CLIENT_ID_HEADER}: {id}\r\n").as_bytes());
    }
    request.extend_from_slice(b"Sec-WebSocket-Key: ");
    request.extend_from_slice(key.as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&request).await?;

    let mut buf = BytesMut::with_capacity(512);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ConnectError::Handshake(
                "connection closed during the upgrade".into(),
            ));
        }
        if let Some(len) = parse_upgrade_response(&buf, key.as_bytes())? {
            return Ok(buf.split_off(len));
        }
    }
}

/// Reads the upgrade response at the start of `buf` (the bytes received so far): `Ok(Some(n))`
/// when its head is the first `n` bytes and it accepts the upgrade for `key` (the
/// `Sec-WebSocket-Key` sent, base64), `Ok(None)` when more bytes are needed, an error when the
/// server refused, answered something else, or sent a head too long.
pub fn parse_upgrade_response(buf: &[u8], key: &[u8]) -> Result<Option<usize>, ConnectError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            check_response(&response, key)?;
            Ok(Some(len))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            Err(ConnectError::Handshake(format!(
                "response head longer than {MAX_RESPONSE_HEAD} bytes"
            )))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(ConnectError::Handshake(format!(
            "malformed HTTP response: {e}"
        ))),
    }
}

fn check_response(response: &httparse::Response<'_, '_>, key: &[u8]) -> Result<(), ConnectError> {
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(ConnectError::Handshake(format!(
            "HTTP {code} instead of 101 Switching Protocols"
        )));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
        return Err(ConnectError::Handshake(
            "missing `Upgrade: websocket`".into(),
        ));
    }
    let connection_upgrade = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    if !connection_upgrade {
        return Err(ConnectError::Handshake(
            "missing `Connection: upgrade`".into(),
        ));
    }
    if header("sec-websocket-accept") != Some(&hash_key(key)[..]) {
        return Err(ConnectError::Handshake(
            "wrong or missing Sec-WebSocket-Accept".into(),
        ));
    }
    Ok(())
}

/// The write side of a connection: frames are encoded (masked) into `buf` and written at once;
/// only when the socket is full does the actor wait for writability (see `take_half`).
#[derive(Debug)]
pub struct Writer {
    half: Option<OwnedWriteHalf>,
    buf: BytesMut,
    fd: i32,
}

impl Writer {
    fn new(half: OwnedWriteHalf, fd: i32) -> Self {
        Self {
            half: Some(half),
            buf: BytesMut::with_capacity(64),
            fd,
        }
    }

    pub fn queue(&mut self, op: OpCode, payload: &[u8]) {
        Parser::write_message(&mut self.buf, payload, op, true, true);
    }

    pub fn queue_close(&mut self, reason: Option<CloseReason>) {
        Parser::write_close(&mut self.buf, reason, true);
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn queued(&self) -> usize {
        self.buf.len()
    }

    /// Writes what is buffered without blocking. `Ok(true)`: all written; `Ok(false)`: the
    /// socket is full or the half is out waiting for writability.
    pub fn try_flush(&mut self) -> io::Result<bool> {
        let Some(half) = &self.half else {
            return Ok(false);
        };
        while !self.buf.is_empty() {
            match half.try_write(&self.buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let _ = self.buf.split_to(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Lends the socket's write half to a future that waits for writability.
    pub fn take_half(&mut self) -> Option<OwnedWriteHalf> {
        self.half.take()
    }

    pub fn put_half(&mut self, half: OwnedWriteHalf) {
        self.half = Some(half);
    }

    /// Lends the connection's socket to `f`, to read its options.
    pub fn with_socket<R>(&self, f: impl FnOnce(socket2::SockRef<'_>) -> R) -> R {
        // SAFETY: `fd` belongs to the stream whose halves this writer and its reader own; the
        // borrow ends before `self` can be dropped.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        f(socket2::SockRef::from(&fd))
    }

    /// Makes the coming close an RST instead of a FIN (SO_LINGER 0) and skips the write
    /// shutdown, so the peer sees a reset with no close frame.
    pub fn reset_on_close(&mut self) {
        // SAFETY: `fd` belongs to the stream whose halves this writer and its reader still own;
        // it is open for as long as `self` lives.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
        if let Some(half) = self.half.take() {
            half.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &str) -> Result<(), ConnectError> {
        let key = b"dGhlIHNhbXBsZSBub25jZQ==";
        let accept = hash_key(key);
        let text = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{head}Sec-WebSocket-Accept: {}\r\n\r\n",
            String::from_utf8_lossy(&accept)
        );
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        assert!(
            response
                .parse(text.as_bytes())
                .is_ok_and(|s| s.is_complete())
        );
        check_response(&response, key)
    }

    #[test]
    fn connection_must_carry_the_upgrade_token_in_any_case_and_any_place_of_its_list() {
        assert!(check("Connection: Upgrade\r\n").is_ok());
        assert!(check("connection: keep-alive, UPGRADE\r\n").is_ok());
        assert!(check("Connection: keep-alive\r\nConnection: upgrade\r\n").is_ok());
        assert!(check("").is_err(), "no Connection header");
        assert!(check("Connection: keep-alive\r\n").is_err());
        assert!(
            check("Connection: upgraded\r\n").is_err(),
            "a token, not a prefix"
        );
    }
}
