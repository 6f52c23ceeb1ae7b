//! The actor's transitions that differ by application protocol (`client/app.rs`), dispatched in
//! one place: how a connection starts (raw: `on_open`; graphql-ws: `connection_init`;
//! Socket.IO: waiting for the open packet to join the namespace), why it is lost when that
//! start is not answered within `connect_timeout`, and what a manual close says before its
//! close frame. Part of the client actor, kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use super::{Cause, Client, graphql_ws, socketio};
use crate::client::app::AppProtocol;
use crate::client::live::Conn;

impl Client {
    /// A connection just opened starts its protocol; it is established (heartbeats and
    /// messages begin) once all `on_open` is out and answered, once graphql-ws's
    /// `connection_ack` came, or once the Socket.IO namespace answered. Each start has
    /// `connect_timeout` (the `Answer` deadline).
    pub(super) fn start_app(&mut self, now: Instant) {
        match &self.cfg.app {
            AppProtocol::Raw => self.send_on_open(0, now),
            AppProtocol::GraphqlWs(_) => self.send_connection_init(now),
            AppProtocol::SocketIo(_) => self.socketio_opened(now),
        }
    }

    /// Why a connection whose start was not answered in time is lost.
    pub(super) fn unanswered_cause(&mut self) -> Cause {
        match &self.cfg.app {
            AppProtocol::Raw => Cause::HandshakeRejected,
            // graphql-ws has no `on_open`: its awaited answer is the `connection_ack`.
            AppProtocol::GraphqlWs(_) => Cause::NoConnectionAck,
            AppProtocol::SocketIo(_) => self.socketio_unanswered_cause(),
        }
    }
}

/// Before a manual close's close frame: graphql-ws completes its running subscription (so the
/// server stops its source stream), Socket.IO leaves the namespace (`41`).
pub(super) fn before_manual_close(conn: &mut Conn, app: &AppProtocol) {
    match app {
        AppProtocol::Raw => {}
        AppProtocol::GraphqlWs(wire) => graphql_ws::complete_before_close(conn, wire),
        AppProtocol::SocketIo(_) => socketio::leave_namespace(conn),
    }
}
