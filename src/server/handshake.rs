//! The embedded server's side of the upgrade: a client's HTTP/1.1 request head answered with 101
//! and `Sec-WebSocket-Accept` when it asks for a WebSocket on any path, with an error status (and
//! the end of the connection) otherwise.

use actix_http::ws::hash_key;
use bytes::{BufMut, BytesMut};

use crate::upgrade_headers::{has_token, header};

/// Largest request head taken; a longer one is refused.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What a request head (so far) asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// The head is not complete yet.
    Partial,
    /// A WebSocket upgrade; the head is the first `head_len` bytes (frames may follow).
    Upgrade {
        head_len: usize,
        accept: [u8; 28],
        /// The request target's query, when it has one (push mode's `?since=`).
        query: Option<Box<str>>,
    },
    /// Anything else: answered with this status line, then the connection ends.
    Refused(&'static str),
}

const BAD_REQUEST: &str = "400 Bad Request";

/// Reads the request head at the start of `buf`, as far as it has come.
pub fn read_request(buf: &[u8]) -> Request {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
            return Request::Refused("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Partial) => return Request::Partial,
        Err(_) => return Request::Refused(BAD_REQUEST),
    };
    if request.method != Some("GET") {
        return Request::Refused("405 Method Not Allowed");
    }
    let query = request
        .path
        .and_then(|path| path.split_once('?'))
        .map(|(_, query)| Box::from(query));
    let headers = request.headers;
    let websocket = header(headers, "upgrade").is_some_and(|v| {
        v.to_ascii_lowercase()
            .windows(b"websocket".len())
            .any(|w| w == b"websocket")
    });
    if !websocket || !has_token(headers, "connection", "upgrade") {
        return Request::Refused(BAD_REQUEST);
    }
    if header(headers, "sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Request::Refused(BAD_REQUEST);
    }
    match header(headers, "sec-websocket-key").map(<[u8]>::trim_ascii) {
        Some(key) if !key.is_empty() => Request::Upgrade {
            head_len,
            accept: hash_key(key),
            query,
        },
        _ => Request::Refused(BAD_REQUEST),
    }
}

/// Appends the 101 response for `accept` to `out`.
pub fn write_switching(out: &mut BytesMut, accept: &[u8; 28]) {
    out.put_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.put_slice(accept);
    out.put_slice(b"\r\n\r\n");
}

/// Appends a refusal with `status` (no body; the connection ends after it) to `out`.
pub fn write_refusal(out: &mut BytesMut, status: &str) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_bytes());
    out.put_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(method: &str, headers: &str) -> String {
        format!("{method} /any/path?x=1 HTTP/1.1\r\nHost: h\r\n{headers}\r\n")
    }

    fn upgrade_headers() -> String {
        format!(
            "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
        )
    }

    #[test]
    fn an_upgrade_on_any_path_is_accepted_with_the_rfc_accept_key() {
        let mut bytes = request("GET", &upgrade_headers()).into_bytes();
        let head = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x80]);
        let Request::Upgrade {
            head_len,
            accept,
            query,
        } = read_request(&bytes)
        else {
            panic!("not accepted");
        };
        assert_eq!(head_len, head, "frames after the head stay");
        assert_eq!(query.as_deref(), Some("x=1"));
        // RFC 6455 section 1.3's example.
        assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut out = BytesMut::new();
        write_switching(&mut out, &accept);
        assert!(out.starts_with(b"HTTP/1.1 101 "));
        assert!(out.ends_with(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    }

    #[test]
    fn a_partial_head_waits_and_anything_but_an_upgrade_is_refused() {
        let full = request("GET", &upgrade_headers());
        assert_eq!(read_request(&full.as_bytes()[..20]), Request::Partial);
        assert_eq!(
            read_request(request("POST", &upgrade_headers()).as_bytes()),
            Request::Refused("405 Method Not Allowed")
        );
        let key_line = format!("Sec-WebSocket-Key: {KEY}\r\n");
        for missing in [
            "Upgrade: websocket\r\n",
            "Connection: keep-alive, Upgrade\r\n",
            "Sec-WebSocket-Version: 13\r\n",
            &key_line,
        ] {
            let headers = upgrade_headers().replace(missing, "");
            assert_eq!(
                read_request(request("GET", &headers).as_bytes()),
                Request::Refused(BAD_REQUEST),
                "without {missing}"
            );
        }
        let old = upgrade_headers().replace("Version: 13", "Version: 8");
        assert_eq!(
            read_request(request("GET", &old).as_bytes()),
            Request::Refused(BAD_REQUEST)
        );
        assert_eq!(
            read_request(b"\x16\x03\x01garbage\r\n\r\n"),
            Request::Refused(BAD_REQUEST)
        );
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert!(
            matches!(read_request(endless.as_bytes()), Request::Refused(s) if s.starts_with("431"))
        );
        let mut out = BytesMut::new();
        write_refusal(&mut out, BAD_REQUEST);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}
