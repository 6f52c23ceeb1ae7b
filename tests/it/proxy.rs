//! The chaos proxy against real sockets: the embedded echo server behind it, clients that upgrade
//! through it, and each fault switched on and off while connections are live. Timings are only
//! asserted with wide margins or as orderings.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{endpoint, ms};
use actix_http::ws::{Frame, OpCode};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep, timeout};
use wschaos::chaos::toxics::{
    Bandwidth, DelayAcks, DropAcks, FrameLoss, IdleTimeout, Latency, Partition,
};
use wschaos::chaos::{
    AckMatcher, Direction, ProxyConfig, ProxyControl, ProxyFault, ProxyStats, RunningProxy, Victims,
};
use wschaos::client::connection::{Dial, FrameReader, Writer, open};
use wschaos::server::EmbeddedServer;

/// The embedded server with the proxy in front of it.
struct Setup {
    server: EmbeddedServer,
    control: Arc<ProxyControl>,
    proxy: RunningProxy,
}

impl Setup {
    fn start() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut ProxyConfig)) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = EmbeddedServer::start(loopback, 1).expect("server starts");
        let mut config = ProxyConfig::new(server.addr());
        config.seed = 5;
        tweak(&mut config);
        let control = Arc::new(ProxyControl::new());
        let proxy = wschaos::chaos::spawn(loopback, config, control.clone()).expect("proxy");
        Self {
            server,
            control,
            proxy,
        }
    }

    /// A client without an id.
    async fn connect(&self) -> Conn {
        Conn::open(self.proxy.addr(), None).await.expect("upgrade")
    }

    fn activate(&self, id: usize, fault: ProxyFault) {
        self.control.activate(id, fault, Victims::All);
    }
}

#[derive(Debug)]
enum Got {
    Frame(Frame),
    Eof,
    Silence,
}

/// One test client: the same upgrade and frame code as wschaos's own clients.
struct Conn {
    reader: FrameReader,
    writer: Writer,
}

