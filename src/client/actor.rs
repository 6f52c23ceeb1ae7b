//! The client state machine (DESIGN.md), in one place:
//!
//! ```text
//! Connecting --open--> Open --(heartbeat dead | close | error)--> Backoff --delay--> Connecting
//!      \--fail/timeout--> Backoff                    any state --manual close--> Stopped
//! Backoff --max_attempts reached--> GaveUp
//! ```
//!
//! Every timer is a handle kept in the struct and cancelled on transition. Inbound frames carry
//! the id of the connection they came from, so nothing from a dropped connection can act on the
//! next one. Exactly one reconnect is ever in flight: only `Open` and `Connecting` lead to
//! `Backoff`, and a loss is acted on once (the connection is taken out of `self.conn`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, OpCode, ProtocolError};
use futures_util::{StreamExt, future, stream};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ClientConfig;
use super::backoff;
use super::connection::{self, ConnectError, Dial, FrameReader, Writer};
use super::heartbeat::HeartbeatState;
use super::messages::MessageState;
use crate::metrics::{self, ATTEMPT_WINDOW, record_us, record_us_corrected, slot};
use crate::scenario::{DropMode, HeartbeatMode, MessageRate, ResetOn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Open,
    Backoff,
    /// Manually closed: never reconnects.
    Stopped,
    GaveUp,
}

/// Why an open connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    HeartbeatTimeout,
    CloseFrame(u16),
    IoError,
    ProtocolError,
    ServerGone,
    Dropped,
}

/// Manual close (scenario end or a `manual_close` action): close 1000, never reconnect.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// A `drop` fault (number `fault` on the timeline) hit this client: lose the connection (if
/// open) and reconnect. Answers whether there was an open connection to cut.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DropConnection {
    pub mode: DropMode,
    pub fault: usize,
    pub at: Instant,
}

/// Fault number `fault` began at `at` on this client: if its connection dies before the fault
/// ends, the detection latency and the recovery count from `at` and belong to that fault.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct FaultStarted {
    pub fault: usize,
    pub at: Instant,
}

/// Fault number `fault` ended; a client that did not notice it never will.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct FaultEnded {
    pub fault: usize,
}

/// A frame (or the end, `None`) read from connection `conn`.
pub struct Inbound {
    conn: u64,
    event: Option<Result<Frame, ProtocolError>>,
}

/// The live connection and everything that dies with it.
struct Conn {
    id: u64,
    writer: Writer,
    reader: SpawnHandle,
    /// A future waiting for the socket to become writable again (only when it was full).
    flush_wait: Option<SpawnHandle>,
    heartbeat: HeartbeatState,
    heartbeat_ticker: Option<SpawnHandle>,
    heartbeat_timeout: Option<SpawnHandle>,
    messages: Option<MessageState>,
    message_ticker: Option<SpawnHandle>,
}

pub struct Client {
    id: u32,
    cfg: Arc<ClientConfig>,
    rng: SmallRng,
    state: State,
    conn: Option<Conn>,
    next_conn_id: u64,
    /// Connect attempts since the last successful open.
    attempts: u32,
    /// Backoff delays taken since the last successful open, and the last one.
    retries: u32,
    last_delay: Duration,
    /// When the connection was lost (reconnect time runs from here to the next open).
    lost_at: Option<Instant>,
    /// A fault on this client that it has not noticed yet.
    fault: Option<FaultStarted>,
    /// The fault that cost this client its connection, until it is open again.
    recovering: Option<FaultStarted>,
    ever_connected: bool,
    /// The pending connect future or backoff timer.
    pending: Option<SpawnHandle>,
    /// A connection we sent a close frame on (a `drop` with `mode: close`), kept until the server
    /// answers the close handshake or `close_grace` passes, while the client already reconnects.
    closing: Option<Conn>,
}

