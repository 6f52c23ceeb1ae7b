//! Socket.IO (protocol 5) over Engine.IO (protocol 4), websocket transport, as a client speaks
//! it: one packet per text frame. The server opens with `0{"sid",...,"pingInterval",
//! "pingTimeout"}`; the client joins its namespace (`40`, `40/ns,`, with the auth object) and
//! waits for the namespace's `40{...}` (`44{...}`: refused). The heartbeat is the server's: it
//! sends ping `2`, the client answers pong `3` at once and declares the server dead when no ping
//! came within pingInterval + pingTimeout of the last one (or of the open packet). Application
//! messages are events with an ack id (`42<id>["event","payload"]`, answered `43<id>[...]`);
//! an event from the server without an ack id is a pushed message, read through its first
//! argument.
//!
//! This module only decides what a frame means and builds what goes out; the actor
//! (`actor/socketio.rs`) sends, counts and arms its timers.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scenario::SocketIo;

/// What every connection of a run sends, prepared once.
#[derive(Debug)]
pub struct Settings {
    /// `/` or `/name`.
    namespace: String,
    /// `40` (+ `/ns,`) (+ auth JSON).
    connect: Vec<u8>,
    /// `41` (+ `/ns,`).
    disconnect: Vec<u8>,
    /// `42` (+ `/ns,`): an event, its ack id follows.
    event_prefix: Vec<u8>,
    /// `43` (+ `/ns,`): an ack, its id follows.
    ack_prefix: Vec<u8>,
    /// The event name as a JSON string, quotes included.
    event_json: Vec<u8>,
}

impl Settings {
    pub fn new(settings: &SocketIo) -> Arc<Self> {
        let namespaced = |kind: &str| {
            let mut packet = kind.as_bytes().to_vec();
            if settings.namespace != "/" {
                packet.extend_from_slice(settings.namespace.as_bytes());
                packet.push(b',');
            }
            packet
        };
        let mut connect = namespaced("40");
        if let Some(auth) = &settings.auth {
            connect.extend_from_slice(auth.as_bytes());
        }
        let event_json = serde_json::Value::from(settings.event.as_str())
            .to_string()
            .into_bytes();
        Arc::new(Self {
            namespace: settings.namespace.clone(),
            connect,
            disconnect: namespaced("41"),
            event_prefix: namespaced("42"),
            ack_prefix: namespaced("43"),
            event_json,
        })
    }

    /// The namespace connect packet.
    pub fn connect_packet(&self) -> &[u8] {
        &self.connect
    }

    /// The namespace disconnect packet (a manual close sends it before the close frame).
    pub fn disconnect_packet(&self) -> &[u8] {
        &self.disconnect
    }
}

/// Where a session is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the Engine.IO open packet.
    Opening,
    /// The namespace connect is out; waiting for the namespace's answer.
    Joining,
    /// In the namespace: events flow.
    Joined,
}

/// The server's heartbeat, from its open packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHeartbeat {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

