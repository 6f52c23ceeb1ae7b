//! A graphql-ws connection as the actor runs it: `connection_init` right after the upgrade
//! (its `connection_ack` awaited until `connect_timeout`, the `Answer` deadline), the
//! connection established on the ack (heartbeats start, the subscription goes out), then each
//! message from the server dispatched: `pong` acks a heartbeat, `ping` is answered, `next` is a
//! pushed message, `error`/`complete` end the subscription, anything else closes with 4400.
//! What a message is, and what the client sends, is in `client/graphql_ws.rs`. Part of the
//! client actor, kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, OpCode};

use super::{Cause, Client, State};
use crate::client::clock::Timer;
use crate::client::graphql_ws::{self, Message, PONG};
use crate::client::live::Conn;
use crate::client::stream;
use crate::client::tally;

/// The close code for a message that is not graphql-ws (the protocol's "invalid message").
const INVALID_MESSAGE: u16 = 4400;

impl Client {
    /// Sends `connection_init` on a connection just opened; the ack must come within
    /// `connect_timeout`.
    pub(super) fn send_connection_init(&mut self, now: Instant) {
        let Some(wire) = self.cfg.app.graphql_ws() else {
            return;
        };
        let State::Open(conn) = &mut self.state else {
            return;
        };
        conn.writer.queue(OpCode::Text, wire.connection_init());
        self.deadlines
            .set(Timer::Answer, now + self.cfg.connect_timeout);
    }

    /// A data frame (or a WebSocket pong, which graphql-ws does not use) on a graphql-ws
    /// connection.
    pub(super) fn on_graphql_frame(&mut self, frame: Frame, now: Instant, ctx: &mut Context<Self>) {
        let open = self.state.is_open();
        let cfg = &*self.cfg;
        let (Some(wire), Some(conn)) = (cfg.app.graphql_ws(), self.state.conn()) else {
            return;
        };
        let Some(graphql) = conn.app.graphql_ws() else {
            return;
        };
        // graphql-ws messages are text: a binary frame is no message of it.
        let data = match frame {
            Frame::Text(data) => Some(data),
            Frame::Binary(_) => None,
            _ => return,
        };
        let message = data
            .as_deref()
            .map_or(Message::Invalid, |text| graphql_ws::read(wire, text));
        if !graphql.acked {
            match message {
                Message::ConnectionAck => {
                    graphql.acked = true;
                    tally::connection_acked(now.saturating_duration_since(graphql.init_sent));
                    self.deadlines.clear(Timer::Answer);
                    if !open {
                        return;
                    }
                    if let Some(subscribe) = wire.subscribe() {
                        graphql.subscribed = true;
                        conn.writer.queue(OpCode::Text, subscribe);
                    }
                    self.established(now);
                    self.flush(ctx);
                }
                Message::Ping => self.answer_ping(ctx),
                Message::Pong { .. } => {}
                other => {
                    warn_no_ack_once(&other);
                    if open {
                        close_invalid(conn);
                    }
                    self.lost(Cause::NoConnectionAck, ctx);
                }
            }
            return;
        }
        match message {
            Message::ConnectionAck | Message::OtherOperation => {}
            Message::Ping => self.answer_ping(ctx),
            Message::Pong { seq } => {
                let rtt = conn.heartbeat.acked(seq, now);
                let interval = cfg.heartbeat.interval;
                self.disarm();
                tally::heartbeat_acked(rtt, interval);
            }
            Message::Next { result } if graphql.subscribed => {
                let followed = cfg.stream.as_ref().map(|s| {
                    stream::follow(
                        s,
                        &mut conn.stream,
                        &mut self.stream,
                        true,
                        result.unwrap_or_default(),
                    )
                });
                tally::pushed(followed);
            }
            Message::Ended { complete } if graphql.subscribed => {
                graphql.subscribed = false;
                tally::subscription_ended(complete);
            }
            Message::Next { .. } | Message::Ended { .. } => {}
            Message::NotFromServer(_) => self.invalid_message("a client's message", ctx),
            Message::Invalid => self.invalid_message("a message that is not graphql-ws", ctx),
        }
    }

    /// The server's `ping` on the open connection: a `pong` at once.
    /// (Not after our close frame: nothing is sent then.)
    fn answer_ping(&mut self, ctx: &mut Context<Self>) {
        if let Some(conn) = self.live() {
            tally::server_pinged();
            conn.writer.queue(OpCode::Text, PONG);
            self.flush(ctx);
        }
    }

    /// After the ack, a message the protocol does not allow from a server: close 4400 and
    /// count a protocol error.
    fn invalid_message(&mut self, what: &str, ctx: &mut Context<Self>) {
        tracing::debug!(client = self.id, what, "graphql-ws: invalid message");
        if let Some(conn) = self.live() {
            close_invalid(conn);
        }
        self.lost(Cause::ProtocolError, ctx);
    }
}

/// Ends the subscription before a manual close, so the server stops its source stream.
pub(super) fn complete_before_close(conn: &mut Conn, wire: &graphql_ws::Wire) {
    let (Some(graphql), Some(complete)) = (conn.app.graphql_ws(), wire.complete()) else {
        return;
    };
    if std::mem::take(&mut graphql.subscribed) {
        conn.writer.queue(OpCode::Text, complete);
    }
}

fn close_invalid(conn: &mut Conn) {
    conn.writer
        .queue_close(Some(CloseReason::from(CloseCode::from(INVALID_MESSAGE))));
    let _ = conn.writer.try_flush();
}

/// Says once per run why connections end unacknowledged: usually a server that does not speak
/// graphql-transport-ws (an echo server sends `connection_init` back).
fn warn_no_ack_once(message: &Message) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        let got = match message {
            // The server's text, cut: a hostile server could make it megabytes.
            Message::NotFromServer(kind) => {
                let cut = &kind[..kind.len().min(64)];
                format!("a {} message", String::from_utf8_lossy(cut))
            }
            _ => "a message that is not graphql-ws".to_string(),
        };
        tracing::warn!(
            "graphql-ws: the server answered connection_init with {got} instead of \
             connection_ack: does it speak graphql-transport-ws? (counted as \
             disconnects_no_connection_ack)"
        );
    });
}
