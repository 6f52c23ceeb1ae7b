//! `clients.on_open` on a new connection: its frames go out in order, each text with the
//! client's id and the connection's number filled in. An item with `expect` holds back the rest
//! (and the first heartbeat) until a text frame from the server contains the expected part; if
//! `within` passes first (the `Answer` deadline), the connection is lost as `handshake_rejected`.
//! When every item is out and answered the connection is established. Part of the client actor,
//! kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use actix_http::ws::{Frame, OpCode};

use super::{Client, State};
use crate::client::clock::Timer;
use crate::scenario::OnOpenFrame;

impl Client {
    /// Queues the `on_open` items from `from` on, until one awaits an answer (its deadline is
    /// then armed) or all are out (the connection is then established).
    pub(super) fn send_on_open(&mut self, from: usize, now: Instant) {
        // Borrow the shared config and the connection side by side (no Arc clone).
        let cfg = &*self.cfg;
        let State::Open(conn) = &mut self.state else {
            return;
        };
        conn.awaiting_answer = None;
        let mut text = String::new();
        for (index, item) in cfg.on_open.iter().enumerate().skip(from) {
            match &item.frame {
                OnOpenFrame::Text(template) => {
                    template.render(self.id, conn.id, &mut text);
                    conn.writer.queue(OpCode::Text, text.as_bytes());
                }
                OnOpenFrame::Binary(bytes) => conn.writer.queue(OpCode::Binary, bytes),
            }
            if let Some(expect) = &item.expect {
                conn.awaiting_answer = Some(index);
                self.deadlines.set(Timer::Answer, now + expect.within);
                return;
            }
        }
        self.established(now);
    }

    /// Whether `frame` is the answer the open connection waits for; if so, the next items go
    /// out (the caller flushes). An answer is neither a heartbeat ack nor an echo.
    pub(super) fn answered(&mut self, frame: &Frame, now: Instant) -> bool {
        let State::Open(conn) = &self.state else {
            return false;
        };
        let (Some(index), Frame::Text(text)) = (conn.awaiting_answer, frame) else {
            return false;
        };
        let is_answer = self
            .cfg
            .on_open
            .get(index)
            .and_then(|item| item.expect.as_ref())
            .is_some_and(|expect| expect.answered_by(text));
        if is_answer {
            self.deadlines.clear(Timer::Answer);
            self.send_on_open(index + 1, now);
        }
        is_answer
    }
}