impl Conn {
    async fn open(addr: SocketAddr, client: Option<u32>) -> Result<Self, String> {
        let dial = Dial {
            source: None,
            key: [7; 16],
            client_id: client,
            keepalive: None,
            since: None,
        };
        let (reader, writer) = open(&endpoint(addr, 1 << 20), dial)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { reader, writer })
    }

    async fn send(&mut self, op: OpCode, payload: &[u8]) {
        self.writer.queue(op, payload);
        while !self.writer.try_flush().expect("write") {
            let mut half = self.writer.take_half().expect("write half");
            half.writable().await.expect("writable");
            self.writer.put_half(half);
        }
    }

    async fn recv(&mut self, wait: Duration) -> Got {
        match timeout(wait, self.reader.next()).await {
            Err(_) => Got::Silence,
            Ok(Some(Ok(frame))) => Got::Frame(frame),
            Ok(_) => Got::Eof,
        }
    }

    /// The next frame, which must come within 2 s.
    async fn expect_frame(&mut self) -> Frame {
        match self.recv(ms(2000)).await {
            Got::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Sends `op` with `payload` and waits for its answer; returns the round trip.
    async fn round_trip(&mut self, op: OpCode, payload: &[u8]) -> (Frame, Duration) {
        let sent = Instant::now();
        self.send(op, payload).await;
        let frame = self.expect_frame().await;
        (frame, sent.elapsed())
    }
}

/// Waits (up to 2 s) until the proxy's counters satisfy `holds`: a connection is counted just
/// after its sockets close.
async fn settled(control: &ProxyControl, holds: impl Fn(&ProxyStats) -> bool) {
    let start = Instant::now();
    while !holds(&control.stats()) {
        assert!(start.elapsed() < ms(2000), "{:?}", control.stats());
        sleep(ms(5)).await;
    }
}

fn text(s: &str) -> Frame {
    Frame::Text(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

fn pong(payload: &[u8]) -> Frame {
    Frame::Pong(bytes::Bytes::copy_from_slice(payload))
}

#[actix_rt::test]
async fn echo_passes_unchanged_for_several_connections() {
    let setup = Setup::start();
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(setup.connect().await);
    }
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        let greeting = format!("hello {i}");
        assert_eq!(
            conn.round_trip(OpCode::Text, greeting.as_bytes()).await.0,
            text(&greeting)
        );
        let (echo, _) = conn.round_trip(OpCode::Binary, &big).await;
        assert_eq!(echo, Frame::Binary(bytes::Bytes::from(big.clone())));
        assert_eq!(
            conn.round_trip(OpCode::Ping, b"12345678").await.0,
            pong(b"12345678")
        );
    }
    for conn in &mut conns {
        conn.writer.queue_close(None);
        assert!(conn.writer.try_flush().expect("close sent"));
        // (The server closes its socket 1 s after the handshake: not waited for here.)
        assert!(matches!(conn.expect_frame().await, Frame::Close(_)));
    }
    let stats = setup.control.stats();
    assert_eq!(stats.connections_accepted, 3);
    assert_eq!(stats.frames_upstream, 12);
    assert_eq!(stats.frames_downstream, 12);
    assert_eq!(stats.frames_dropped, 0);
}

#[actix_rt::test]
async fn delayed_acks_are_overtaken_by_other_frames() {
    let setup = Setup::start();
    let mut conn = setup.connect().await;
    let (_, baseline) = conn.round_trip(OpCode::Ping, b"p0").await;

    setup.activate(
        1,
        ProxyFault::DelayAcks(DelayAcks {
            delay: ms(200),
            jitter: Duration::ZERO,
        }),
    );
    let sent = Instant::now();
    conn.send(OpCode::Ping, b"p1").await;
    conn.send(OpCode::Text, b"after the ping").await;
    assert_eq!(conn.expect_frame().await, text("after the ping"));
    let text_rtt = sent.elapsed();
    assert_eq!(conn.expect_frame().await, pong(b"p1"));
    let pong_rtt = sent.elapsed();
    assert!(pong_rtt >= ms(200), "pong after {pong_rtt:?}");
    assert!(
        text_rtt < ms(150) + baseline * 10,
        "text after {text_rtt:?}"
    );
    assert_eq!(setup.control.stats().acks_delayed, 1);

    // A held ack is still delivered after the fault ends; new acks are not held.
    conn.send(OpCode::Ping, b"p2").await;
    sleep(ms(20)).await;
    setup.control.deactivate(1);
    assert_eq!(conn.expect_frame().await, pong(b"p2"));
    let (_, after) = conn.round_trip(OpCode::Ping, b"p3").await;
    assert!(after < ms(150) + baseline * 10, "{after:?}");
}

#[actix_rt::test]
async fn text_acks_are_recognised_by_their_payload() {
    let setup = Setup::with(|c| c.ack = AckMatcher::Text("hb".into()));
    let mut conn = setup.connect().await;
    setup.activate(0, ProxyFault::DropAcks(DropAcks));
    conn.send(OpCode::Text, b"hb").await;
    conn.send(OpCode::Text, b"hb2").await;
    conn.send(OpCode::Ping, b"").await;
    assert_eq!(conn.expect_frame().await, text("hb2"));
    assert_eq!(conn.expect_frame().await, pong(b""));
    assert!(matches!(conn.recv(ms(300)).await, Got::Silence));
    assert_eq!(setup.control.stats().acks_dropped, 1);
}

#[actix_rt::test]
async fn dropped_acks_swallow_pongs_only() {
    let setup = Setup::start();
    let mut conn = setup.connect().await;
    setup.activate(0, ProxyFault::DropAcks(DropAcks));
    conn.send(OpCode::Ping, b"lost").await;
    assert_eq!(
        conn.round_trip(OpCode::Text, b"still here").await.0,
        text("still here")
    );
    assert!(matches!(conn.recv(ms(300)).await, Got::Silence));
    let stats = setup.control.stats();
    assert_eq!((stats.acks_dropped, stats.frames_dropped), (1, 1));

    setup.control.deactivate(0);
    assert_eq!(
        conn.round_trip(OpCode::Ping, b"back").await.0,
        pong(b"back")
    );
}

#[actix_rt::test]
async fn a_partition_stops_all_bytes_without_closing_and_heals() {
    let setup = Setup::start();
    let mut victim = Conn::open(setup.proxy.addr(), Some(1))
        .await
        .expect("victim");
    let mut bystander = Conn::open(setup.proxy.addr(), Some(2))
        .await
        .expect("bystander");
    let victims = Victims::Clients(Arc::new(HashSet::from([1])));
    setup
        .control
        .activate(3, ProxyFault::Partition(Partition), victims);

    victim.send(OpCode::Text, b"queued").await;
    victim.send(OpCode::Ping, b"queued").await;
    // No frame and no FIN reaches the client; the server keeps its connection.
    assert!(matches!(victim.recv(ms(400)).await, Got::Silence));
    assert_eq!(setup.server.stats().counts().open, 2);
    assert_eq!(
        setup.server.stats().counts().echoed,
        0,
        "nothing reached the server"
    );
    assert_eq!(
        bystander.round_trip(OpCode::Text, b"free").await.0,
        text("free")
    );

    // A new connection of the victim hangs before its upgrade; others do not.
    let addr = setup.proxy.addr();
    let pending = actix_rt::spawn(async move { Conn::open(addr, Some(1)).await.map(|_| ()) });
    assert!(Conn::open(addr, Some(2)).await.is_ok());
    sleep(ms(300)).await;
    assert!(!pending.is_finished(), "upgraded during the partition");

    setup.control.deactivate(3);
    assert_eq!(victim.expect_frame().await, text("queued"));
    assert_eq!(victim.expect_frame().await, pong(b"queued"));
    let reconnected = timeout(ms(2000), pending)
        .await
        .expect("upgrade after the partition");
    assert!(matches!(reconnected, Ok(Ok(()))), "{reconnected:?}");
}

#[actix_rt::test]
async fn a_victim_that_gives_up_while_its_upgrade_hangs_in_a_partition_is_let_go() {
    let setup = Setup::start();
    let victims = Victims::Clients(Arc::new(HashSet::from([1])));
    setup
        .control
        .activate(3, ProxyFault::Partition(Partition), victims);
    let mut attempt = tokio::net::TcpStream::connect(setup.proxy.addr())
        .await
        .expect("connect");
    let head = "GET / HTTP/1.1\r\nHost: x\r\nX-Wschaos-Client: 1\r\nUpgrade: websocket\r\n\
                Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                Sec-WebSocket-Version: 13\r\n\r\n";
    attempt.write_all(head.as_bytes()).await.expect("head");
    settled(&setup.control, |s| s.connections_open == 1).await;
    drop(attempt);
    // Still partitioned: the proxy sees the client leave and ends the connection now, without
    // having dialed the server.
    settled(&setup.control, |s| {
        s.connections_open == 0 && s.abandoned_in_partition == 1
    })
    .await;
    assert_eq!(setup.server.stats().counts().open, 0);
}

#[actix_rt::test]
async fn certain_frame_loss_drops_data_frames_but_not_pings() {
    let setup = Setup::start();
    let mut conn = setup.connect().await;
    setup.activate(
        0,
        ProxyFault::FrameLoss(FrameLoss {
            direction: Direction::Both,
            probability: 1.0,
        }),
    );
    conn.send(OpCode::Text, b"gone").await;
    conn.send(OpCode::Binary, b"gone too").await;
    assert_eq!(
        conn.round_trip(OpCode::Ping, b"here").await.0,
        pong(b"here")
    );
    assert!(matches!(conn.recv(ms(300)).await, Got::Silence));
    assert_eq!(setup.control.stats().frames_dropped, 2);
    assert_eq!(setup.server.stats().counts().echoed, 0);
}

#[actix_rt::test]
async fn latency_delays_frames_in_order() {
    let setup = Setup::start();
    let mut conn = setup.connect().await;
    setup.activate(
        0,
        ProxyFault::Latency(Latency {
            direction: Direction::Downstream,
            latency: ms(150),
            jitter: ms(50),
        }),
    );
    let sent = Instant::now();
    for i in 0..20 {
        conn.send(OpCode::Text, format!("{i}").as_bytes()).await;
    }
    for i in 0..20 {
        assert_eq!(conn.expect_frame().await, text(&format!("{i}")));
    }
    assert!(sent.elapsed() >= ms(100), "{:?}", sent.elapsed());
}

#[actix_rt::test]
async fn bandwidth_caps_the_bytes_per_second() {
    let setup = Setup::start();
    let mut conn = setup.connect().await;
    setup.activate(
        0,
        ProxyFault::Bandwidth(Bandwidth {
            direction: Direction::Downstream,
            bytes_per_s: 20_000,
        }),
    );
    // 10 kB back at 20 kB/s: the first 2 kB burst, the rest takes >= 0.4 s.
    let (echo, took) = conn.round_trip(OpCode::Binary, &[1; 10_000]).await;
    assert_eq!(echo, Frame::Binary(bytes::Bytes::from(vec![1; 10_000])));
    assert!(took >= ms(300), "{took:?}");
}

#[actix_rt::test]
async fn an_idle_timeout_cuts_silent_connections_only() {
    let setup = Setup::start();
    let mut silent = setup.connect().await;
    let mut chatty = setup.connect().await;
    setup.activate(0, ProxyFault::IdleTimeout(IdleTimeout { idle: ms(300) }));
    let start = Instant::now();
    while start.elapsed() < ms(900) {
        assert_eq!(
            chatty.round_trip(OpCode::Ping, b"alive").await.0,
            pong(b"alive")
        );
        sleep(ms(50)).await;
    }
    assert!(matches!(silent.recv(ms(100)).await, Got::Eof));
    assert_eq!(
        chatty.round_trip(OpCode::Text, b"still").await.0,
        text("still")
    );
    settled(&setup.control, |s| s.idle_cuts == 1).await;
}

#[actix_rt::test]
async fn a_server_dying_behind_the_proxy_is_an_eof_for_the_client() {
    let mut setup = Setup::start();
    let mut conn = setup.connect().await;
    assert_eq!(conn.round_trip(OpCode::Text, b"hi").await.0, text("hi"));
    setup.server.kill().await;
    assert!(matches!(conn.recv(ms(2000)).await, Got::Eof));
    // With the server gone, new clients get a 502.
    let refused = Conn::open(setup.proxy.addr(), None).await.err();
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("502")),
        "{refused:?}"
    );
    settled(&setup.control, |s| s.upstream_connect_failures == 1).await;
}