impl Client {
    pub fn new(id: u32, cfg: Arc<ClientConfig>) -> Self {
        let rng =
            SmallRng::seed_from_u64(cfg.seed ^ (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        Self {
            id,
            cfg,
            rng,
            state: State::Connecting,
            conn: None,
            next_conn_id: 0,
            attempts: 0,
            retries: 0,
            last_delay: Duration::ZERO,
            lost_at: None,
            fault: None,
            recovering: None,
            ever_connected: false,
            pending: None,
            closing: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.state = State::Connecting;
        self.attempts += 1;
        metrics::record(|m| m.counters.connect_attempts += 1);
        let cfg = self.cfg.clone();
        let dial = Dial {
            source: cfg.source_ip(self.id),
            key: self.rng.random(),
            client_id: cfg.identify.then_some(self.id),
            keepalive: cfg.tcp_keepalive,
        };
        let started = Instant::now();
        let window = (started.saturating_duration_since(cfg.started).as_millis()
            / ATTEMPT_WINDOW.as_millis()) as usize;
        metrics::record(|m| m.attempts.bump(window));
        let attempt = async move {
            let open = connection::open(&cfg.endpoint, dial);
            tokio::time::timeout(cfg.connect_timeout, open)
                .await
                .unwrap_or(Err(ConnectError::Timeout))
        };
        self.pending = Some(
            ctx.spawn(attempt.into_actor(self).map(move |result, act, ctx| {
                act.pending = None;
                if act.state == State::Connecting {
                    act.connect_finished(result, started, ctx);
                }
            })),
        );
    }

    fn connect_finished(
        &mut self,
        result: Result<(FrameReader, Writer), ConnectError>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok((reader, writer)) => self.opened(reader, writer, started, ctx),
            Err(err) => {
                tracing::debug!(client = self.id, %err, "connect failed");
                let timeout = matches!(err, ConnectError::Timeout);
                metrics::record(|m| {
                    m.counters.connect_failures += 1;
                    m.counters.connect_timeouts += u64::from(timeout);
                });
                self.schedule_reconnect(ctx);
            }
        }
    }

    fn opened(
        &mut self,
        reader: FrameReader,
        writer: Writer,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        let first_open = !self.ever_connected;
        self.ever_connected = true;
        let reconnect = self.lost_at.take().map(|lost| (now - lost, self.attempts));
        let recovered = self.recovering.take();
        metrics::record(|m| {
            m.counters.connects += 1;
            m.counters.clients_connected += u64::from(first_open);
            record_us(&mut m.hist.connect_time, now - started);
            if let Some((took, attempts)) = reconnect {
                m.counters.reconnects += 1;
                record_us(&mut m.hist.reconnect_time, took);
                slot(&mut m.hist.reconnect_attempts).saturating_record(u64::from(attempts));
                if let Some(f) = recovered {
                    let share = m.fault(f.fault);
                    share.reopened += 1;
                    record_us(&mut share.reopen, now.saturating_duration_since(f.at));
                    slot(&mut share.attempts).saturating_record(u64::from(attempts));
                }
            }
        });
        self.attempts = 0;
        self.retries = 0;
        self.last_delay = Duration::ZERO;

        self.next_conn_id += 1;
        let id = self.next_conn_id;
        let frames = reader
            .map(move |frame| Inbound {
                conn: id,
                event: Some(frame),
            })
            .chain(stream::once(future::ready(Inbound {
                conn: id,
                event: None,
            })));
        let reader = ctx.add_stream(frames);
        self.state = State::Open;
        self.conn = Some(Conn {
            id,
            writer,
            reader,
            flush_wait: None,
            heartbeat: HeartbeatState::new(self.cfg.heartbeat.max_missed, now),
            heartbeat_ticker: None,
            heartbeat_timeout: None,
            messages: self
                .cfg
                .messages
                .as_ref()
                .map(|m| MessageState::new(m.size)),
            message_ticker: None,
        });
        self.start_heartbeat(id, ctx);
        self.start_messages(id, ctx);
    }

    /// The first heartbeat goes out at a random offset in [0, interval) so that thousands of
    /// clients do not fire in lockstep; then one every interval.
    fn start_heartbeat(&mut self, id: u64, ctx: &mut Context<Self>) {
        if self.cfg.heartbeat.mode == HeartbeatMode::None {
            return;
        }
        let interval = self.cfg.heartbeat.interval;
        let offset = interval.mul_f64(self.rng.random_range(0.0..1.0));
        let handle = ctx.run_later(offset, move |act, ctx| {
            let ticker = ctx.run_interval(interval, move |act, ctx| act.send_heartbeat(id, ctx));
            if let Some(conn) = act.live(id) {
                conn.heartbeat_ticker = Some(ticker);
            }
            act.send_heartbeat(id, ctx);
        });
        if let Some(conn) = self.live(id) {
            conn.heartbeat_ticker = Some(handle);
        }
    }

    fn start_messages(&mut self, id: u64, ctx: &mut Context<Self>) {
        match self.cfg.messages.as_ref().map(|m| m.rate) {
            None => {}
            Some(MessageRate::Closed) => self.send_message(id, Instant::now(), ctx),
            Some(MessageRate::PerSecond(rate)) => {
                let period = Duration::from_secs_f64(1.0 / rate);
                let offset = period.mul_f64(self.rng.random_range(0.0..1.0));
                // Open loop: each message is stamped with its scheduled time, so a late send
                // shows up as latency (no coordinated omission).
                let handle = ctx.run_later(offset, move |act, ctx| {
                    let first = Instant::now();
                    let mut due = first;
                    let ticker = ctx.run_interval(period, move |act, ctx| {
                        due += period;
                        act.send_message(id, due, ctx);
                    });
                    if let Some(conn) = act.live(id) {
                        conn.message_ticker = Some(ticker);
                    }
                    act.send_message(id, first, ctx);
                });
                if let Some(conn) = self.live(id) {
                    conn.message_ticker = Some(handle);
                }
            }
        }
    }

    /// The open connection, if it is still connection `id`.
    fn live(&mut self, id: u64) -> Option<&mut Conn> {
        self.conn
            .as_mut()
            .filter(|c| c.id == id && self.state == State::Open)
    }

    fn send_heartbeat(&mut self, id: u64, ctx: &mut Context<Self>) {
        let cfg = self.cfg.clone();
        let Some(conn) = self.live(id) else { return };
        let seq = conn.heartbeat.sent(Instant::now());
        match &cfg.heartbeat.mode {
            HeartbeatMode::Ping => conn.writer.queue(OpCode::Ping, &seq.to_be_bytes()),
            HeartbeatMode::Text { payload, .. } => {
                conn.writer.queue(OpCode::Text, payload.as_bytes())
            }
            HeartbeatMode::None => return,
        }
        metrics::record(|m| m.counters.heartbeats_sent += 1);
        if conn.heartbeat_timeout.is_none() {
            let timeout = cfg.heartbeat.timeout;
            conn.heartbeat_timeout =
                Some(ctx.run_later(timeout, move |act, ctx| act.heartbeat_timed_out(id, ctx)));
        }
        self.flush(ctx);
    }

    fn heartbeat_timed_out(&mut self, id: u64, ctx: &mut Context<Self>) {
        let Some(conn) = self.live(id) else { return };
        conn.heartbeat_timeout = None;
        metrics::record(|m| m.counters.heartbeat_misses += 1);
        if conn.heartbeat.missed() {
            // Dead: drop it without waiting for a close handshake.
            self.lost(Cause::HeartbeatTimeout, ctx);
        }
    }

    fn send_message(&mut self, id: u64, due: Instant, ctx: &mut Context<Self>) {
        let Some(conn) = self.live(id) else { return };
        let Some(messages) = conn.messages.as_mut() else {
            return;
        };
        let payload = messages.next(due);
        conn.writer.queue(OpCode::Binary, payload);
        metrics::record(|m| m.counters.messages_sent += 1);
        self.flush(ctx);
    }

    /// Writes what is queued; if the socket is full, waits for it to drain.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match conn.writer.try_flush() {
            Ok(true) => {}
            Ok(false) => {
                let Some(half) = conn.writer.take_half() else {
                    return;
                };
                let id = conn.id;
                let wait = async move {
                    let ready = half.writable().await;
                    (half, ready)
                };
                conn.flush_wait = Some(ctx.spawn(actix::fut::wrap_future::<_, Self>(wait).map(
                    move |(half, ready), act, ctx| {
                        let Some(conn) = act.conn.as_mut().filter(|c| c.id == id) else {
                            return;
                        };
                        conn.flush_wait = None;
                        conn.writer.put_half(half);
                        match ready {
                            Ok(()) => act.flush(ctx),
                            Err(_) => act.lost(Cause::IoError, ctx),
                        }
                    },
                )));
            }
            Err(err) => {
                tracing::debug!(client = self.id, %err, "write failed");
                self.lost(Cause::IoError, ctx);
            }
        }
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let cfg = self.cfg.clone();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if cfg.heartbeat.reset_on == ResetOn::Any {
            disarm(conn, ctx);
        }
        let ack = match (&frame, &cfg.heartbeat.mode) {
            (Frame::Pong(p), HeartbeatMode::Ping) => <[u8; 8]>::try_from(&p[..])
                .ok()
                .map(|seq| Some(u64::from_be_bytes(seq))),
            (Frame::Text(t), HeartbeatMode::Text { ack, .. }) if t[..] == *ack.as_bytes() => {
                Some(None)
            }
            _ => None,
        };
        if let Some(seq) = ack {
            let rtt = conn.heartbeat.acked(seq, now);
            disarm(conn, ctx);
            metrics::record(|m| {
                m.counters.heartbeat_acks += 1;
                if let Some(rtt) = rtt {
                    record_us_corrected(&mut m.hist.heartbeat_rtt, rtt, cfg.heartbeat.interval);
                }
            });
            return;
        }
        match frame {
            Frame::Ping(payload) => {
                conn.writer.queue(OpCode::Pong, &payload);
                self.flush(ctx);
            }
            Frame::Text(data) | Frame::Binary(data) => {
                let Some(sent_at) = conn.messages.as_mut().and_then(|m| m.echoed(&data)) else {
                    return;
                };
                metrics::record(|m| {
                    m.counters.messages_received += 1;
                    record_us(&mut m.hist.message_rtt, now - sent_at);
                });
                if matches!(
                    cfg.messages.as_ref().map(|m| m.rate),
                    Some(MessageRate::Closed)
                ) {
                    let id = conn.id;
                    self.send_message(id, Instant::now(), ctx);
                }
            }
            Frame::Close(reason) => {
                let code = reason.as_ref().map_or(1005, |r| u16::from(r.code));
                // Answer the close handshake, then let go of the socket.
                conn.writer.queue_close(reason);
                let _ = conn.writer.try_flush();
                metrics::record(|m| *m.close_codes.entry(code).or_default() += 1);
                self.lost(Cause::CloseFrame(code), ctx);
            }
            Frame::Pong(_) | Frame::Continuation(_) => {}
        }
    }

