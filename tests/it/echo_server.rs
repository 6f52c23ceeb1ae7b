//! The embedded echo server against a raw socket: a message sent in fragments comes back whole
//! (text as text, binary as binary), one past the reassembly bound is closed with 1009, and other
//! input the server cannot take is closed with a code saying why; its own counters; a kill drops
//! every connection without a close frame and a restart serves the same port again.

use std::net::SocketAddr;
use std::time::Duration;

use actix_http::ws::{CloseCode, OpCode, Parser};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use wschaos::server::{EmbeddedServer, MAX_FRAME, MAX_MESSAGE};

/// How long any one read may wait.
const READ_WAIT: Duration = Duration::from_secs(5);

/// A hand-made client: its own upgrade, frames written one by one.
struct RawClient {
    stream: TcpStream,
    read: BytesMut,
}

impl RawClient {
    async fn upgrade(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut read = BytesMut::new();
        let head_end = loop {
            if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = timeout(READ_WAIT, stream.read_buf(&mut read))
                .await
                .expect("response in time")
                .expect("read");
            assert!(n > 0, "closed before the response");
        };
        let head = read.split_to(head_end);
        assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
        Self { stream, read }
    }

    /// Writes one masked frame.
    async fn send(&mut self, op: OpCode, fin: bool, payload: &[u8]) {
        let mut frame = BytesMut::new();
        Parser::write_message(&mut frame, payload, op, fin, true);
        self.send_raw(&frame).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The code of the close frame that must come next.
    async fn close_code(&mut self) -> Option<CloseCode> {
        let (fin, op, payload) = self.recv().await;
        assert_eq!((fin, op), (true, OpCode::Close), "{payload:?}");
        let reason = Parser::try_parse_close_payload(&payload).expect("a valid close payload");
        reason.map(|r| r.code)
    }

    /// Everything the server sends until it hangs up (a reset counts as hanging up).
    async fn rest(&mut self) -> Vec<u8> {
        let mut rest = self.read.to_vec();
        let mut buf = [0u8; 4096];
        loop {
            match timeout(READ_WAIT, self.stream.read(&mut buf))
                .await
                .expect("the end in time")
            {
                Ok(0) | Err(_) => return rest,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The next whole frame from the server: (fin, opcode, payload).
    async fn recv(&mut self) -> (bool, OpCode, Vec<u8>) {
        loop {
            if let Some((fin, op, payload)) =
                Parser::parse(&mut self.read, false, 2 * MAX_MESSAGE).expect("a valid frame")
            {
                return (fin, op, payload.map(|p| p.to_vec()).unwrap_or_default());
            }
            let n = timeout(READ_WAIT, self.stream.read_buf(&mut self.read))
                .await
                .expect("a frame in time")
                .expect("read");
            assert!(n > 0, "closed before a whole frame");
        }
    }
}

/// Runs `test` against a fresh embedded server inside an actix system.
fn with_server<F: Future<Output = ()>>(test: impl FnOnce(SocketAddr) -> F) {
    actix_rt::System::new().block_on(async {
        let server =
            EmbeddedServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).expect("server");
        test(server.addr()).await;
    });
}

#[test]
fn a_text_message_in_three_fragments_is_echoed_whole() {
    with_server(|addr| async move {
        let mut client = RawClient::upgrade(addr).await;
        client.send(OpCode::Text, false, b"frag").await;
        client.send(OpCode::Continue, false, b"ment").await;
        client.send(OpCode::Continue, true, b"ed \xc3\xa9cho").await;
        assert_eq!(
            client.recv().await,
            (true, OpCode::Text, "fragmented écho".as_bytes().to_vec())
        );

        // A ping between fragments is answered at once; the message still arrives whole.
        client.send(OpCode::Binary, false, &[1, 2]).await;
        client.send(OpCode::Ping, true, b"p").await;
        assert_eq!(client.recv().await, (true, OpCode::Pong, b"p".to_vec()));
        client.send(OpCode::Continue, false, &[3]).await;
        client.send(OpCode::Continue, true, &[4, 5]).await;
        assert_eq!(
            client.recv().await,
            (true, OpCode::Binary, vec![1, 2, 3, 4, 5])
        );

        // Unfragmented messages are echoed as before.
        client.send(OpCode::Text, true, b"whole").await;
        assert_eq!(client.recv().await, (true, OpCode::Text, b"whole".to_vec()));
    });
}

#[test]
fn a_fragmented_message_past_the_bound_is_closed_with_1009() {
    with_server(|addr| async move {
        let mut client = RawClient::upgrade(addr).await;
        // Each fragment is well under the frame limit; together they pass the message bound.
        let fragment = vec![b'x'; MAX_MESSAGE / 2];
        client.send(OpCode::Text, false, &fragment).await;
        client.send(OpCode::Continue, false, &fragment).await;
        client.send(OpCode::Continue, true, b"one too many").await;
        assert_eq!(client.close_code().await, Some(CloseCode::Size));
    });
}

#[test]
fn input_the_server_cannot_take_is_closed_with_a_code_saying_why() {
    with_server(|addr| async move {
        // One frame past the frame limit.
        let mut client = RawClient::upgrade(addr).await;
        client
            .send(OpCode::Binary, true, &vec![0; MAX_FRAME + 1])
            .await;
        assert_eq!(client.close_code().await, Some(CloseCode::Size));

        // A text message that is not UTF-8.
        let mut client = RawClient::upgrade(addr).await;
        client.send(OpCode::Text, true, b"\xff\xfe").await;
        assert_eq!(client.close_code().await, Some(CloseCode::Invalid));

        // A text message whose fragments are UTF-8 only up to a character split between them
        // is fine; one that is not UTF-8 once whole closes 1007.
        let mut client = RawClient::upgrade(addr).await;
        client.send(OpCode::Text, false, b"\xc3").await;
        client.send(OpCode::Continue, true, b"\xa9").await;
        assert_eq!(
            client.recv().await,
            (true, OpCode::Text, "é".as_bytes().to_vec())
        );
        client.send(OpCode::Text, false, b"ok").await;
        client.send(OpCode::Continue, true, b"\xff").await;
        assert_eq!(client.close_code().await, Some(CloseCode::Invalid));

        // A reserved bit with no extension negotiated is a protocol error.
        let mut client = RawClient::upgrade(addr).await;
        let mut frame = BytesMut::new();
        Parser::write_message(&mut frame, b"rsv1", OpCode::Text, true, true);
        frame[0] |= 0x40;
        client.send_raw(&frame).await;
        assert_eq!(client.close_code().await, Some(CloseCode::Protocol));

        // An unmasked client frame breaks the protocol.
        let mut client = RawClient::upgrade(addr).await;
        let mut frame = BytesMut::new();
        Parser::write_message(&mut frame, b"bare", OpCode::Text, true, false);
        client.send_raw(&frame).await;
        assert_eq!(client.close_code().await, Some(CloseCode::Protocol));
    });
}

#[test]
fn the_server_counts_upgrades_echoes_pongs_close_frames_and_open_connections() {
    actix_rt::System::new().block_on(async {
        let server =
            EmbeddedServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).expect("server");
        let stats = server.stats();
        let mut client = RawClient::upgrade(server.addr()).await;
        let mut idle = RawClient::upgrade(server.addr()).await;
        client.send(OpCode::Text, true, b"one").await;
        assert_eq!(client.recv().await, (true, OpCode::Text, b"one".to_vec()));
        client.send(OpCode::Binary, false, &[1]).await;
        client.send(OpCode::Continue, true, &[2]).await;
        assert_eq!(client.recv().await, (true, OpCode::Binary, vec![1, 2]));
        client.send(OpCode::Ping, true, b"p").await;
        assert_eq!(client.recv().await, (true, OpCode::Pong, b"p".to_vec()));
        let open = stats.counts();
        assert_eq!((open.upgrades, open.open), (2, 2), "{open:?}");

        // A close frame comes back with the client's own code, then the server hangs up.
        let mut close = BytesMut::new();
        Parser::write_close(
            &mut close,
            Some((CloseCode::from(4000), "done").into()),
            true,
        );
        client.send_raw(&close).await;
        assert_eq!(client.close_code().await, Some(CloseCode::from(4000)));
        assert!(
            client.rest().await.is_empty(),
            "nothing after the close frame"
        );
        let _ = idle.stream.shutdown().await;
        assert!(idle.rest().await.is_empty());

        let mut counts = stats.counts();
        for _ in 0..100 {
            if counts.open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            counts = stats.counts();
        }
        assert_eq!(
            (
                counts.upgrades,
                counts.echoed,
                counts.pongs,
                counts.close_frames,
                counts.open
            ),
            (2, 2, 1, 1, 0),
            "{counts:?}"
        );
    });
}

#[test]
fn a_kill_drops_every_connection_without_a_close_frame_and_a_restart_serves_the_same_port() {
    actix_rt::System::new().block_on(async {
        let mut server =
            EmbeddedServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 2).expect("server");
        let addr = server.addr();
        let mut clients = Vec::new();
        for _ in 0..8 {
            clients.push(RawClient::upgrade(addr).await);
        }
        clients[0].send(OpCode::Text, true, b"before").await;
        assert_eq!(
            clients[0].recv().await,
            (true, OpCode::Text, b"before".to_vec())
        );
        assert_eq!(server.stats().counts().open, 8);

        server.kill().await;
        assert!(!server.is_running());
        for client in &mut clients {
            assert_eq!(
                client.rest().await,
                Vec::<u8>::new(),
                "no close frame, no bytes"
            );
        }
        assert_eq!(server.stats().counts().open, 0);
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is closed"
        );

        server.restart().expect("restart");
        assert_eq!(server.addr(), addr);
        let mut client = RawClient::upgrade(addr).await;
        client.send(OpCode::Text, true, b"after").await;
        assert_eq!(client.recv().await, (true, OpCode::Text, b"after".to_vec()));
        assert_eq!(server.stats().counts().upgrades, 9, "the counts go on");
    });
}

#[test]
fn a_request_that_is_not_an_upgrade_is_answered_400_and_the_connection_ends() {
    with_server(|addr| async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        timeout(READ_WAIT, stream.read_to_end(&mut response))
            .await
            .expect("the end in time")
            .expect("read");
        assert!(response.starts_with(b"HTTP/1.1 400 "), "{response:?}");
    });
}
