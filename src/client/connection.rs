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
use std::time::{Duration, Instant};

use actix_http::ws::hash_key;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use super::deflate::{self, Inflater, Negotiated};
use super::reader::frame_reader;
pub use super::writer::{WriteSide, Writer};
use crate::chaos::CLIENT_ID_HEADER;
use crate::scenario::{Target, TcpKeepalive, WsUrl};
use crate::tls::{ClientTls, tls_failure};
use crate::upgrade_headers::{has_token, header};

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
    /// `wss://`: TLS between the TCP connect and the upgrade.
    pub tls: Option<ClientTls>,
    /// `clients.stream.resume_param`: a reconnect asks for `?<param>=<last sequence seen>`.
    pub resume_param: Option<String>,
    /// Where the request target ends in `request_head` (a query goes there).
    path_end: usize,
    /// Whether the url's path already has a query (the parameter joins it with `&`).
    has_query: bool,
    /// The request offers permessage-deflate.
    pub offers_deflate: bool,
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
            tls: None,
            resume_param: None,
            path_end: "GET ".len() + url.path.len(),
            has_query: url.path.contains('?'),
            offers_deflate: false,
        }
    }

    /// The same endpoint with permessage-deflate offered in every upgrade request.
    pub fn offering_deflate(mut self) -> Self {
        if !self.offers_deflate {
            let mut head = self.request_head.to_vec();
            head.extend_from_slice(deflate::OFFER.as_bytes());
            self.request_head = Bytes::from(head);
            self.offers_deflate = true;
        }
        self
    }

    /// The endpoint of a `wss://` target: TLS with `tls`, and a `Host` header without `:443`.
    pub fn with_tls(
        url: &WsUrl,
        addr: SocketAddr,
        target: &Target,
        max_frame: usize,
        tls: ClientTls,
    ) -> Self {
        let mut endpoint = Self::new(url, addr, target, max_frame);
        if url.port == 443 {
            let plain = format!("Host: {}\r\n", url.host_header());
            let head = String::from_utf8_lossy(&endpoint.request_head).replacen(
                &plain,
                &format!("Host: {}\r\n", url.host_header_with_default(443)),
                1,
            );
            endpoint.request_head = Bytes::from(head);
        }
        endpoint.tls = Some(tls);
        endpoint
    }
}

impl Endpoint {
    /// The request head into `out`; with a resume parameter and `since`, the request target
    /// gets `?<param>=<since>` (or `&...` after an existing query).
    fn write_head(&self, since: Option<u64>, out: &mut Vec<u8>) {
        let (Some(param), Some(since)) = (&self.resume_param, since) else {
            out.extend_from_slice(&self.request_head);
            return;
        };
        let (target, rest) = self.request_head.split_at(self.path_end);
        out.extend_from_slice(target);
        out.push(if self.has_query { b'&' } else { b'?' });
        out.extend_from_slice(format!("{param}={since}").as_bytes());
        out.extend_from_slice(rest);
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
    /// The server answered the upgrade with this HTTP status instead of 101 (503 from a server
    /// at its connection limit, 401, 429...): counted apart, as the server's refusal.
    #[error("upgrade rejected: HTTP {0} instead of 101 Switching Protocols")]
    Rejected(u16),
    /// The server's `Sec-WebSocket-Extensions` answer breaks RFC 7692 or names an extension
    /// that was not offered: counted apart, as the server's protocol error.
    #[error("extension negotiation failed: {0}")]
    Extension(String),
    /// Certificate, handshake or alert: counted apart from I/O errors.
    #[error("TLS: {0}")]
    Tls(rustls::Error),
}

impl ConnectError {
    /// An I/O error that carries a TLS failure becomes `Tls`.
    fn from_tls_side(err: ConnectError) -> ConnectError {
        match err {
            ConnectError::Io(io) => match tls_failure(&io) {
                Some(tls) => ConnectError::Tls(tls.clone()),
                None => ConnectError::Io(io),
            },
            other => other,
        }
    }
}

/// How long each phase of a successful connect took.
#[derive(Debug, Clone, Copy)]
pub struct ConnectTimes {
    pub tcp: Duration,
    /// `None` for `ws://`.
    pub tls: Option<Duration>,
    pub upgrade: Duration,
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
    /// The last sequence number of a pushed stream the client saw, for the endpoint's
    /// `resume_param`.
    pub since: Option<u64>,
}

/// Connects and upgrades.
pub async fn open(endpoint: &Endpoint, dial: Dial) -> Result<(FrameReader, Writer), ConnectError> {
    let connector = endpoint.tls.as_ref().map(ClientTls::connector);
    open_timed(endpoint, dial, connector.as_ref())
        .await
        .map(|(reader, writer, _)| (reader, writer))
}

/// Binds `ip` as the source address and leaves the port to connect(2) (Linux's
/// IP_BIND_ADDRESS_NO_PORT): connect picks a port free for the connection's four-tuple, where
/// bind(ip, 0) would search for a port unused on `ip` alone. With 20,000 connections per source
/// address that search scans the ports in use on every connect: a 400,000-client run spent 1.7
/// of its 2 cores in the kernel's `inet_bind2_bucket_find`. Where the option is refused the
/// plain bind still works.
fn bind_source(socket: &TcpSocket, ip: IpAddr) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `on`, which outlives the
        // call, on the socket's own descriptor.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    socket.bind(SocketAddr::new(ip, 0))
}

