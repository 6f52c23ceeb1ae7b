//! `target.protocol`: the word itself, the settings of a protocol the scenario does not speak
//! refused (`target.graphql_ws`, `target.socketio`), the embedded server refused for any
//! application protocol, then each protocol's own checks: its settings and what it rules out
//! or switches off in `clients:` (`graphql_ws.rs`, `socketio.rs`).

mod graphql_ws;
mod socketio;

pub use socketio::ENGINE_IO_QUERY;

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{Clients, Protocol, TargetUrl};
use crate::scenario::raw::{RawClients, RawGraphqlWs, RawSocketIo, RawStream};
use crate::scenario::value::Word;

/// The words of `target.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtocolName {
    Raw,
    GraphqlWs,
    SocketIo,
}

impl Word for ProtocolName {
    const WORDS: &'static [(&'static str, Self)] = &[
        (Protocol::RAW, Self::Raw),
        (Protocol::GRAPHQL_WS, Self::GraphqlWs),
        (Protocol::SOCKETIO, Self::SocketIo),
    ];
}

/// The keys of `target:` that choose the application protocol and set it.
pub(super) struct ProtocolKeys {
    pub protocol: Option<Spanned<String>>,
    pub graphql_ws: Option<Spanned<RawGraphqlWs>>,
    pub socketio: Option<Spanned<RawSocketIo>>,
}

impl Validator<'_> {
    /// `target.protocol` with its settings. `subprotocols` are the ones the file lists: with
    /// graphql-ws only its own may be among them (it is offered anyway); with Socket.IO the
    /// url (`url_at` as written) gets the Engine.IO path and query.
    pub(super) fn protocol(
        &self,
        keys: ProtocolKeys,
        url: &mut TargetUrl,
        url_at: &Spanned<String>,
        subprotocols: &[Spanned<String>],
    ) -> Result<Protocol, ScenarioError> {
        let ProtocolKeys {
            protocol,
            graphql_ws,
            socketio,
        } = keys;
        let name = match &protocol {
            None => ProtocolName::Raw,
            Some(p) => self.value(p, "target.protocol")?,
        };
        if let Some(settings) = &graphql_ws
            && name != ProtocolName::GraphqlWs
        {
            return Err(self.error(
                settings,
                "target.graphql_ws",
                "applies only with target.protocol: graphql-ws",
            ));
        }
        if let Some(settings) = &socketio
            && name != ProtocolName::SocketIo
        {
            return Err(self.error(
                settings,
                "target.socketio",
                "settings for Socket.IO clients: set target.protocol: socketio too",
            ));
        }
        let Some(written) = &protocol else {
            return Ok(Protocol::Raw);
        };
        if name != ProtocolName::Raw && *url == TargetUrl::Embedded {
            let advice = if name == ProtocolName::GraphqlWs {
                "graphql-ws: set target.url to the ws:// or wss:// address of a GraphQL server \
                 (target.command can start one)"
            } else {
                "Socket.IO: point target.url at a Socket.IO server (ws://host:port)"
            };
            return Err(self.error(
                written,
                "target.protocol",
                format!("the embedded server does not speak {advice}"),
            ));
        }
        match name {
            ProtocolName::Raw => Ok(Protocol::Raw),
            ProtocolName::GraphqlWs => self
                .graphql_ws(graphql_ws, subprotocols)
                .map(Protocol::GraphqlWs),
            ProtocolName::SocketIo => self.socketio(socketio, url, url_at).map(Protocol::SocketIo),
        }
    }

    /// What the protocol rules out in `clients:` (still as written, so errors point at the
    /// file). `protocol_at` is where `target.protocol` is written.
    pub(super) fn protocol_fits_clients(
        &self,
        protocol: &Protocol,
        protocol_at: &Location,
        clients: &RawClients,
        stream: Option<&Spanned<RawStream>>,
    ) -> Result<(), ScenarioError> {
        match protocol {
            Protocol::Raw => Ok(()),
            Protocol::GraphqlWs(settings) => {
                self.graphql_ws_fits_clients(settings, protocol_at, clients, stream)
            }
            Protocol::SocketIo(_) => self.socketio_fits_clients(clients),
        }
    }
}

/// What the protocol switches off in the checked `clients:` (Socket.IO: the clients' own
/// heartbeat).
pub(super) fn protocol_shapes_clients(protocol: &Protocol, clients: &mut Clients) {
    if let Protocol::SocketIo(_) = protocol {
        socketio::server_heartbeat_only(clients);
    }
}