/// What a frame from the server asks of the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// The Engine.IO session is open: send the namespace connect.
    Join(ServerHeartbeat),
    /// The namespace answered: the connection is established.
    Joined,
    /// A ping: answer `3` with this payload at once. `gap`: since the previous ping.
    Pong {
        payload: &'a [u8],
        gap: Option<Duration>,
    },
    /// The ack of our event with this id.
    Acked(u64),
    /// An event from the server: its first argument (JSON text, `None` when it has none), and
    /// the ack id it asks to be answered with.
    Pushed {
        argument: Option<&'a [u8]>,
        ack: Option<u64>,
    },
    /// The namespace refused the connect (`44`), with the server's message.
    Refused(&'a [u8]),
    /// The server closed the session (`1`) or the namespace (`41`).
    Closed,
    /// Nothing to do (a noop, another namespace's packet, a binary attachment).
    Ignored,
    /// Not Socket.IO (or not at this point of the session): why.
    Invalid(&'static str),
}

/// One connection's Socket.IO session.
#[derive(Debug)]
pub struct Session {
    settings: Arc<Settings>,
    phase: Phase,
    heartbeat: Option<ServerHeartbeat>,
    /// When the last ping (or the open packet) arrived: the server is dead once
    /// `ping_interval + ping_timeout` pass after it.
    last_sign: Option<Instant>,
    last_ping: Option<Instant>,
    /// Reused for every outgoing event and ack.
    frame: Vec<u8>,
}

impl Session {
    pub fn new(settings: Arc<Settings>) -> Self {
        Self {
            settings,
            phase: Phase::Opening,
            heartbeat: None,
            last_sign: None,
            last_ping: None,
            frame: Vec::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// When the server counts as dead if no ping comes first (`None` before the open packet).
    pub fn dead_at(&self) -> Option<Instant> {
        let heartbeat = self.heartbeat?;
        Some(self.last_sign? + heartbeat.ping_interval + heartbeat.ping_timeout)
    }

    /// What the text frame `text`, arrived at `now`, means.
    pub fn on_text<'a>(&mut self, text: &'a [u8], now: Instant) -> Action<'a> {
        let Some((&kind, data)) = text.split_first() else {
            return Action::Invalid("an empty frame is no Engine.IO packet");
        };
        match (kind, self.phase) {
            (b'0', Phase::Opening) => match open_heartbeat(data) {
                Some(heartbeat) => {
                    self.heartbeat = Some(heartbeat);
                    self.last_sign = Some(now);
                    self.phase = Phase::Joining;
                    Action::Join(heartbeat)
                }
                None => Action::Invalid("the open packet has no pingInterval and pingTimeout"),
            },
            (_, Phase::Opening) => Action::Invalid("the first frame is no Engine.IO open packet"),
            (b'0', _) => Action::Invalid("a second open packet"),
            (b'1', _) => Action::Closed,
            (b'2', _) => {
                let gap = self
                    .last_ping
                    .map(|last| now.saturating_duration_since(last));
                self.last_ping = Some(now);
                self.last_sign = Some(now);
                Action::Pong { payload: data, gap }
            }
            (b'3' | b'5' | b'6', _) => Action::Ignored,
            (b'4', _) => self.on_message(data),
            _ => Action::Invalid("an unknown Engine.IO packet type"),
        }
    }

    /// A Socket.IO packet (an Engine.IO message's data).
    fn on_message<'a>(&mut self, packet: &'a [u8]) -> Action<'a> {
        let Some((&kind, rest)) = packet.split_first() else {
            return Action::Invalid("an empty Socket.IO packet");
        };
        let rest = match kind {
            // Binary packets: `<attachments>-` first; their attachments follow as binary frames.
            b'5' | b'6' => match rest.iter().position(|b| *b == b'-') {
                Some(dash) => &rest[dash + 1..],
                None => return Action::Invalid("a binary packet without its attachment count"),
            },
            _ => rest,
        };
        let (namespace, rest) = split_namespace(rest);
        if namespace != self.settings.namespace.as_bytes() {
            return Action::Ignored;
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (id, json) = rest.split_at(digits);
        let id = std::str::from_utf8(id)
            .ok()
            .and_then(|d| d.parse::<u64>().ok());
        match (kind, self.phase) {
            (b'0', Phase::Joining) => {
                self.phase = Phase::Joined;
                Action::Joined
            }
            (b'4', Phase::Joining | Phase::Joined) => Action::Refused(json),
            (b'1', _) => Action::Closed,
            (_, Phase::Joining) => Action::Invalid("a packet before the namespace answered"),
            (b'2', _) => Action::Pushed {
                argument: first_argument(json),
                ack: id,
            },
            (b'5', _) => Action::Pushed {
                argument: None,
                ack: id,
            },
            (b'3' | b'6', _) => match id {
                Some(id) => Action::Acked(id),
                None => Action::Invalid("an ack without its id"),
            },
            (b'0', _) => Action::Ignored,
            _ => Action::Invalid("an unknown Socket.IO packet type"),
        }
    }

    /// `42[/ns,]<id>["<event>","<payload>"]`: an event asking for an ack. `payload` must need no
    /// JSON escaping (the message payloads are hex digits and dots).
    pub fn event(&mut self, id: u64, payload: &[u8]) -> &[u8] {
        self.frame.clear();
        self.frame.extend_from_slice(&self.settings.event_prefix);
        let _ = write!(self.frame, "{id}");
        self.frame.push(b'[');
        self.frame.extend_from_slice(&self.settings.event_json);
        self.frame.extend_from_slice(b",\"");
        self.frame.extend_from_slice(payload);
        self.frame.extend_from_slice(b"\"]");
        &self.frame
    }

    /// `43[/ns,]<id>[]`: the (empty) answer to a server event that asked for an ack.
    pub fn ack(&mut self, id: u64) -> &[u8] {
        self.frame.clear();
        self.frame.extend_from_slice(&self.settings.ack_prefix);
        let _ = write!(self.frame, "{id}[]");
        &self.frame
    }

    /// `3` + the ping's payload.
    pub fn pong(&mut self, payload: &[u8]) -> &[u8] {
        self.frame.clear();
        self.frame.push(b'3');
        self.frame.extend_from_slice(payload);
        &self.frame
    }
}

