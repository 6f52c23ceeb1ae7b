//! `target.protocol: socketio`: what the model gets (the Engine.IO url, the settings, the
//! heartbeat switched off) and the error rows of its keys.

use super::errors::{Case, Says, case, exactly, replacing};
use super::*;

/// MINIMAL with a ws:// url and `protocol: socketio` (lines 4 and 5), then `extra` target keys.
fn socketio(extra: &str) -> String {
    replacing(
        "  url: embedded\n",
        &format!("  url: ws://h:1\n  protocol: socketio\n{extra}"),
    )
}

#[test]
fn raw_is_the_default_and_leaves_the_url_as_written() {
    let s = ok(&MINIMAL.replace("url: embedded", "url: ws://h:1/chat?x=1"));
    assert_eq!(s.target.protocol, Protocol::Raw);
    assert!(matches!(&s.target.url, TargetUrl::Ws(u) if u.path == "/chat?x=1"));
    let explicit = ok(&MINIMAL.replace("url: embedded", "url: embedded\n  protocol: raw"));
    assert_eq!(explicit.target.protocol, Protocol::Raw);
    assert!(explicit.clients.heartbeat.mode == HeartbeatMode::Ping);
}

#[test]
fn socketio_connects_to_the_engine_io_path_and_switches_the_heartbeat_off() {
    let s = ok(&socketio(""));
    assert_eq!(
        s.target.protocol,
        Protocol::SocketIo(SocketIo {
            namespace: "/".into(),
            path: "/socket.io/".into(),
            auth: None,
            event: "echo".into(),
        })
    );
    let TargetUrl::Ws(url) = &s.target.url else {
        panic!("a ws:// url: {:?}", s.target.url)
    };
    assert_eq!(url.path, format!("/socket.io/?{ENGINE_IO_QUERY}"));
    assert_eq!(s.clients.heartbeat.mode, HeartbeatMode::None);

    let text = socketio(
        "  socketio: {namespace: /chat, path: /io, auth: {token: abc}, event: ping-pong}\n",
    )
    .replace("ws://h:1", "wss://h:2/?room=7")
        + "  heartbeat: {mode: none, max_missed: 3}\n";
    let set = ok(&text);
    assert_eq!(
        set.target.protocol.socketio(),
        Some(&SocketIo {
            namespace: "/chat".into(),
            path: "/io/".into(),
            auth: Some(r#"{"token":"abc"}"#.into()),
            event: "ping-pong".into(),
        })
    );
    let TargetUrl::Wss(url) = &set.target.url else {
        panic!("a wss:// url: {:?}", set.target.url)
    };
    assert_eq!(url.path, "/io/?EIO=4&transport=websocket&room=7");
    assert_eq!(set.clients.heartbeat.mode, HeartbeatMode::None);
    assert_eq!(
        set.clients.heartbeat.max_missed, 1,
        "no ping in time is fatal at once"
    );
}

/// The error rows of `target.protocol`, `target.socketio` and what Socket.IO refuses in
/// `clients:`.
pub(super) fn rows() -> Vec<Case> {
    vec![
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h:1\n  protocol: sockets\n",
            ),
            (5, 13),
            exactly(
                "target.protocol: expected one of raw, graphql-ws, socketio, found \"sockets\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  protocol: socketio\n",
            ),
            (5, 13),
            exactly(
                "target.protocol: the embedded server does not speak Socket.IO: point \
                 target.url at a Socket.IO server (ws://host:port)",
            ),
        ),
        case(
            socketio("").replace("ws://h:1", "ws://h:1/socket.io/"),
            (4, 8),
            exactly(
                "target.url: with protocol socketio the path is target.socketio.path and the \
                 namespace target.socketio.namespace: write the url without a path \
                 (ws://host:port, a ?query is kept), found path \"/socket.io/\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h:1\n  socketio: {event: x}\n",
            ),
            (5, 13),
            exactly(
                "target.socketio: settings for Socket.IO clients: set target.protocol: socketio too",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h:1\n  protocol: graphql-ws\n  socketio: {event: x}\n",
            ),
            (6, 13),
            exactly(
                "target.socketio: settings for Socket.IO clients: set target.protocol: socketio too",
            ),
        ),
        case(
            socketio("  socketio: {room: x}\n"),
            (6, 14),
            Says::StartsWith("unknown field `room`, expected one of namespace, path, auth, event"),
        ),
        case(
            socketio("  socketio: {namespace: chat}\n"),
            (6, 25),
            exactly(
                "target.socketio.namespace: expected / or /name without commas or control \
                 characters, found \"chat\"",
            ),
        ),
        case(
            socketio("  socketio: {namespace: \"/a,b\"}\n"),
            (6, 25),
            Says::StartsWith("target.socketio.namespace: expected / or /name"),
        ),
        case(
            socketio("  socketio: {path: \"/io?x=1\"}\n"),
            (6, 20),
            exactly(
                "target.socketio.path: expected a path like /socket.io/ (no spaces, ?, # or \
                 %), found \"/io?x=1\"",
            ),
        ),
        case(
            socketio("  socketio: {path: io}\n"),
            (6, 20),
            Says::StartsWith("target.socketio.path: expected a path like /socket.io/"),
        ),
        case(
            socketio("  socketio: {auth: secret}\n"),
            (6, 20),
            exactly(
                "target.socketio.auth: expected a mapping (sent as the namespace connect's \
                 auth object), like {token: abc}",
            ),
        ),
        case(
            socketio("  socketio: {auth: [1, 2]}\n"),
            (6, 20),
            Says::StartsWith("target.socketio.auth: expected a mapping"),
        ),
        case(
            socketio("  socketio: {event: disconnect}\n"),
            (6, 21),
            exactly(
                "target.socketio.event: expected an event name other than connect, \
                 connect_error, disconnect, disconnecting, newListener, removeListener \
                 (Socket.IO keeps those), found \"disconnect\"",
            ),
        ),
        case(
            socketio("  socketio: {event: \"\"}\n"),
            (6, 21),
            Says::StartsWith("target.socketio.event: expected an event name other than"),
        ),
        case(
            socketio("") + "  heartbeat: {interval: 1s}\n",
            (8, 14),
            exactly(
                "clients.heartbeat: Socket.IO clients send no heartbeats of their own: they \
                 answer the server's pings (its pingInterval and pingTimeout decide); remove \
                 clients.heartbeat or set mode: none",
            ),
        ),
        case(
            socketio("") + "  heartbeat: {mode: text}\n",
            (8, 14),
            Says::StartsWith("clients.heartbeat: Socket.IO clients send no heartbeats"),
        ),
        case(
            socketio("") + "  on_open:\n    - {text: hello}\n",
            (9, 7),
            exactly(
                "clients.on_open: raw frames do not fit a Socket.IO session: the clients join \
                 target.socketio.namespace themselves (credentials go in \
                 target.socketio.auth)",
            ),
        ),
    ]
}
