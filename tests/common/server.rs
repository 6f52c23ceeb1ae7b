//! A scriptable WebSocket test server on its own thread and actix system: how it answers
//! heartbeats is set by [`Behaviour`], and it records what it saw on each connection.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::{CloseCode, CloseReason, Message};
use wschaos::scenario::TargetUrl;

use super::ws_url;

/// How the test server treats heartbeats (a Ping, or a text frame equal to `HEARTBEAT`).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer only the first N heartbeats of each connection, then stay silent.
    pub ack_first: Option<u32>,
    /// Answer only every Nth heartbeat (1 = all; 0 counts as 1).
    pub ack_every: u32,
    /// Send a non-ack text frame this often.
    pub chatter: Option<Duration>,
    /// Send a close frame `close_code` this long after the upgrade, then drop the socket...
    pub close_after: Option<Duration>,
    pub close_code: u16,
    /// ...on the first this-many connections (0 = all).
    pub close_connections: usize,
    /// A text frame starting with the first is answered with the second instead of echoed.
    pub replies: Vec<(&'static str, &'static str)>,
}

pub const HEARTBEAT: &str = "hb";
pub const ACK: &str = "hb-ack";
pub const CHATTER: &str = "news";

/// What the test server saw on one connection.
#[derive(Debug, Clone)]
pub struct ConnLog {
    /// The client's address as the server saw it.
    pub peer: Option<SocketAddr>,
    pub opened: Instant,
    pub heartbeats: Vec<Instant>,
    pub ended: Option<Instant>,
    /// Close code of a close frame the client sent.
    pub client_close: Option<u16>,
    /// Heartbeats, text and binary frames from the client, in arrival order.
    pub received: Vec<Received>,
}

/// A frame the test server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Heartbeat,
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

/// A scriptable server on its own thread and actix system.
pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

impl TestServer {
    pub fn start(behaviour: Behaviour) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            behaviour,
            log: log.clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        Self { addr, log }
    }

    pub fn url(&self) -> TargetUrl {
        ws_url(self.addr)
    }

    pub fn connections(&self) -> Vec<ConnLog> {
        self.log.lock().expect("log").clone()
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let index = {
        let mut log = shared.log.lock().expect("log");
        log.push(ConnLog {
            peer: req.peer_addr(),
            opened: Instant::now(),
            heartbeats: Vec::new(),
            ended: None,
            client_close: None,
            received: Vec::new(),
        });
        log.len() - 1
    };
    let b = shared.behaviour.clone();
    let log = shared.log.clone();
    actix_rt::spawn(async move {
        let mut chatter = tokio::time::interval(b.chatter.unwrap_or(Duration::from_secs(3600)));
        chatter.tick().await;
        let close_at = b
            .close_after
            .filter(|_| b.close_connections == 0 || index < b.close_connections)
            .map(|after| (tokio::time::Instant::now() + after, b.close_code));
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let close_sleep = tokio::time::sleep_until(close_at.map_or(far, |(t, _)| t));
        tokio::pin!(close_sleep);
        let mut seen: u32 = 0;
        loop {
            tokio::select! {
                msg = stream.recv() => {
                    let Some(Ok(msg)) = msg else { break };
                    let heartbeat = match &msg {
                        Message::Ping(_) => true,
                        Message::Text(t) => &t[..] == HEARTBEAT,
                        _ => false,
                    };
                    let received = match &msg {
                        _ if heartbeat => Some(Received::Heartbeat),
                        Message::Text(t) => Some(Received::Text(t.to_string())),
                        Message::Binary(d) => Some(Received::Binary(d.to_vec())),
                        _ => None,
                    };
                    if let Some(received) = received {
                        log.lock().expect("log")[index].received.push(received);
                    }
                    if heartbeat {
                        seen += 1;
                        log.lock().expect("log")[index].heartbeats.push(Instant::now());
                        let within_first = b.ack_first.is_none_or(|n| seen <= n);
                        let every = b.ack_every.max(1);
                        if within_first && seen.is_multiple_of(every) {
                            let sent = match msg {
                                Message::Ping(p) => session.pong(&p).await,
                                _ => session.text(ACK).await,
                            };
                            if sent.is_err() { break; }
                        }
                        continue;
                    }
                    let echoed = match msg {
                        Message::Close(reason) => {
                            log.lock().expect("log")[index].client_close =
                                reason.map(|r| u16::from(r.code));
                            let _ = session.close(None).await;
                            break;
                        }
                        Message::Text(t) => match b.replies.iter().find(|(to, _)| t.starts_with(to)) {
                            Some((_, reply)) => session.text(*reply).await,
                            None => session.text(t).await,
                        },
                        Message::Binary(d) => session.binary(d).await,
                        _ => Ok(()),
                    };
                    if echoed.is_err() {
                        break;
                    }
                }
                _ = chatter.tick(), if b.chatter.is_some() => {
                    if session.text(CHATTER).await.is_err() { break; }
                }
                _ = &mut close_sleep, if close_at.is_some() => {
                    let code = close_at.map_or(1000, |(_, c)| c);
                    let reason = CloseReason { code: CloseCode::from(code), description: None };
                    let _ = session.close(Some(reason)).await;
                    break;
                }
            }
        }
        log.lock().expect("log")[index].ended = Some(Instant::now());
    });
    Ok(response)
}

/// The embedded echo server (what `wschaos serve` runs) on a thread of its own for 30 s, serving
/// TLS with `identity` if given; returns its address.
pub fn embedded_on_own_thread(identity: Option<wschaos::tls::ServerIdentity>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = wschaos::server::EmbeddedServer::start_with(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                1,
                false,
                identity.as_ref(),
                None,
            )
            .expect("embedded server");
            tx.send(server.addr()).expect("send addr");
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server addr")
}
