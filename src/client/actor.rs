//! The client state machine (DESIGN.md), in one place:
//!
//! ```text
//! Connecting --open--> Open --(heartbeat dead | close | error)--> Backoff --delay--> Connecting
//!      \--fail/timeout--> Backoff                    any state --manual close--> Stopped
//! Backoff --max_attempts reached--> GaveUp
//! ```
//!
//! Timers are deadlines in the struct (`Deadlines`), driven by one `Clock` per actor; a
//! transition sets or clears them. Inbound frames carry the id of the connection they came from,
//! so nothing from a dropped connection can act on the next one. Exactly one reconnect is ever in
//! flight: only `Open` and `Connecting` lead to `Backoff`, and a loss is acted on once (the
//! connection is taken out of `self.conn`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, OpCode, ProtocolError};
use futures_util::{StreamExt, future, stream};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ClientConfig;
use super::backoff;
use super::clock::{Clock, Clocked, Deadlines, Timer};
use super::connection::{self, ConnectError, Dial, FrameReader, Writer};
use super::heartbeat::HeartbeatState;
use super::messages::MessageState;
use crate::metrics::{self, ATTEMPT_WINDOW, record_us, record_us_corrected, slot};
use crate::scenario::{DropMode, HeartbeatMode, MessageRate, ResetOn};

/// Most open-loop messages sent at once when the actor fell behind its schedule.
const MAX_MESSAGE_BURST: u32 = 64;

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
    messages: Option<MessageState>,
}

