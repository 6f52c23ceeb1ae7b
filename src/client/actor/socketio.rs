//! `target.protocol: socketio` on a connection: what the session (`client::socketio`) decides a
//! frame means, carried out. The open packet must come, and the namespace must answer, within
//! `connect_timeout` of the upgrade (the `Answer` deadline); each server ping is answered at once
//! and moves the `Ack` deadline to pingInterval + pingTimeout later (its firing is a heartbeat
//! timeout); acks of our events are message round trips; the server's events are pushed
//! messages. Part of the client actor, kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::OpCode;

use super::{Cause, Client};
use crate::client::clock::Timer;
use crate::client::live::{Conn, Outbound};
use crate::client::socketio::{Action, Phase};
use crate::client::{stream, tally};
use crate::scenario::MessageRate;

impl Client {
    /// A Socket.IO connection just opened: its handshake gets `connect_timeout`.
    pub(super) fn socketio_opened(&mut self, now: Instant) {
        self.deadlines
            .set(Timer::Answer, now + self.cfg.connect_timeout);
    }

    /// Why a connection whose handshake did not finish in time is lost: a server that never
    /// sent the Engine.IO open packet does not speak Socket.IO (a protocol error); otherwise the
    /// namespace never answered.
    pub(super) fn socketio_unanswered_cause(&mut self) -> Cause {
        let phase = (self.state.conn())
            .and_then(|c| c.app.socketio())
            .map(|session| session.phase());
        if phase == Some(Phase::Opening) {
            tally::socketio_invalid("no Engine.IO open packet within connect_timeout");
            return Cause::ProtocolError;
        }
        Cause::HandshakeRejected
    }

    pub(super) fn on_socketio_text(&mut self, text: &[u8], now: Instant, ctx: &mut Context<Self>) {
        // Nothing is sent after a manual close's close frame.
        let open = self.state.is_open();
        let cfg = &*self.cfg;
        let Some(conn) = self.state.conn() else {
            return;
        };
        let Some(session) = conn.app.socketio() else {
            return;
        };
        match session.on_text(text, now) {
            Action::Join(_) => {
                if open {
                    let connect = session.settings().connect_packet();
                    conn.writer.queue(OpCode::Text, connect);
                }
                if let Some(dead_at) = session.dead_at() {
                    self.deadlines.set(Timer::Ack, dead_at);
                }
                self.flush(ctx);
            }
            Action::Joined => {
                self.deadlines.clear(Timer::Answer);
                if open {
                    self.established(now);
                    self.flush(ctx);
                }
            }
            Action::Pong { payload, gap } => {
                let dead_at = session.dead_at();
                if open {
                    conn.writer.queue(OpCode::Text, session.pong(payload));
                    // Its send lag is the pong's answer time: ping read -> pong written.
                    conn.track(Outbound::Heartbeat, now);
                }
                tally::socketio_ping(gap);
                if let Some(dead_at) = dead_at {
                    self.deadlines.set(Timer::Ack, dead_at);
                }
                self.flush(ctx);
            }
            Action::Acked(id) => {
                let Some(sent_at) = conn.messages.as_mut().and_then(|m| m.answered(id)) else {
                    return;
                };
                tally::message_echoed(now.saturating_duration_since(sent_at));
                let closed_loop = matches!(
                    cfg.messages.as_ref().map(|m| m.rate),
                    Some(MessageRate::Closed)
                );
                if closed_loop && open {
                    self.send_message(Instant::now());
                    self.flush(ctx);
                }
            }
            Action::Pushed { argument, ack } => {
                if let (Some(id), true) = (ack, open) {
                    conn.writer.queue(OpCode::Text, session.ack(id));
                }
                let followed = cfg.stream.as_ref().map(|s| {
                    let argument = argument.unwrap_or_default();
                    stream::follow(s, &mut conn.stream, &mut self.stream, true, argument)
                });
                tally::pushed(followed);
                if ack.is_some() {
                    self.flush(ctx);
                }
            }
            Action::Refused(message) => {
                tally::socketio_refused(message);
                self.lost(Cause::HandshakeRejected, ctx);
            }
            Action::Closed => {
                tally::socketio_server_disconnect();
                self.lost(Cause::ServerGone, ctx);
            }
            Action::Ignored => {}
            Action::Invalid(why) => {
                tally::socketio_invalid(why);
                self.lost(Cause::ProtocolError, ctx);
            }
        }
    }
}

/// A manual close leaves the namespace (`41`) before its close frame.
pub(super) fn leave_namespace(conn: &mut Conn) {
    if let Some(session) = conn.app.socketio()
        && session.phase() == Phase::Joined
    {
        conn.writer
            .queue(OpCode::Text, session.settings().disconnect_packet());
    }
}