    /// The open connection ended. Acts once per connection; then reconnects (or, if manually
    /// closed, finishes).
    fn lost(&mut self, cause: Cause, ctx: &mut Context<Self>) {
        if self.state == State::Stopped {
            self.finish(ctx);
            return;
        }
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let now = Instant::now();
        let lost_messages = conn
            .messages
            .as_mut()
            .map_or(0, MessageState::lose_in_flight);
        release(conn, ctx);
        self.after_loss(cause, now, lost_messages, ctx);
    }

    /// Counts a loss and schedules the reconnect (the connection itself is already let go).
    fn after_loss(
        &mut self,
        cause: Cause,
        now: Instant,
        lost_messages: u64,
        ctx: &mut Context<Self>,
    ) {
        let noticed = self.fault.take();
        self.recovering = noticed;
        metrics::record(|m| {
            let c = &mut m.counters;
            match cause {
                Cause::HeartbeatTimeout => c.disconnects_heartbeat_timeout += 1,
                Cause::CloseFrame(_) => c.disconnects_close_frame += 1,
                Cause::IoError => c.disconnects_io_error += 1,
                Cause::ProtocolError => c.disconnects_protocol_error += 1,
                Cause::ServerGone => c.disconnects_server_gone += 1,
                Cause::Dropped => c.disconnects_dropped += 1,
            }
            c.messages_lost += lost_messages;
            if let Some(f) = noticed {
                let detection = now.saturating_duration_since(f.at);
                record_us(&mut m.hist.detection, detection);
                let share = m.fault(f.fault);
                share.noticed += 1;
                share.messages_lost += lost_messages;
                record_us(&mut share.detection, detection);
            }
        });
        tracing::debug!(client = self.id, ?cause, "connection lost");
        self.lost_at = Some(now);
        self.schedule_reconnect(ctx);
    }

