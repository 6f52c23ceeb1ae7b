//! What the clients speak inside the WebSocket (`target.protocol`), in two halves: what the
//! run prepares once and every client shares (`AppProtocol`, in `ClientConfig`: graphql-ws's
//! messages, Socket.IO's packets), and where one connection is in its protocol (`AppConn`, in
//! `Conn`). A raw connection carries neither (its frames are the scenario's own).

use std::sync::Arc;
use std::time::Instant;

use super::graphql_ws::{GraphqlConn, Wire};
use super::socketio::{self, Session};
use crate::scenario::Protocol;

/// The application protocol of a run, with what it sends prepared once.
#[derive(Debug, Default)]
pub enum AppProtocol {
    /// Frames as the scenario writes them.
    #[default]
    Raw,
    /// graphql-ws: the messages the client sends (`graphql_ws.rs`).
    GraphqlWs(Wire),
    /// Socket.IO: what every connection's session sends (`socketio.rs`).
    SocketIo(Arc<socketio::Settings>),
}

impl AppProtocol {
    pub fn of(protocol: &Protocol) -> Self {
        match protocol {
            Protocol::Raw => AppProtocol::Raw,
            Protocol::GraphqlWs(settings) => AppProtocol::GraphqlWs(Wire::new(settings)),
            Protocol::SocketIo(settings) => {
                AppProtocol::SocketIo(socketio::Settings::new(settings))
            }
        }
    }

    /// graphql-ws's messages, on a graphql-ws run.
    pub fn graphql_ws(&self) -> Option<&Wire> {
        match self {
            AppProtocol::GraphqlWs(wire) => Some(wire),
            AppProtocol::Raw | AppProtocol::SocketIo(_) => None,
        }
    }

    /// A connection opened at `now` starts its protocol here.
    pub fn new_conn(&self, now: Instant) -> AppConn {
        match self {
            AppProtocol::Raw => AppConn::Raw,
            AppProtocol::GraphqlWs(_) => AppConn::GraphqlWs(GraphqlConn::new(now)),
            AppProtocol::SocketIo(settings) => {
                AppConn::SocketIo(Box::new(Session::new(settings.clone())))
            }
        }
    }
}

/// Where one connection is in its application protocol.
#[derive(Debug)]
pub enum AppConn {
    Raw,
    /// graphql-ws: `connection_init` sent (at the upgrade), acked or not, subscribed or not.
    GraphqlWs(GraphqlConn),
    /// Socket.IO: the session (boxed: a raw connection pays no more than a pointer for it).
    SocketIo(Box<Session>),
}

impl AppConn {
    pub fn graphql_ws(&mut self) -> Option<&mut GraphqlConn> {
        match self {
            AppConn::GraphqlWs(graphql) => Some(graphql),
            AppConn::Raw | AppConn::SocketIo(_) => None,
        }
    }

    pub fn socketio(&mut self) -> Option<&mut Session> {
        match self {
            AppConn::SocketIo(session) => Some(session),
            AppConn::Raw | AppConn::GraphqlWs(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{GraphqlWs, SocketIo};

    #[test]
    fn each_protocol_prepares_its_own_and_starts_each_connection_at_its_beginning() {
        let raw = AppProtocol::of(&Protocol::Raw);
        assert!(raw.graphql_ws().is_none());
        assert!(matches!(raw.new_conn(Instant::now()), AppConn::Raw));

        let graphql = AppProtocol::of(&Protocol::GraphqlWs(GraphqlWs::default()));
        let wire = graphql.graphql_ws().expect("graphql-ws messages");
        assert_eq!(wire.connection_init(), br#"{"type":"connection_init"}"#);
        let t0 = Instant::now();
        let mut conn = graphql.new_conn(t0);
        let state = conn.graphql_ws().expect("a graphql-ws connection");
        assert_eq!(
            (state.init_sent, state.acked, state.subscribed),
            (t0, false, false)
        );
        assert!(conn.socketio().is_none());

        let socketio = AppProtocol::of(&Protocol::SocketIo(SocketIo {
            namespace: "/".into(),
            path: "/socket.io/".into(),
            auth: None,
            event: "echo".into(),
        }));
        assert!(socketio.graphql_ws().is_none());
        let mut conn = socketio.new_conn(t0);
        let session = conn.socketio().expect("a Socket.IO session");
        assert_eq!(session.phase(), socketio::Phase::Opening);
        assert!(conn.graphql_ws().is_none());
    }
}