/// `pingInterval` and `pingTimeout` (milliseconds) of an open packet's JSON.
fn open_heartbeat(json: &[u8]) -> Option<ServerHeartbeat> {
    let open: serde_json::Value = serde_json::from_slice(json).ok()?;
    let ms = |key: &str| open.get(key)?.as_u64().map(Duration::from_millis);
    Some(ServerHeartbeat {
        ping_interval: ms("pingInterval")?,
        ping_timeout: ms("pingTimeout")?,
    })
}

/// The packet's namespace (`/` when none is written) and what follows its comma.
fn split_namespace(rest: &[u8]) -> (&[u8], &[u8]) {
    if rest.first() != Some(&b'/') {
        return (b"/", rest);
    }
    match rest.iter().position(|b| *b == b',') {
        Some(comma) => (&rest[..comma], &rest[comma + 1..]),
        None => (rest, &[]),
    }
}

/// The first argument of an event's JSON array `["name", arg, ...]`, as JSON text.
fn first_argument(array: &[u8]) -> Option<&[u8]> {
    let start = skip_space(array, 0);
    if array.get(start) != Some(&b'[') {
        return None;
    }
    let name_start = skip_space(array, start + 1);
    let name_end = value_end(array, name_start)?;
    let comma = skip_space(array, name_end);
    if array.get(comma) != Some(&b',') {
        return None;
    }
    let arg_start = skip_space(array, comma + 1);
    let arg_end = value_end(array, arg_start)?;
    Some(array[arg_start..arg_end].trim_ascii_end())
}

