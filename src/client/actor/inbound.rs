//! What comes in on a connection: heartbeat acks, echoes of application messages, messages the
//! server pushed (counted, and followed with `clients.stream`), the server's pings (answered) and close frames (answered, then the connection is lost). Part of
//! the client actor, kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{Frame, OpCode};

use super::{Cause, Client};
use crate::client::app::AppProtocol;
use crate::client::clock::Timer;
use crate::client::live::ack_of;
use crate::client::stream;
use crate::client::tally;
use crate::scenario::{MessageRate, ResetOn};

impl Client {
    /// The connection showed life: the pending timeout is off and misses start over.
    pub(super) fn disarm(&mut self) {
        self.deadlines.clear(Timer::Ack);
        if let Some(conn) = self.state.conn() {
            conn.heartbeat.reset();
        }
    }

    pub(super) fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.answered(&frame, now) {
            self.flush(ctx);
            return;
        }
        if let Frame::Text(data) | Frame::Binary(data) = &frame
            && matches!(self.cfg.app, AppProtocol::SocketIo(_))
        {
            // Socket.IO: every data frame is one of its packets (binary: an attachment).
            if matches!(frame, Frame::Text(_)) {
                self.on_socketio_text(data, now, ctx);
            }
            return;
        }
        if self.cfg.heartbeat.reset_on == ResetOn::Any {
            self.disarm();
        }
        if matches!(self.cfg.app, AppProtocol::GraphqlWs(_))
            && matches!(frame, Frame::Text(_) | Frame::Binary(_) | Frame::Pong(_))
        {
            self.on_graphql_frame(frame, now, ctx);
            return;
        }
        // Borrow the shared config and the connection side by side (no Arc clone per frame).
        let cfg = &*self.cfg;
        let Some(conn) = self.state.conn() else {
            return;
        };
        let interval = cfg.heartbeat.interval;
        let closed_loop = matches!(
            cfg.messages.as_ref().map(|m| m.rate),
            Some(MessageRate::Closed)
        );
        if let Some(seq) = ack_of(&frame, &cfg.heartbeat.mode) {
            let rtt = conn.heartbeat.acked(seq, now);
            self.disarm();
            tally::heartbeat_acked(rtt, interval);
            return;
        }
        let text = matches!(frame, Frame::Text(_));
        match frame {
            Frame::Ping(payload) => {
                conn.writer.queue(OpCode::Pong, &payload);
                self.flush(ctx);
            }
            Frame::Text(data) | Frame::Binary(data) => {
                let Some(sent_at) = conn.messages.as_mut().and_then(|m| m.echoed(&data)) else {
                    // Neither an ack, an echo nor an `on_open` answer: the server pushed it.
                    let followed = cfg.stream.as_ref().map(|stream| {
                        stream::follow(stream, &mut conn.stream, &mut self.stream, text, &data)
                    });
                    tally::pushed(followed);
                    return;
                };
                tally::message_echoed(now - sent_at);
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
                tally::close_frame(code);
                self.lost(Cause::CloseFrame(code), ctx);
            }
            Frame::Pong(_) | Frame::Continuation(_) => {}
        }
    }
}
