//! `target:` checks: the URL, extra headers (through the HTTP stack's own `HeaderName` and
//! `HeaderValue` parsers), subprotocols and the command of a managed server.

use actix_http::header::{HeaderName, HeaderValue};

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{Target, TargetCommand, TargetUrl};
use crate::scenario::raw::{RawCommand, RawTarget};
use crate::scenario::url::parse_url;
use crate::scenario::value::{first_offending, quoted};

impl Validator<'_> {
    pub(super) fn target(&self, raw: RawTarget) -> Result<Target, ScenarioError> {
        let url = parse_url(&raw.url.value).map_err(|m| self.error(&raw.url, "target.url", m))?;

        let mut headers = Vec::with_capacity(raw.headers.0.len());
        for (name, value) in raw.headers.0 {
            let path = format!("target.headers.{}", name.value);
            if HeaderName::from_bytes(name.value.as_bytes()).is_err() {
                return Err(self.error(
                    &name,
                    "target.headers",
                    format!(
                        "expected a header name made of letters, digits and !#$%&'*+-.^_`|~, \
                         found {} (the name is not shown: it may hold a pasted header value)",
                        first_offending(&name.value, |c| !is_token_char(c))
                    ),
                ));
            }
            let lower = name.value.to_ascii_lowercase();
            if lower == "sec-websocket-protocol" {
                return Err(self.error(
                    &name,
                    &path,
                    "set subprotocols with target.subprotocols, not as a header",
                ));
            }
            if matches!(
                lower.as_str(),
                "host"
                    | "connection"
                    | "upgrade"
                    | "sec-websocket-key"
                    | "sec-websocket-version"
                    | "sec-websocket-extensions"
            ) {
                return Err(self.error(
                    &name,
                    &path,
                    "this header is set by the WebSocket handshake itself and cannot be overridden",
                ));
            }
            if HeaderValue::from_str(&value.value).is_err() {
                return Err(self.error(
                    &value,
                    &path,
                    format!(
                        "expected a header value without line breaks or control characters, \
                         found {} (the value is not shown: it may be a secret)",
                        first_offending(&value.value, breaks_header_value)
                    ),
                ));
            }
            headers.push((name.value, value.value));
        }

        let mut subprotocols: Vec<String> = Vec::with_capacity(raw.subprotocols.len());
        for (i, p) in raw.subprotocols.into_iter().enumerate() {
            let path = format!("target.subprotocols[{i}]");
            // A subprotocol is an HTTP token, the same grammar as a header name.
            if HeaderName::from_bytes(p.value.as_bytes()).is_err() {
                return Err(self.error(
                    &p,
                    &path,
                    format!(
                        "expected a subprotocol name made of letters, digits and !#$%&'*+-.^_`|~, \
                         found {}",
                        quoted(&p.value)
                    ),
                ));
            }
            if subprotocols.contains(&p.value) {
                return Err(self.error(
                    &p,
                    &path,
                    format!("subprotocol {} is listed twice", quoted(&p.value)),
                ));
            }
            subprotocols.push(p.value);
        }

        let command = match raw.command {
            None => None,
            Some(c) => {
                if url == TargetUrl::Embedded {
                    return Err(self.error(
                        &c,
                        "target.command",
                        "a command starts an external server: set target.url to the ws:// \
                         address it listens on (embedded needs no command)",
                    ));
                }
                let command = match &c.value {
                    RawCommand::Shell(line) if !line.trim().is_empty() => {
                        TargetCommand::Shell(line.clone())
                    }
                    RawCommand::Argv(argv) if argv.first().is_some_and(|p| !p.is_empty()) => {
                        TargetCommand::Argv(argv.clone())
                    }
                    _ => {
                        return Err(self.error(
                            &c,
                            "target.command",
                            "expected a non-empty shell command or [program, args...]",
                        ));
                    }
                };
                Some(command)
            }
        };

        Ok(Target {
            url,
            headers,
            subprotocols,
            command,
        })
    }
}

/// An HTTP token character (RFC 9110), what `HeaderName` accepts: used only to point at the
/// first bad character once the parser has refused a name.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A character `HeaderValue` refuses: a control character other than tab, or DEL. Bytes from
/// 0x80 up are allowed there, so non-ASCII text is not a fault.
fn breaks_header_value(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\u{7f}'
}
