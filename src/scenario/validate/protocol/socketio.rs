//! `target.protocol: socketio`: its settings (`target.socketio`), the url (its path becomes the
//! Engine.IO path and query), and what it rules out in `clients:`: Socket.IO has its own
//! heartbeat (the server's pings) and its own handshake (the namespace connect), so
//! `clients.heartbeat` and `clients.on_open` do not apply to it.

use serde_saphyr::Spanned;

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{Clients, HeartbeatMode, SocketIo, TargetUrl};
use crate::scenario::raw::{RawClients, RawHeartbeatMode, RawSocketIo};
use crate::scenario::value::quoted;

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

impl Validator<'_> {
    /// `target.socketio`, and the url: written without a path (but an optional query), its
    /// path becomes `target.socketio.path` with the Engine.IO query. Not the embedded server
    /// (refused before).
    pub(super) fn socketio(
        &self,
        socketio: Option<Spanned<RawSocketIo>>,
        url: &mut TargetUrl,
        url_at: &Spanned<String>,
    ) -> Result<SocketIo, ScenarioError> {
        let endpoint = match url {
            TargetUrl::Embedded => return self.socketio_settings(socketio),
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
        let settings = self.socketio_settings(socketio)?;
        endpoint.path = match query.filter(|q| !q.is_empty()) {
            None => format!("{}?{ENGINE_IO_QUERY}", settings.path),
            Some(query) => format!("{}?{ENGINE_IO_QUERY}&{query}", settings.path),
        };
        Ok(settings)
    }

    fn socketio_settings(
        &self,
        raw: Option<Spanned<RawSocketIo>>,
    ) -> Result<SocketIo, ScenarioError> {
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

    /// What Socket.IO rules out in `clients:`: heartbeats of the clients' own (they answer the
    /// server's pings; `mode: none` is allowed, and the heartbeat is switched off anyway) and
    /// `on_open` frames (the clients join the namespace instead).
    pub(super) fn socketio_fits_clients(&self, clients: &RawClients) -> Result<(), ScenarioError> {
        if let Some(heartbeat) = &clients.heartbeat
            && heartbeat.value.mode != Some(RawHeartbeatMode::None)
        {
            return Err(self.error(
                heartbeat,
                "clients.heartbeat",
                "Socket.IO clients send no heartbeats of their own: they answer the server's \
                 pings (its pingInterval and pingTimeout decide); remove clients.heartbeat or \
                 set mode: none",
            ));
        }
        if let Some(first) = clients.on_open.first() {
            return Err(self.error(
                first,
                "clients.on_open",
                "raw frames do not fit a Socket.IO session: the clients join \
                 target.socketio.namespace themselves (credentials go in target.socketio.auth)",
            ));
        }
        Ok(())
    }
}

/// Socket.IO clients answer the server's pings instead of sending heartbeats, and the server's
/// silence is one deadline (pingInterval + pingTimeout after its last ping), not a count of
/// misses: the first one is fatal.
pub(super) fn server_heartbeat_only(clients: &mut Clients) {
    clients.heartbeat.mode = HeartbeatMode::None;
    clients.heartbeat.max_missed = 1;
}
