//! The client state machine, in one place:
//!
//! ```text
//! Connecting --open--> Open --(heartbeat dead | close | error)--> Backoff --delay--> Connecting
//!      \--fail/timeout--> Backoff                    any state --manual close--> Stopped
//! Backoff --max_attempts reached--> GaveUp
//! ```
//!
//! Each state holds what only exists in it: `Connecting` the attempt in flight, `Open` the
//! connection, `Stopped` the connection still waiting for the server's answer to our close frame.
//! So there is at most one attempt or one connection at a time, and a loss is acted on once: it
//! takes the connection out of `Open`, and whatever arrives later from that connection no longer
//! matches (inbound frames carry the id of their connection).
//!
//! Timers are deadlines in the struct (`Deadlines`), driven by one `Clock` per actor; a
//! transition sets or clears them. What each event counts is in `tally`; the messages the actor
//! takes are in `commands`, handled in `actor/commands.rs`; sending heartbeats and messages and
//! writing them out is in `actor/outbound.rs`; the `on_open` frames that precede them in
//! `actor/on_open.rs`; what a frame from the server means (ack, echo, ping, close) in
//! `actor/inbound.rs`. How the application protocol starts, times out and ends a connection is
//! dispatched in `actor/app.rs`, to `actor/graphql_ws.rs` and `actor/socketio.rs`, which also
//! read that protocol's frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame};
use futures_util::{StreamExt, future, stream};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ClientConfig;
use super::backoff;
use super::clock::{Clock, Clocked, Deadlines, Grid, Timer};
use super::commands::{FaultStarted, Inbound};
use super::connection::{self, ConnectError, ConnectTimes, Dial, FrameReader, Writer};
use super::heartbeat::HeartbeatState;
use super::live::Conn;
use super::messages::MessageState;
use super::reader::ReadError;
use super::stream::{StreamCarry, StreamConn};
use super::tally::{self, Cause, Reopen};

mod app;
mod commands;
mod graphql_ws;
mod inbound;
mod on_open;
mod outbound;
mod socketio;

/// Most open-loop messages sent at once when the actor fell behind its schedule.
const MAX_MESSAGE_BURST: u32 = 64;

enum State {
    /// The connect attempt in flight (TCP connect + upgrade, bounded by `connect_timeout`).
    Connecting(SpawnHandle),
    Open(Conn),
    /// Waiting for the `Reconnect` deadline.
    Backoff,
    /// Manually closed: never reconnects. Holds the connection our close frame went out on until
    /// the server answers, goes away, or `close_grace` passes (the `Close` deadline).
    Stopped(Option<Conn>),
    GaveUp,
}

impl State {
    /// The connection whose frames still count: the open one, or the one a manual close waits on.
    fn conn(&mut self) -> Option<&mut Conn> {
        match self {
            State::Open(conn) | State::Stopped(Some(conn)) => Some(conn),
            _ => None,
        }
    }

    fn conn_id(&self) -> Option<u64> {
        match self {
            State::Open(conn) | State::Stopped(Some(conn)) => Some(conn.id),
            _ => None,
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, State::Open(_))
    }
}

pub struct Client {
    id: u32,
    cfg: Arc<ClientConfig>,
    rng: SmallRng,
    state: State,
    deadlines: Deadlines,
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
    /// A connection we sent a close frame on (a `drop` with `mode: close`), kept until the server
    /// answers the close handshake or `close_grace` passes, while the client already reconnects.
    lingering: Option<Conn>,
    /// `wss://`: this client's TLS connector (its own session cache when sessions resume), made
    /// on the first attempt.
    tls: Option<tokio_rustls::TlsConnector>,
    /// The pushed stream's last sequence number and the fault that cost the last connection,
    /// carried to the next connection.
    stream: StreamCarry,
}

