//! What goes out on an open connection: heartbeats and open-loop messages at their scheduled
//! times (from when the connection is established), and the non-blocking writes (with the send timeout that declares a stuck socket dead).
//! Part of the client actor, kept apart from its transitions in `actor.rs`.

use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;

use super::{Cause, Client, MAX_MESSAGE_BURST, State};
use crate::client::clock::Timer;
use crate::client::live::Queued;
use crate::client::tally;
use crate::scenario::{HeartbeatMode, MessageRate};

impl Client {
    /// Starts heartbeats and messages on a connection just established. The first heartbeat
    /// goes out at a random offset in [0, interval) so that thousands of clients do not fire in
    /// lockstep; then one every interval. Open-loop messages start at a random offset too.
    pub(super) fn start_outbound(&mut self, now: Instant) {
        if self.cfg.heartbeat.mode != HeartbeatMode::None {
            let offset = self
                .cfg
                .heartbeat
                .interval
                .mul_f64(self.rng.random_range(0.0..1.0));
            self.deadlines.set(Timer::Heartbeat, now + offset);
        }
        match self.cfg.messages.as_ref().map(|m| m.rate) {
            None => {}
            Some(MessageRate::Closed) => self.send_message(now),
            Some(MessageRate::PerSecond(rate)) => {
                let offset = Duration::from_secs_f64(self.rng.random_range(0.0..1.0) / rate);
                self.deadlines.set(Timer::Message, now + offset);
            }
        }
    }

    /// Sends the heartbeat that was due at `due` and schedules the next one.
    pub(super) fn send_heartbeat(&mut self, due: Instant, now: Instant) {
        // Borrow the shared config and the connection side by side (no Arc clone per beat).
        let cfg = &*self.cfg;
        let State::Open(conn) = &mut self.state else {
            return;
        };
        if !conn.queue_heartbeat(&cfg.heartbeat.mode, due, now) {
            return;
        }
        tally::heartbeat_sent();
        let interval = cfg.heartbeat.interval;
        // Keep the schedule; if the actor fell a whole interval behind, start over from now.
        let next = due + interval;
        let next = if next > now { next } else { now + interval };
        self.deadlines.set(Timer::Heartbeat, next);
        if self.deadlines.get(Timer::Ack).is_none() {
            self.deadlines.set(Timer::Ack, now + cfg.heartbeat.timeout);
        }
    }

    /// Queues one application message stamped with `due` (its scheduled send time).
    pub(super) fn send_message(&mut self, due: Instant) {
        let send_buffer = self.cfg.send_buffer;
        match self.live().map(|conn| conn.queue_message(due, send_buffer)) {
            Some(Queued::Sent) => tally::message_sent(),
            Some(Queued::Dropped) => tally::message_dropped(),
            Some(Queued::Nothing) | None => {}
        }
    }

    /// Open loop: every message whose scheduled time has come, each stamped with that time, so a
    /// late send shows up as latency (no coordinated omission).
    pub(super) fn send_due_messages(&mut self, mut due: Instant, now: Instant) {
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

    /// Writes what is queued; if the socket is full, waits for it to drain. A socket that takes
    /// no bytes for `send_timeout` while some are queued is dead (the `SendStuck` deadline).
    /// Each heartbeat or message whose last byte the socket took counts its send lag.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
        // Only an open connection has the deadline (a manual close has its own grace period).
        let open = self.state.is_open();
        let Some(conn) = self.state.conn() else {
            return;
        };
        let before = conn.writer.queued();
        let flushed = conn.writer.try_flush();
        let taken = before - conn.writer.queued();
        if taken > 0 {
            tally::frames_written(conn.written(taken, Instant::now()));
        }
        if matches!(flushed, Ok(true)) {
            self.deadlines.clear(Timer::SendStuck);
        } else if open
            && (conn.writer.queued() < before || self.deadlines.get(Timer::SendStuck).is_none())
        {
            self.deadlines
                .set(Timer::SendStuck, Instant::now() + self.cfg.send_timeout);
        }
        match flushed {
            Ok(true) => {}
            Ok(false) => {
                let Some(mut half) = conn.writer.take_half() else {
                    return;
                };
                let id = conn.id;
                let wait = async move {
                    let ready = half.writable().await;
                    (half, ready)
                };
                conn.flush_wait = Some(ctx.spawn(actix::fut::wrap_future::<_, Self>(wait).map(
                    move |(half, ready), act, ctx| {
                        let Some(conn) = act.state.conn().filter(|c| c.id == id) else {
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
}