/// Connects (with TLS through `tls`, the client's own connector, on a `wss://` endpoint) and
/// upgrades; says how long each phase took.
pub async fn open_timed(
    endpoint: &Endpoint,
    dial: Dial,
    tls: Option<&TlsConnector>,
) -> Result<(FrameReader, Writer, ConnectTimes), ConnectError> {
    let Dial {
        source,
        key,
        client_id,
        keepalive,
        since,
    } = dial;
    let started = Instant::now();
    let socket = if endpoint.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        bind_source(&socket, ip)?;
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
    let connected = Instant::now();
    let tcp = connected - started;
    let fd = stream.as_raw_fd();
    let (Some(tls), Some(connector)) = (&endpoint.tls, tls) else {
        let (leftover, deflate) = upgrade(&mut stream, endpoint, key, client_id, since).await?;
        let upgrade = connected.elapsed();
        let (read, write) = stream.into_split();
        // A copy: the response buffer goes, and with no leftover (the usual case) nothing is kept.
        let leftover = Bytes::copy_from_slice(&leftover);
        let inflater = deflate.map(|_| Inflater::new(endpoint.max_frame));
        let reader = frame_reader(leftover, read, endpoint.max_frame, READ_BUFFER, inflater);
        let times = ConnectTimes {
            tcp,
            tls: None,
            upgrade,
        };
        return Ok((
            FrameReader::Plain(reader),
            Writer::new(WriteSide::Plain(write), fd, deflate.as_ref()),
            times,
        ));
    };
    let mut stream = connector
        .connect(tls.server_name.clone(), stream)
        .await
        .map_err(|err| ConnectError::from_tls_side(err.into()))?;
    let handshaken = Instant::now();
    // A TLS 1.3 server that refuses our certificate says so after its handshake: during the
    // upgrade.
    let (leftover, deflate) = upgrade(&mut stream, endpoint, key, client_id, since)
        .await
        .map_err(ConnectError::from_tls_side)?;
    let times = ConnectTimes {
        tcp,
        tls: Some(handshaken - connected),
        upgrade: handshaken.elapsed(),
    };
    // The TLS stream is one object; its halves share it through tokio's split (an uncontended
    // lock: both halves live on the client's arbiter thread).
    let (read, write) = tokio::io::split(stream);
    let leftover = Bytes::copy_from_slice(&leftover);
    let inflater = deflate.map(|_| Inflater::new(endpoint.max_frame));
    let reader = frame_reader(leftover, read, endpoint.max_frame, READ_BUFFER, inflater);
    Ok((
        FrameReader::Tls(reader),
        Writer::new(WriteSide::Tls(write), fd, deflate.as_ref()),
        times,
    ))
}

/// Sends the upgrade request and reads the 101: the bytes that came after it, and the
/// permessage-deflate parameters when the server accepted the offer.
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    endpoint: &Endpoint,
    key: [u8; 16],
    client_id: Option<u32>,
    since: Option<u64>,
) -> Result<(BytesMut, Option<Negotiated>), ConnectError> {
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let mut request = Vec::with_capacity(endpoint.request_head.len() + 128);
    endpoint.write_head(since, &mut request);
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
        if let Some(upgraded) =
            parse_upgrade_response(&buf, key.as_bytes(), endpoint.offers_deflate)?
        {
            return Ok((buf.split_off(upgraded.head_len), upgraded.deflate));
        }
    }
}