impl Client {
    pub fn new(id: u32, cfg: Arc<ClientConfig>) -> Self {
        let rng =
            SmallRng::seed_from_u64(cfg.seed ^ (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let deadlines = Deadlines::new(Grid::for_resolution(cfg.started, cfg.timer_resolution));
        Self {
            id,
            cfg,
            rng,
            // `started` dials at once.
            state: State::Backoff,
            deadlines,
            next_conn_id: 0,
            attempts: 0,
            retries: 0,
            last_delay: Duration::ZERO,
            lost_at: None,
            fault: None,
            recovering: None,
            ever_connected: false,
            lingering: None,
            tls: None,
            stream: StreamCarry::default(),
        }
    }

    /// Backoff --delay--> Connecting (and the first attempt).
    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.attempts += 1;
        let cfg = self.cfg.clone();
        let dial = Dial {
            source: cfg.source_ip(self.id),
            key: self.rng.random(),
            client_id: cfg.identify.then_some(self.id),
            keepalive: cfg.tcp_keepalive,
            // Asked only when the endpoint has a resume parameter.
            since: self.stream.last,
        };
        if self.tls.is_none() {
            self.tls = cfg.endpoint.tls.as_ref().map(|tls| tls.connector());
        }
        let tls = self.tls.clone();
        let started = Instant::now();
        tally::connect_attempt(cfg.started, started);
        let attempt = async move {
            let open = connection::open_timed(&cfg.endpoint, dial, tls.as_ref());
            tokio::time::timeout(cfg.connect_timeout, open)
                .await
                .unwrap_or(Err(ConnectError::Timeout))
        };
        let attempt = ctx.spawn(attempt.into_actor(self).map(move |result, act, ctx| {
            // A manual close cancels the attempt; this is a guard, not a path.
            if matches!(act.state, State::Connecting(_)) {
                act.connect_finished(result, started, ctx);
            }
        }));
        self.state = State::Connecting(attempt);
    }

    /// Connecting --open--> Open, or Connecting --fail/timeout--> Backoff.
    fn connect_finished(
        &mut self,
        result: Result<(FrameReader, Writer, ConnectTimes), ConnectError>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok((reader, writer, times)) => self.opened(reader, writer, started, times, ctx),
            Err(err) => {
                tracing::debug!(client = self.id, %err, "connect failed");
                match &err {
                    ConnectError::Tls(tls) => tally::warn_tls_once(tls),
                    ConnectError::Extension(why) => tally::warn_extension_once(why),
                    _ => {}
                }
                tally::connect_failed(&err);
                self.schedule_reconnect(ctx);
            }
        }
    }

    fn opened(
        &mut self,
        reader: FrameReader,
        writer: Writer,
        started: Instant,
        times: ConnectTimes,
        ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        let recovered = self.recovering.take();
        if self.lost_at.is_some() {
            self.stream.fault = recovered.map(|f| f.fault);
        }
        let reopen = self.lost_at.take().map(|lost| Reopen {
            took: now - lost,
            attempts: self.attempts,
            fault: recovered,
        });
        tally::opened(now, now - started, times, !self.ever_connected, reopen);
        if writer.deflate_negotiated() {
            tally::compression_negotiated();
        }
        self.ever_connected = true;

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
        self.state = State::Open(Conn {
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
            bytes_written: 0,
            unwritten: VecDeque::new(),
            awaiting_answer: None,
            stream: StreamConn::default(),
            app: self.cfg.app.new_conn(now),
        });
        self.start_app(now);
        self.flush(ctx);
    }

    /// The connection is open and its `on_open` sequence done: the backoff starts over (a
    /// connection whose handshake the server rejects is no success), heartbeats and messages
    /// begin.
    fn established(&mut self, now: Instant) {
        self.attempts = 0;
        self.retries = 0;
        self.last_delay = Duration::ZERO;
        self.start_outbound(now);
    }

    /// The open connection.
    fn live(&mut self) -> Option<&mut Conn> {
        match &mut self.state {
            State::Open(conn) => Some(conn),
            _ => None,
        }
    }

    /// The ack timeout fired: a miss; `max_missed` in a row declare the connection dead.
    fn heartbeat_timed_out(&mut self, ctx: &mut Context<Self>) {
        let Some(conn) = self.live() else { return };
        let dead = conn.heartbeat.missed();
        tally::heartbeat_missed();
        if dead {
            // Dead: drop it without waiting for a close handshake.
            self.lost(Cause::HeartbeatTimeout, ctx);
        }
    }

    /// Stops the connection's timers (the socket itself goes with the state that holds it).
    fn clear_connection_timers(&mut self) {
        for timer in [
            Timer::Heartbeat,
            Timer::Ack,
            Timer::Message,
            Timer::SendStuck,
            Timer::Answer,
        ] {
            self.deadlines.clear(timer);
        }
    }