#[actix_rt::test]
async fn an_oversized_frame_closes_its_connection() {
    let setup = Setup::with(|c| c.max_frame = 1000);
    let mut small = setup.connect().await;
    let mut big = setup.connect().await;
    big.send(OpCode::Binary, &[0; 2000]).await;
    assert!(matches!(big.recv(ms(2000)).await, Got::Eof));
    assert_eq!(
        small.round_trip(OpCode::Binary, &[0; 1000]).await.0,
        Frame::Binary(vec![0; 1000].into())
    );
    settled(&setup.control, |s| s.oversized_frames == 1).await;
}

#[actix_rt::test]
async fn a_refused_upgrade_is_piped_as_raw_bytes() {
    // An upstream that answers every request with a 404 and some body.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_addr = upstream.local_addr().expect("addr");
    actix_rt::spawn(async move {
        let Ok((mut socket, _)) = upstream.accept().await else {
            return;
        };
        let mut head = [0; 1024];
        let _ = socket.read(&mut head).await;
        let _ = socket
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope")
            .await;
    });
    let control = Arc::new(ProxyControl::new());
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy =
        wschaos::chaos::spawn(loopback, ProxyConfig::new(upstream_addr), control).expect("proxy");
    let mut client = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut response = Vec::new();
    timeout(ms(2000), client.read_to_end(&mut response))
        .await
        .expect("the proxy passes the FIN on")
        .expect("read");
    assert_eq!(
        response,
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope"
    );
}

#[actix_rt::test]
async fn a_head_over_16_kib_is_refused_and_counted() {
    let setup = Setup::start();
    let mut client = tokio::net::TcpStream::connect(setup.proxy.addr())
        .await
        .expect("connect");
    let mut head = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    head.resize(20_000, b'a');
    let _ = client.write_all(&head).await;
    let mut rest = Vec::new();
    let read = timeout(ms(2000), client.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the proxy closes the connection");
    assert!(rest.is_empty());
    settled(&setup.control, |s| s.bad_requests == 1).await;
}