    /// Backoff before the next attempt, or give up after `max_attempts`.
    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>) {
        let max_attempts = self.cfg.reconnect.max_attempts;
        if max_attempts != 0 && self.attempts >= max_attempts {
            self.state = State::GaveUp;
            metrics::record(|m| m.counters.gave_up += 1);
            ctx.stop();
            return;
        }
        self.state = State::Backoff;
        self.retries += 1;
        let delay = backoff::delay(
            &self.cfg.reconnect,
            self.retries,
            self.last_delay,
            &mut self.rng,
        );
        self.last_delay = delay;
        self.pending = Some(ctx.run_later(delay, |act, ctx| {
            act.pending = None;
            if act.state == State::Backoff {
                act.connect(ctx);
            }
        }));
    }

    /// Manual close finished (server answered, went away, or the grace period ran out).
    fn finish(&mut self, ctx: &mut Context<Self>) {
        if let Some(conn) = self.conn.take() {
            release(conn, ctx);
        }
        self.close_lingering(ctx);
        ctx.stop();
    }

    /// Sends close `code` and keeps the connection aside until the server answers (or
    /// `close_grace`), so the frame is not lost to the socket closing right behind it.
    fn linger(&mut self, mut conn: Conn, ctx: &mut Context<Self>) {
        self.close_lingering(ctx);
        for handle in [
            conn.heartbeat_ticker.take(),
            conn.heartbeat_timeout.take(),
            conn.message_ticker.take(),
            conn.flush_wait.take(),
        ]
        .into_iter()
        .flatten()
        {
            ctx.cancel_future(handle);
        }
        let id = conn.id;
        self.closing = Some(conn);
        ctx.run_later(self.cfg.close_grace, move |act, ctx| {
            if act.closing.as_ref().is_some_and(|c| c.id == id) {
                act.close_lingering(ctx);
            }
        });
    }

    fn close_lingering(&mut self, ctx: &mut Context<Self>) {
        if let Some(conn) = self.closing.take() {
            release(conn, ctx);
        }
    }
}