    /// Takes the connection out of `Open`, leaving `Backoff` until the loss is dealt with; `None`
    /// (and the state untouched) when not open.
    fn take_open(&mut self) -> Option<Conn> {
        match std::mem::replace(&mut self.state, State::Backoff) {
            State::Open(conn) => Some(conn),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Open --(heartbeat dead | close | error)--> Backoff; during a manual close, its end.
    fn lost(&mut self, cause: Cause, ctx: &mut Context<Self>) {
        if matches!(self.state, State::Stopped(_)) {
            self.finish(ctx);
            return;
        }
        let Some(mut conn) = self.take_open() else {
            return;
        };
        let now = Instant::now();
        let lost_messages = conn.lose_in_flight();
        conn.release(ctx);
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
        tally::lost(cause, now, lost_messages, noticed);
        tracing::debug!(client = self.id, ?cause, "connection lost");
        self.lost_at = Some(now);
        self.schedule_reconnect(ctx);
    }

    /// -> Backoff before the next attempt, or Backoff --max_attempts reached--> GaveUp.
    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>) {
        let max_attempts = self.cfg.reconnect.max_attempts;
        if max_attempts != 0 && self.attempts >= max_attempts {
            self.state = State::GaveUp;
            tally::gave_up();
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

    /// Manually closed while not open: the attempt (if any) is already cancelled.
    fn stop_while_lost(&mut self, ctx: &mut Context<Self>) {
        if self.lost_at.is_some() {
            tally::reconnect_pending_at_end();
        }
        ctx.stop();
    }

    /// Manual close finished (server answered, went away, or the grace period ran out).
    fn finish(&mut self, ctx: &mut Context<Self>) {
        if let State::Open(conn) | State::Stopped(Some(conn)) =
            std::mem::replace(&mut self.state, State::Stopped(None))
        {
            conn.release(ctx);
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
        self.lingering = Some(conn);
        self.deadlines
            .set(Timer::Linger, Instant::now() + self.cfg.close_grace);
    }

    fn close_lingering(&mut self, ctx: &mut Context<Self>) {
        self.deadlines.clear(Timer::Linger);
        if let Some(conn) = self.lingering.take() {
            conn.release(ctx);
        }
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
        if self.deadlines.take_due(Timer::Reconnect, now).is_some()
            && matches!(self.state, State::Backoff)
        {
            self.connect(ctx);
        }
        if !self.state.is_open() {
            return;
        }
        // Timeouts first: a connection one kills sends no more heartbeats.
        if self.deadlines.take_due(Timer::SendStuck, now).is_some() {
            self.lost(Cause::SendTimeout, ctx);
        }
        if self.deadlines.take_due(Timer::Answer, now).is_some() {
            let cause = self.unanswered_cause();
            tracing::debug!(client = self.id, ?cause, "no answer in time");
            self.lost(cause, ctx);
        }
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
        tally::client_started();
        ctx.spawn(Clock::new(&self.deadlines));
        self.connect(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tally::client_stopped();
    }
}

impl StreamHandler<Inbound> for Client {
    fn handle(&mut self, item: Inbound, ctx: &mut Self::Context) {
        if self.lingering.as_ref().map(|c| c.id) == Some(item.conn) {
            if matches!(item.event, None | Some(Err(_)) | Some(Ok(Frame::Close(_)))) {
                self.close_lingering(ctx);
            }
            return;
        }
        if self.state.conn_id() != Some(item.conn) {
            return; // left over from a connection already dropped
        }
        if let State::Stopped(_) = self.state {
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
            Some(Err(ReadError::Io(err))) => {
                tracing::debug!(client = self.id, %err, "read failed");
                let cause = if let Some(tls) = crate::tls::tls_failure(&err) {
                    tally::warn_tls_once(tls);
                    Cause::TlsError
                } else if err.kind() == std::io::ErrorKind::UnexpectedEof {
                    // TLS: the socket closed without close_notify, what EOF is on plain TCP.
                    Cause::ServerGone
                } else {
                    Cause::IoError
                };
                self.lost(cause, ctx);
            }
            Some(Err(err)) => {
                tracing::debug!(client = self.id, %err, "protocol error");
                if let (Some(code), Some(conn)) = (err.close_code(), self.live()) {
                    // Say why before letting go (the RFC's code for what the server did wrong).
                    conn.writer
                        .queue_close(Some(CloseReason::from(CloseCode::from(code))));
                    let _ = conn.writer.try_flush();
                }
                self.lost(Cause::ProtocolError, ctx);
            }
            None => self.lost(Cause::ServerGone, ctx),
        }
    }

    /// The end of each connection is delivered in-band (`event: None`); the actor lives on.
    fn finished(&mut self, _ctx: &mut Self::Context) {}
}
