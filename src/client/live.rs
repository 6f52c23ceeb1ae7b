//! The open connection as the actor holds it: its socket's two halves, its heartbeat and message
//! bookkeeping, the frames still waiting for the socket (for their send lag), and what a frame
//! from it means. All of it dies with the connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{Frame, OpCode};

use super::actor::Client;
use super::app::AppConn;
use super::connection::Writer;
use super::graphql_ws::{self, PingBuffer};
use super::heartbeat::HeartbeatState;
use super::messages::MessageState;
use super::stream::StreamConn;
use crate::scenario::HeartbeatMode;

pub struct Conn {
    /// Numbers the connections of one client, so frames of an old one are told apart.
    pub id: u64,
    pub writer: Writer,
    /// The actor's stream of this connection's frames.
    pub reader: SpawnHandle,
    /// A future waiting for the socket to become writable again (only when it was full).
    pub flush_wait: Option<SpawnHandle>,
    pub heartbeat: HeartbeatState,
    pub messages: Option<MessageState>,
    /// Bytes of this connection the socket has taken so far.
    pub bytes_written: u64,
    /// Heartbeats and messages queued whose last byte the socket has not taken yet, oldest first.
    pub unwritten: VecDeque<Unwritten>,
    /// The `on_open` item whose answer the connection waits for: until it comes, nothing else
    /// goes out (`None`: no answer awaited).
    pub awaiting_answer: Option<usize>,
    /// What this connection saw of a pushed stream (with `clients.stream`).
    pub stream: StreamConn,
    /// What the connection speaks inside the WebSocket, and where it is in it.
    pub app: AppConn,
}

/// A heartbeat or message on its way to the socket.
#[derive(Debug, Clone, Copy)]
pub struct Unwritten {
    /// Where the frame ends in the connection's byte stream.
    end: u64,
    kind: Outbound,
    /// When it was due to leave.
    due: Instant,
}

/// What a send-lag sample is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    Heartbeat,
    Message,
}

impl Conn {
    /// Queues the next heartbeat, due at `due`; false in `mode: none` (nothing to send).
    pub fn queue_heartbeat(&mut self, mode: &HeartbeatMode, due: Instant, now: Instant) -> bool {
        match mode {
            HeartbeatMode::None => return false,
            // graphql-ws heartbeats are its own `ping` messages.
            HeartbeatMode::Ping if matches!(self.app, AppConn::GraphqlWs(_)) => {
                let seq = self.heartbeat.sent(now);
                let mut buf: PingBuffer = [0; 64];
                self.writer
                    .queue(OpCode::Text, graphql_ws::ping(seq, &mut buf));
            }
            HeartbeatMode::Ping => {
                let seq = self.heartbeat.sent(now);
                self.writer.queue(OpCode::Ping, &seq.to_be_bytes());
            }
            HeartbeatMode::Text { payload, .. } => {
                self.heartbeat.sent(now);
                self.writer.queue(OpCode::Text, payload.as_bytes());
            }
        }
        self.track(Outbound::Heartbeat, due);
        true
    }

    /// Remembers the frame just queued until the socket has taken its last byte.
    pub fn track(&mut self, kind: Outbound, due: Instant) {
        self.unwritten.push_back(Unwritten {
            end: self.bytes_written + self.writer.queued() as u64,
            kind,
            due,
        });
    }

    /// The socket took `bytes` more at `now`: each heartbeat or message whose last byte is now
    /// written, with its send lag (due -> written).
    pub fn written(
        &mut self,
        bytes: usize,
        now: Instant,
    ) -> impl Iterator<Item = (Outbound, Duration)> + '_ {
        self.bytes_written += bytes as u64;
        let done = self
            .unwritten
            .iter()
            .take_while(|u| u.end <= self.bytes_written)
            .count();
        self.unwritten
            .drain(..done)
            .map(move |u| (u.kind, now.saturating_duration_since(u.due)))
    }

    /// Queues the next application message stamped with `due`, unless `send_buffer` bytes are
    /// already queued (the socket is not taking them): then it is dropped, and never in flight.
    pub fn queue_message(&mut self, due: Instant, send_buffer: usize) -> Queued {
        let Some(messages) = self.messages.as_mut() else {
            return Queued::Nothing;
        };
        if self.writer.queued() >= send_buffer {
            return Queued::Dropped;
        }
        match self.app.socketio() {
            None => self.writer.queue(OpCode::Text, messages.next(due)),
            Some(session) => {
                let id = messages.next_seq();
                let payload = messages.next(due);
                self.writer.queue(OpCode::Text, session.event(id, payload));
            }
        }
        self.track(Outbound::Message, due);
        Queued::Sent
    }

    /// The connection ends: every message still unanswered is lost. Returns how many.
    pub fn lose_in_flight(&mut self) -> u64 {
        self.messages
            .as_mut()
            .map_or(0, MessageState::lose_in_flight)
    }

    /// Cancels the futures tied to the connection; dropping it closes the socket.
    pub fn release(self, ctx: &mut Context<Client>) {
        ctx.cancel_future(self.reader);
        if let Some(handle) = self.flush_wait {
            ctx.cancel_future(handle);
        }
    }
}

/// What became of an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    Sent,
    /// The send queue was full.
    Dropped,
    /// The run sends no messages.
    Nothing,
}

/// Whether `frame` acks a heartbeat in `mode`: `Some(Some(seq))` a pong carrying our sequence
/// number, `Some(None)` a text ack (it carries none), `None` not an ack.
pub fn ack_of(frame: &Frame, mode: &HeartbeatMode) -> Option<Option<u64>> {
    match (frame, mode) {
        (Frame::Pong(p), HeartbeatMode::Ping) => <[u8; 8]>::try_from(&p[..])
            .ok()
            .map(|seq| Some(u64::from_be_bytes(seq))),
        (Frame::Text(t), HeartbeatMode::Text { ack, .. }) if t[..] == *ack.as_bytes() => Some(None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_pong_with_eight_bytes_acks_in_ping_mode_and_a_text_equal_to_ack_in_text_mode() {
        let text = HeartbeatMode::Text {
            payload: "hb".into(),
            ack: "hb-ack".into(),
        };
        let pong = Frame::Pong(Bytes::copy_from_slice(&7u64.to_be_bytes()));
        assert_eq!(ack_of(&pong, &HeartbeatMode::Ping), Some(Some(7)));
        assert_eq!(ack_of(&pong, &text), None, "a pong is no ack in text mode");
        let short_pong = Frame::Pong(Bytes::from_static(b"x"));
        assert_eq!(ack_of(&short_pong, &HeartbeatMode::Ping), None);
        let ack = Frame::Text(Bytes::from_static(b"hb-ack"));
        assert_eq!(ack_of(&ack, &text), Some(None));
        assert_eq!(ack_of(&ack, &HeartbeatMode::Ping), None);
        let other = Frame::Text(Bytes::from_static(b"news"));
        assert_eq!(ack_of(&other, &text), None);
        assert_eq!(ack_of(&other, &HeartbeatMode::None), None);
    }
}