pub struct Client {
    id: u32,
    cfg: Arc<ClientConfig>,
    rng: SmallRng,
    state: State,
    deadlines: Deadlines,
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
    /// The connect attempt in flight.
    connecting: Option<SpawnHandle>,
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
            deadlines: Deadlines::default(),
            conn: None,
            next_conn_id: 0,
            attempts: 0,
            retries: 0,
            last_delay: Duration::ZERO,
            lost_at: None,
            fault: None,
            recovering: None,
            ever_connected: false,
            connecting: None,
            closing: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.state = State::Connecting;
        self.attempts += 1;
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
        metrics::record(|m| {
            m.counters.connect_attempts += 1;
            m.attempts.bump(window);
        });
        let attempt = async move {
            let open = connection::open(&cfg.endpoint, dial);
            tokio::time::timeout(cfg.connect_timeout, open)
                .await
                .unwrap_or(Err(ConnectError::Timeout))
        };
        self.connecting = Some(
            ctx.spawn(attempt.into_actor(self).map(move |result, act, ctx| {
                act.connecting = None;
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
            if first_open {
                m.counters.clients_connected += 1;
                m.last_first_open = Some(now);
            }
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
            messages: self
                .cfg
                .messages
                .as_ref()
                .map(|m| MessageState::new(m.size)),
        });

        // The first heartbeat goes out at a random offset in [0, interval) so that thousands of
        // clients do not fire in lockstep; then one every interval.
        if self.cfg.heartbeat.mode != HeartbeatMode::None {
            let offset = self
                .cfg
                .heartbeat
                .interval
                .mul_f64(self.rng.random_range(0.0..1.0));
            self.deadlines
                .set(Timer::Heartbeat, self.cfg.on_slot(now + offset));
        }
        match self.cfg.messages.as_ref().map(|m| m.rate) {
            None => {}
            Some(MessageRate::Closed) => self.send_message(now),
            Some(MessageRate::PerSecond(rate)) => {
                let offset = Duration::from_secs_f64(self.rng.random_range(0.0..1.0) / rate);
                self.deadlines.set(Timer::Message, now + offset);
            }
        }
        self.flush(ctx);
    }

    /// The open connection.
    fn live(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut().filter(|_| self.state == State::Open)
    }

    /// Sends the heartbeat that was due at `due` and schedules the next one.
    fn send_heartbeat(&mut self, due: Instant, now: Instant) {
        let cfg = &*self.cfg;
        let Some(conn) = self.conn.as_mut().filter(|_| self.state == State::Open) else {
            return;
        };
        let seq = conn.heartbeat.sent(now);
        match &cfg.heartbeat.mode {
            HeartbeatMode::Ping => conn.writer.queue(OpCode::Ping, &seq.to_be_bytes()),
            HeartbeatMode::Text { payload, .. } => {
                conn.writer.queue(OpCode::Text, payload.as_bytes())
            }
            HeartbeatMode::None => return,
        }
        metrics::record(|m| m.counters.heartbeats_sent += 1);
        let interval = cfg.heartbeat.interval;
        // Keep the schedule; if the actor fell a whole interval behind, start over from now.
        let next = due + interval;
        let next = if next > now { next } else { now + interval };
        self.deadlines.set(Timer::Heartbeat, self.cfg.on_slot(next));
        if self.deadlines.get(Timer::Ack).is_none() {
            self.deadlines.set(Timer::Ack, now + cfg.heartbeat.timeout);
        }
    }

    /// The ack timeout fired: a miss; `max_missed` in a row declare the connection dead.
    fn heartbeat_timed_out(&mut self, ctx: &mut Context<Self>) {
        let Some(conn) = self.live() else { return };
        let dead = conn.heartbeat.missed();
        metrics::record(|m| m.counters.heartbeat_misses += 1);
        if dead {
            // Dead: drop it without waiting for a close handshake.
            self.lost(Cause::HeartbeatTimeout, ctx);
        }
    }

    /// Queues one application message stamped with `due` (its scheduled send time).
    fn send_message(&mut self, due: Instant) {
        let Some(conn) = self.live() else { return };
        let Some(messages) = conn.messages.as_mut() else {
            return;
        };
        conn.writer.queue(OpCode::Text, messages.next(due));
        metrics::record(|m| m.counters.messages_sent += 1);
    }

    /// Open loop: every message whose scheduled time has come, each stamped with that time, so a
    /// late send shows up as latency (no coordinated omission).
    fn send_due_messages(&mut self, mut due: Instant, now: Instant) {
        let Some(MessageRate::PerSecond(rate)) = self.cfg.messages.as_ref().map(|m| m.rate) else {
            return;
        };
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut burst = 0;
        while due <= now && burst < MAX_MESSAGE_BURST {
            self.send_message(due);
            due += period;
            burst += 1;
        }
        if due <= now {
            due = now + period; // hopelessly behind: skip ahead rather than flood
        }
        self.deadlines.set(Timer::Message, due);
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

    /// The connection showed life: the pending timeout is off and misses start over.
    fn disarm(&mut self) {
        self.deadlines.clear(Timer::Ack);
        if let Some(conn) = self.conn.as_mut() {
            conn.heartbeat.reset();
        }
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.cfg.heartbeat.reset_on == ResetOn::Any {
            self.disarm();
        }
        // Borrow the shared config and the connection side by side (no Arc clone per frame).
        let cfg = &*self.cfg;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let interval = cfg.heartbeat.interval;
        let closed_loop = matches!(
            cfg.messages.as_ref().map(|m| m.rate),
            Some(MessageRate::Closed)
        );
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
            self.disarm();
            metrics::record(|m| {
                m.counters.heartbeat_acks += 1;
                if let Some(rtt) = rtt {
                    record_us_corrected(&mut m.hist.heartbeat_rtt, rtt, interval);
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
                if closed_loop {
                    self.send_message(Instant::now());
                    self.flush(ctx);
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

    /// Stops the connection's timers (the socket itself lives on in `conn`).
    fn clear_connection_timers(&mut self) {
        for timer in [Timer::Heartbeat, Timer::Ack, Timer::Message] {
            self.deadlines.clear(timer);
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
        self.clear_connection_timers();
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
        self.deadlines.set(Timer::Reconnect, Instant::now() + delay);
    }

    /// Manual close finished (server answered, went away, or the grace period ran out).
    fn finish(&mut self, ctx: &mut Context<Self>) {
        if let Some(conn) = self.conn.take() {
            release(conn, ctx);
        }
        self.close_lingering(ctx);
        ctx.stop();
    }

    /// Keeps a connection we sent a close frame on aside until the server answers (or
    /// `close_grace`), so the frame is not lost to the socket closing right behind it.
    fn linger(&mut self, mut conn: Conn, ctx: &mut Context<Self>) {
        self.close_lingering(ctx);
        if let Some(handle) = conn.flush_wait.take() {
            ctx.cancel_future(handle);
        }
        self.closing = Some(conn);
        self.deadlines
            .set(Timer::Linger, Instant::now() + self.cfg.close_grace);
    }

    fn close_lingering(&mut self, ctx: &mut Context<Self>) {
        self.deadlines.clear(Timer::Linger);
        if let Some(conn) = self.closing.take() {
            release(conn, ctx);
        }
    }
}

/// Cancels the futures tied to a connection; dropping it closes the socket.
fn release(conn: Conn, ctx: &mut Context<Client>) {
    ctx.cancel_future(conn.reader);
    if let Some(handle) = conn.flush_wait {
        ctx.cancel_future(handle);
    }
}

impl Clocked for Client {
    fn deadlines(&mut self) -> &mut Deadlines {
        &mut self.deadlines
    }

    fn on_clock(&mut self, now: Instant, ctx: &mut Context<Self>) {
        if self.deadlines.take_due(Timer::Linger, now).is_some() {
            self.close_lingering(ctx);
        }
        if self.deadlines.take_due(Timer::Close, now).is_some() {
            self.finish(ctx);
            return;
        }
        if self.deadlines.take_due(Timer::Reconnect, now).is_some() && self.state == State::Backoff
        {
            self.connect(ctx);
        }
        if self.state != State::Open {
            return;
        }
        // A timeout first: a connection it kills sends no more heartbeats.
        if self.deadlines.take_due(Timer::Ack, now).is_some() {
            self.heartbeat_timed_out(ctx);
        }
        let mut wrote = false;
        if let Some(due) = self.deadlines.take_due(Timer::Heartbeat, now) {
            self.send_heartbeat(due, now);
            wrote = true;
        }
        if let Some(due) = self.deadlines.take_due(Timer::Message, now) {
            self.send_due_messages(due, now);
            wrote = true;
        }
        if wrote {
            self.flush(ctx);
        }
    }
}

impl Actor for Client {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::record(|m| m.counters.clients_started += 1);
        ctx.spawn(Clock::new());
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
        self.deadlines.clear(Timer::Reconnect);
        if let Some(handle) = self.connecting.take() {
            ctx.cancel_future(handle);
        }
        match previous {
            State::Open => {
                self.clear_connection_timers();
                let Some(conn) = self.conn.as_mut() else {
                    return;
                };
                conn.writer
                    .queue_close(Some(CloseReason::from(CloseCode::Normal)));
                metrics::record(|m| m.counters.closed_manually += 1);
                self.flush(ctx);
                self.deadlines
                    .set(Timer::Close, Instant::now() + self.cfg.close_grace);
            }
            State::Connecting | State::Backoff => {
                // Lost and not back yet: the reconnect the run's end prevented.
                if self.lost_at.is_some() {
                    metrics::record(|m| m.counters.reconnects_pending_at_end += 1);
                }
                ctx.stop()
            }
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