/// An upgrade response that accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgraded {
    /// Length of the response head.
    pub head_len: usize,
    /// permessage-deflate as the server accepted it.
    pub deflate: Option<Negotiated>,
}

/// Reads the upgrade response at the start of `buf` (the bytes received so far): `Ok(Some(_))`
/// when its head is complete and it accepts the upgrade for `key` (the `Sec-WebSocket-Key`
/// sent, base64) with extensions the request offered (`offered_deflate`), `Ok(None)` when more
/// bytes are needed, an error when the server refused, answered something else, accepted an
/// extension wrongly, or sent a head too long.
pub fn parse_upgrade_response(
    buf: &[u8],
    key: &[u8],
    offered_deflate: bool,
) -> Result<Option<Upgraded>, ConnectError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => {
            check_response(&response, key)?;
            let extensions = response
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|h| h.value);
            let deflate =
                deflate::negotiate(extensions, offered_deflate).map_err(ConnectError::Extension)?;
            Ok(Some(Upgraded { head_len, deflate }))
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
        return Err(ConnectError::Rejected(code));
    }
    if !header(response.headers, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
        return Err(ConnectError::Handshake(
            "missing `Upgrade: websocket`".into(),
        ));
    }
    if !has_token(response.headers, "connection", "upgrade") {
        return Err(ConnectError::Handshake(
            "missing `Connection: upgrade`".into(),
        ));
    }
    if header(response.headers, "sec-websocket-accept") != Some(&hash_key(key)[..]) {
        return Err(ConnectError::Handshake(
            "wrong or missing Sec-WebSocket-Accept".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The port is left to connect: right after the bind the socket has none, where a plain
    /// bind(ip, 0) takes one at once; once connected it has one, from the source address.
    #[tokio::test]
    async fn a_source_address_is_bound_without_a_port_until_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let source: IpAddr = "127.0.0.2".parse().expect("ip");
        let plain = TcpSocket::new_v4().expect("socket");
        plain.bind(SocketAddr::new(source, 0)).expect("bind");
        assert_ne!(plain.local_addr().expect("local").port(), 0);

        let socket = TcpSocket::new_v4().expect("socket");
        bind_source(&socket, source).expect("bind");
        let bound = socket.local_addr().expect("local");
        assert_eq!((bound.ip(), bound.port()), (source, 0));
        let stream = socket
            .connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let local = stream.local_addr().expect("local");
        assert_eq!(local.ip(), source);
        assert_ne!(local.port(), 0);
    }

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
    fn a_status_other_than_101_is_a_rejection_with_that_status() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n";
        let answer = parse_upgrade_response(full, b"dGhlIHNhbXBsZSBub25jZQ==", false);
        assert!(
            matches!(answer, Err(ConnectError::Rejected(503))),
            "{answer:?}"
        );
    }

    #[test]
    fn a_reconnect_with_a_resume_parameter_asks_for_what_came_after_its_last_sequence() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let target = crate::scenario::Target {
            url: crate::scenario::TargetUrl::Embedded,
            headers: Vec::new(),
            subprotocols: Vec::new(),
            command: None,
            tls: None,
            push: None,
            max_conns: None,
            protocol: crate::scenario::Protocol::Raw,
        };
        let head = |path: &str, param: Option<&str>, since: Option<u64>| {
            let url = WsUrl {
                host: "127.0.0.1".into(),
                port: 9,
                path: path.into(),
            };
            let mut endpoint = Endpoint::new(&url, addr, &target, 1024);
            endpoint.resume_param = param.map(str::to_string);
            let mut out = Vec::new();
            endpoint.write_head(since, &mut out);
            let text = String::from_utf8(out).expect("ascii");
            text.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(
            head("/", Some("since"), Some(41)),
            "GET /?since=41 HTTP/1.1"
        );
        assert_eq!(
            head("/feed?x=1", Some("from"), Some(7)),
            "GET /feed?x=1&from=7 HTTP/1.1"
        );
        assert_eq!(
            head("/", Some("since"), None),
            "GET / HTTP/1.1",
            "nothing seen yet"
        );
        assert_eq!(head("/", None, Some(3)), "GET / HTTP/1.1", "not asked for");
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