fn skip_space(json: &[u8], mut at: usize) -> usize {
    while json.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Where the JSON value starting at `start` ends: past its closing quote or bracket, or at the
/// first `,`, `]` or `}` outside it for a number or literal.
fn value_end(json: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in json.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return (i > start).then_some(i),
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' if depth == 0 => return (i > start).then_some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(namespace: &str, auth: Option<&str>) -> Arc<Settings> {
        Settings::new(&SocketIo {
            namespace: namespace.into(),
            path: "/socket.io/".into(),
            auth: auth.map(String::from),
            event: "echo".into(),
        })
    }

    const OPEN: &[u8] =
        br#"0{"sid":"a1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#;

    fn joined(namespace: &str) -> (Session, Instant) {
        let mut session = Session::new(settings(namespace, None));
        let t0 = Instant::now();
        assert!(matches!(session.on_text(OPEN, t0), Action::Join(_)));
        let answer = if namespace == "/" {
            "40{\"sid\":\"b2\"}".to_string()
        } else {
            format!("40{namespace},{{\"sid\":\"b2\"}}")
        };
        assert_eq!(session.on_text(answer.as_bytes(), t0), Action::Joined);
        (session, t0)
    }

    #[test]
    fn the_open_packet_gives_the_heartbeat_and_the_namespace_answer_joins() {
        let mut session = Session::new(settings("/", Some(r#"{"token":"x"}"#)));
        assert_eq!(session.settings().connect_packet(), br#"40{"token":"x"}"#);
        assert_eq!(session.settings().disconnect_packet(), b"41");
        let t0 = Instant::now();
        assert_eq!(session.dead_at(), None);
        let heartbeat = ServerHeartbeat {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
        };
        assert_eq!(session.on_text(OPEN, t0), Action::Join(heartbeat));
        assert_eq!(session.phase(), Phase::Joining);
        assert_eq!(session.dead_at(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(session.on_text(b"40{\"sid\":\"s\"}", t0), Action::Joined);
        assert_eq!(session.phase(), Phase::Joined);
    }

    #[test]
    fn anything_but_an_open_packet_first_is_invalid() {
        for first in [&b"hello"[..], b"", b"2", b"0{\"sid\":\"x\"}", b"0not json"] {
            let mut session = Session::new(settings("/", None));
            assert!(
                matches!(session.on_text(first, Instant::now()), Action::Invalid(_)),
                "{first:?}"
            );
        }
        let (mut session, t0) = joined("/");
        assert!(matches!(session.on_text(OPEN, t0), Action::Invalid(_)));
        assert!(matches!(session.on_text(b"9", t0), Action::Invalid(_)));
    }

    #[test]
    fn each_ping_is_answered_and_moves_the_deadline_and_its_gap_is_measured() {
        let (mut session, t0) = joined("/");
        let ms = Duration::from_millis;
        assert_eq!(
            session.on_text(b"2", t0 + ms(300)),
            Action::Pong {
                payload: b"",
                gap: None
            }
        );
        assert_eq!(session.dead_at(), Some(t0 + ms(800)));
        assert_eq!(
            session.on_text(b"2", t0 + ms(610)),
            Action::Pong {
                payload: b"",
                gap: Some(ms(310))
            }
        );
        assert_eq!(session.dead_at(), Some(t0 + ms(1110)));
        assert_eq!(session.pong(b"probe"), b"3probe");
        assert_eq!(session.on_text(b"6", t0), Action::Ignored);
        assert_eq!(session.on_text(b"1", t0), Action::Closed);
    }

    #[test]
    fn a_refused_namespace_and_a_packet_before_the_answer() {
        let mut session = Session::new(settings("/admin", None));
        assert_eq!(session.settings().connect_packet(), b"40/admin,");
        let t0 = Instant::now();
        session.on_text(OPEN, t0);
        assert!(matches!(
            session.on_text(b"42/admin,[\"x\"]", t0),
            Action::Invalid(_)
        ));
        assert_eq!(
            session.on_text(b"44/admin,{\"message\":\"no\"}", t0),
            Action::Refused(b"{\"message\":\"no\"}")
        );
        assert_eq!(
            session.on_text(b"40{\"sid\":\"other namespace\"}", t0),
            Action::Ignored
        );
    }

    #[test]
    fn events_carry_an_ack_id_and_acks_are_matched_by_it() {
        let (mut session, t0) = joined("/");
        assert_eq!(session.event(7, b"00ab.."), br#"427["echo","00ab.."]"#);
        assert_eq!(session.on_text(br#"437["00ab.."]"#, t0), Action::Acked(7));
        assert!(matches!(session.on_text(b"43[]", t0), Action::Invalid(_)));
        let (mut chat, t0) = joined("/chat");
        assert_eq!(chat.event(12, b"x"), br#"42/chat,12["echo","x"]"#);
        assert_eq!(chat.on_text(br#"43/chat,12["x"]"#, t0), Action::Acked(12));
        assert_eq!(chat.on_text(br#"4312["x"]"#, t0), Action::Ignored);
        assert_eq!(chat.ack(3), b"43/chat,3[]");
        assert_eq!(chat.on_text(b"41/chat,", t0), Action::Closed);
    }

    #[test]
    fn a_server_event_is_pushed_with_its_first_argument() {
        let (mut session, t0) = joined("/");
        assert_eq!(
            session.on_text(br#"42["tick",{"seq":5,"s":"a,]"},2]"#, t0),
            Action::Pushed {
                argument: Some(br#"{"seq":5,"s":"a,]"}"#),
                ack: None
            }
        );
        assert_eq!(
            session.on_text(br#"429["tick", 17 ]"#, t0),
            Action::Pushed {
                argument: Some(b"17"),
                ack: Some(9)
            }
        );
        assert_eq!(
            session.on_text(br#"42["tick"]"#, t0),
            Action::Pushed {
                argument: None,
                ack: None
            }
        );
        assert_eq!(
            session.on_text(br#"451-["file",{"_placeholder":true,"num":0}]"#, t0),
            Action::Pushed {
                argument: None,
                ack: None
            }
        );
        assert_eq!(
            first_argument(br#"["a\"b",[1,[2]],3]"#),
            Some(&b"[1,[2]]"[..])
        );
        assert_eq!(
            first_argument(b"[\"a\",\"x\\\"y\"]"),
            Some(&b"\"x\\\"y\""[..])
        );
        assert_eq!(first_argument(b"[\"a\","), None);
        assert_eq!(first_argument(b"{}"), None);
    }
}