/// The ack (or any frame, with `reset_on: any`) arrived: the pending timeout is off, misses reset.
fn disarm(conn: &mut Conn, ctx: &mut Context<Client>) {
    if let Some(handle) = conn.heartbeat_timeout.take() {
        ctx.cancel_future(handle);
    }
    conn.heartbeat.reset();
}

/// Cancels everything tied to a connection; dropping it closes the socket.
fn release(conn: Conn, ctx: &mut Context<Client>) {
    for handle in [
        Some(conn.reader),
        conn.flush_wait,
        conn.heartbeat_ticker,
        conn.heartbeat_timeout,
        conn.message_ticker,
    ]
    .into_iter()
    .flatten()
    {
        ctx.cancel_future(handle);
    }
}

impl Actor for Client {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::record(|m| m.counters.clients_started += 1);
        self.connect(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        metrics::record(|m| m.counters.clients_stopped += 1);
    }
}

impl StreamHandler<Inbound> for Client {
    fn handle(&mut self, item: Inbound, ctx: &mut Self::Context) {
        if self.closing.as_ref().map(|c| c.id) == Some(item.conn) {
            if matches!(item.event, None | Some(Err(_)) | Some(Ok(Frame::Close(_)))) {
                self.close_lingering(ctx);
            }
            return;
        }
        if self.conn.as_ref().map(|c| c.id) != Some(item.conn) {
            return; // left over from a connection already dropped
        }
        if self.state == State::Stopped {
            // Manual close in progress: the server's close frame or its going away ends it.
            // Echoes and acks still in flight count; nothing is sent after our close frame.
            match item.event {
                Some(Ok(frame @ (Frame::Text(_) | Frame::Binary(_) | Frame::Pong(_)))) => {
                    self.on_frame(frame, ctx)
                }
                Some(Ok(Frame::Ping(_) | Frame::Continuation(_))) => {}
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => self.finish(ctx),
            }
            return;
        }
        match item.event {
            Some(Ok(frame)) => self.on_frame(frame, ctx),
            Some(Err(ProtocolError::Io(err))) => {
                tracing::debug!(client = self.id, %err, "read failed");
                self.lost(Cause::IoError, ctx);
            }
            Some(Err(err)) => {
                tracing::debug!(client = self.id, %err, "protocol error");
                self.lost(Cause::ProtocolError, ctx);
            }
            None => self.lost(Cause::ServerGone, ctx),
        }
    }

