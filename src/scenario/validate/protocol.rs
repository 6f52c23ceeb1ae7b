//! `target.protocol` and `target.socketio` checks, and what a protocol asks of `clients:`:
//! Socket.IO has its own heartbeat (the server's pings) and its own handshake (the namespace
//! connect), so `clients.heartbeat` and `clients.on_open` do not apply to it.

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{Clients, HeartbeatMode, Protocol, SocketIo, TargetUrl};
use crate::scenario::raw::{RawHeartbeatMode, RawSocketIo};
use crate::scenario::value::{Word, quoted};

/// The words of `target.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtocolName {
    Raw,
    SocketIo,
}

impl Word for ProtocolName {
    const WORDS: &'static [(&'static str, Self)] =
        &[("raw", Self::Raw), ("socketio", Self::SocketIo)];
}

/// Event names the Socket.IO libraries keep for themselves (emitting one is an error there).
const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The Engine.IO query every Socket.IO connection carries: protocol 4, websocket from the start.
pub const ENGINE_IO_QUERY: &str = "EIO=4&transport=websocket";

/// Where `clients:` said something a protocol may refuse.
#[derive(Debug, Default)]
pub(super) struct ClientKeys {
    /// `clients.heartbeat` and its mode, if given.
    pub heartbeat: Option<(Location, Option<RawHeartbeatMode>)>,
    /// The first `clients.on_open` item, if any.
    pub on_open: Option<Location>,
}

impl Validator<'_> {
    /// `target.protocol` and its settings. For Socket.IO the url's path becomes the Engine.IO
    /// path and query (the url itself must have none but an optional query).
    pub(super) fn protocol(
        &self,
        protocol: Option<Spanned<String>>,
        socketio: Option<Spanned<RawSocketIo>>,
        url: &mut TargetUrl,
        url_at: &Spanned<String>,
    ) -> Result<Protocol, ScenarioError> {
        let name = match &protocol {
            None => ProtocolName::Raw,
            Some(p) => self.value(p, "target.protocol")?,
        };
        if name == ProtocolName::Raw {
            if let Some(settings) = &socketio {
                return Err(self.error(
                    settings,
                    "target.socketio",
                    "settings for Socket.IO clients: set target.protocol: socketio too",
                ));
            }
            return Ok(Protocol::Raw);
        }
        let Some(protocol) = protocol else {
            return Ok(Protocol::Raw); // not reached: socketio is only ever written
        };
        let endpoint = match url {
            TargetUrl::Embedded => {
                return Err(self.error(
                    &protocol,
                    "target.protocol",
                    "the embedded server does not speak Socket.IO: point target.url at a \
                     Socket.IO server (ws://host:port)",
                ));
            }
            TargetUrl::Ws(endpoint) | TargetUrl::Wss(endpoint) => endpoint,
        };
        let query = match endpoint.path.split_once('?') {
            None if endpoint.path == "/" => None,
            Some(("/", query)) => Some(query.to_string()),
            _ => {
                return Err(self.error(
                    url_at,
                    "target.url",
                    format!(
                        "with protocol socketio the path is target.socketio.path and the \
                         namespace target.socketio.namespace: write the url without a path \
                         (ws://host:port, a ?query is kept), found path {}",
                        quoted(&endpoint.path)
                    ),
                ));
            }
        };
        let settings = self.socketio(socketio)?;
        endpoint.path = match query.filter(|q| !q.is_empty()) {
            None => format!("{}?{ENGINE_IO_QUERY}", settings.path),
            Some(query) => format!("{}?{ENGINE_IO_QUERY}&{query}", settings.path),
        };
        Ok(Protocol::SocketIo(settings))
    }

    fn socketio(&self, raw: Option<Spanned<RawSocketIo>>) -> Result<SocketIo, ScenarioError> {
        let raw = raw.map(|r| r.value);
        let (namespace, path, auth, event) = match raw {
            None => (None, None, None, None),
            Some(r) => (r.namespace, r.path, r.auth, r.event),
        };
        let namespace = match namespace {
            None => "/".to_string(),
            Some(ns) => {
                let ok = ns.value.starts_with('/')
                    && !ns.value.contains(',')
                    && !ns.value.chars().any(char::is_control);
                if !ok {
                    return Err(self.error(
                        &ns,
                        "target.socketio.namespace",
                        format!(
                            "expected / or /name without commas or control characters, found {}",
                            quoted(&ns.value)
                        ),
                    ));
                }
                ns.value
            }
        };
        let path = match path {
            None => "/socket.io/".to_string(),
            Some(p) => {
                let ok = p.value.starts_with('/')
                    && p.value
                        .chars()
                        .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%'));
                if !ok {
                    return Err(self.error(
                        &p,
                        "target.socketio.path",
                        format!(
                            "expected a path like /socket.io/ (no spaces, ?, # or %), found {}",
                            quoted(&p.value)
                        ),
                    ));
                }
                // As the Socket.IO clients do: one trailing slash.
                format!("{}/", p.value.trim_end_matches('/'))
            }
        };
        let auth = match auth {
            None => None,
            Some(a) if a.value.is_object() => Some(a.value.to_string()),
            Some(a) => {
                return Err(self.error(
                    &a,
                    "target.socketio.auth",
                    "expected a mapping (sent as the namespace connect's auth object), \
                     like {token: abc}",
                ));
            }
        };
        let event = match event {
            None => "echo".to_string(),
            Some(e) if e.value.is_empty() || RESERVED_EVENTS.contains(&e.value.as_str()) => {
                return Err(self.error(
                    &e,
                    "target.socketio.event",
                    format!(
                        "expected an event name other than {} (Socket.IO keeps those), found {}",
                        RESERVED_EVENTS.join(", "),
                        quoted(&e.value)
                    ),
                ));
            }
            Some(e) => e.value,
        };
        Ok(SocketIo {
            namespace,
            path,
            auth,
            event,
        })
    }

    /// What the protocol asks of `clients:`. Socket.IO clients answer the server's pings
    /// instead of sending heartbeats (so the heartbeat is switched off) and join the namespace
    /// instead of sending `on_open` frames.
    pub(super) fn protocol_and_clients(
        &self,
        protocol: &Protocol,
        keys: &ClientKeys,
        clients: &mut Clients,
    ) -> Result<(), ScenarioError> {
        if *protocol == Protocol::Raw {
            return Ok(());
        }
        if let Some((at, mode)) = keys.heartbeat
            && mode != Some(RawHeartbeatMode::None)
        {
            return Err(self.error_at(
                &at,
                "clients.heartbeat",
                "Socket.IO clients send no heartbeats of their own: they answer the server's \
                 pings (its pingInterval and pingTimeout decide); remove clients.heartbeat or \
                 set mode: none",
            ));
        }
        if let Some(at) = keys.on_open {
            return Err(self.error_at(
                &at,
                "clients.on_open",
                "raw frames do not fit a Socket.IO session: the clients join \
                 target.socketio.namespace themselves (credentials go in target.socketio.auth)",
            ));
        }
        // The server's silence is one deadline (pingInterval + pingTimeout after its last
        // ping), not a count of misses: the first one is fatal.
        clients.heartbeat.mode = HeartbeatMode::None;
        clients.heartbeat.max_missed = 1;
        Ok(())
    }
}