    /// The end of each connection is delivered in-band (`event: None`); the actor lives on.
    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

impl Handler<Stop> for Client {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        let previous = std::mem::replace(&mut self.state, State::Stopped);
        if let Some(handle) = self.pending.take() {
            ctx.cancel_future(handle);
        }
        match previous {
            State::Open => {
                let Some(conn) = self.conn.as_mut() else {
                    return;
                };
                for handle in [
                    conn.heartbeat_ticker.take(),
                    conn.heartbeat_timeout.take(),
                    conn.message_ticker.take(),
                ]
                .into_iter()
                .flatten()
                {
                    ctx.cancel_future(handle);
                }
                conn.writer
                    .queue_close(Some(CloseReason::from(CloseCode::Normal)));
                metrics::record(|m| m.counters.closed_manually += 1);
                self.flush(ctx);
                ctx.run_later(self.cfg.close_grace, |act, ctx| act.finish(ctx));
            }
            State::Connecting | State::Backoff => ctx.stop(),
            State::Stopped | State::GaveUp => {}
        }
    }
}

impl Handler<DropConnection> for Client {
    type Result = bool;

    fn handle(&mut self, msg: DropConnection, ctx: &mut Self::Context) -> bool {
        if self.state != State::Open {
            return false;
        }
        let Some(mut conn) = self.conn.take() else {
            return false;
        };
        self.fault = Some(FaultStarted {
            fault: msg.fault,
            at: msg.at,
        });
        let now = Instant::now();
        let lost_messages = conn
            .messages
            .as_mut()
            .map_or(0, MessageState::lose_in_flight);
        match msg.mode {
            DropMode::Close => {
                conn.writer
                    .queue_close(Some(CloseReason::from(CloseCode::Away)));
                let _ = conn.writer.try_flush();
                self.linger(conn, ctx);
            }
            DropMode::Reset => {
                conn.writer.reset_on_close();
                release(conn, ctx);
            }
        }
        self.after_loss(Cause::Dropped, now, lost_messages, ctx);
        true
    }
}

impl Handler<FaultStarted> for Client {
    type Result = ();

    fn handle(&mut self, msg: FaultStarted, _ctx: &mut Self::Context) {
        if self.state == State::Open {
            self.fault = Some(msg);
        }
    }
}

impl Handler<FaultEnded> for Client {
    type Result = ();

    fn handle(&mut self, msg: FaultEnded, _ctx: &mut Self::Context) {
        if self.fault.is_some_and(|f| f.fault == msg.fault) {
            self.fault = None;
        }
    }
}
