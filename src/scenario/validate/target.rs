//! `target:` checks: the URL, extra headers (through the HTTP stack's own `HeaderName` and
//! `HeaderValue` parsers), the application protocol (`protocol/`, which may add its own
//! subprotocol and, for Socket.IO, set the url's path), subprotocols, the command of a managed
//! server, the embedded server's connection limit and the TLS settings (PEM files read and
//! checked here).

use std::path::PathBuf;

use actix_http::header::{HeaderName, HeaderValue};
use rustls::pki_types::ServerName;
use serde_saphyr::Spanned;

use super::Validator;
use super::protocol::ProtocolKeys;
use crate::scenario::ScenarioError;
use crate::scenario::model::{
    ClientIdentity, GRAPHQL_WS_SUBPROTOCOL, Protocol, Target, TargetCommand, TargetTls, TargetUrl,
};
use crate::scenario::raw::{RawCommand, RawTarget, RawTls, RawTlsSettings};
use crate::scenario::url::parse_url;
use crate::scenario::value::{first_offending, quoted};
use crate::tls;

impl Validator<'_> {
    pub(super) fn target(&self, raw: RawTarget) -> Result<Target, ScenarioError> {
        let mut url =
            parse_url(&raw.url.value).map_err(|m| self.error(&raw.url, "target.url", m))?;

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

        let keys = ProtocolKeys {
            protocol: raw.protocol,
            graphql_ws: raw.graphql_ws,
            socketio: raw.socketio,
        };
        let protocol = self.protocol(keys, &mut url, &raw.url, &raw.subprotocols)?;
        let mut subprotocols: Vec<String> = Vec::with_capacity(raw.subprotocols.len() + 1);
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
        if matches!(protocol, Protocol::GraphqlWs(_))
            && !subprotocols.iter().any(|p| p == GRAPHQL_WS_SUBPROTOCOL)
        {
            subprotocols.push(GRAPHQL_WS_SUBPROTOCOL.to_string());
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

        let max_conns = match raw.max_conns {
            None => None,
            Some(max) if url != TargetUrl::Embedded => {
                return Err(self.error(
                    &max,
                    "target.max_conns",
                    "limits the embedded server (url: embedded); an external server sets its own \
                     limit",
                ));
            }
            Some(max) if max.value == 0 => {
                return Err(self.error(
                    &max,
                    "target.max_conns",
                    "expected at least 1 connection, found 0",
                ));
            }
            Some(max) => Some(max.value),
        };

        let tls = self.tls(raw.tls, &url)?;
        Ok(Target {
            url,
            headers,
            subprotocols,
            command,
            tls,
            // Checked with clients.stream (`validate/stream.rs`).
            push: None,
            max_conns,
            protocol,
        })
    }

    /// `target.tls`: none for `ws://`, the defaults or the settings for `wss://` and for an
    /// embedded server that serves TLS. Files are read here, so a missing or bad one fails
    /// `check` rather than every connection of the run.
    fn tls(
        &self,
        raw: Option<Spanned<RawTls>>,
        url: &TargetUrl,
    ) -> Result<Option<TargetTls>, ScenarioError> {
        let (at, settings) = match raw {
            None => return Ok(matches!(url, TargetUrl::Wss(_)).then(TargetTls::default)),
            Some(Spanned {
                value: RawTls::Switch(false),
                referenced,
                ..
            }) => {
                if matches!(url, TargetUrl::Wss(_)) {
                    return Err(self.error_at(
                        &referenced,
                        "target.tls",
                        "a wss:// url always speaks TLS; use ws:// for a plain connection",
                    ));
                }
                return Ok(None);
            }
            Some(Spanned {
                value: RawTls::Switch(true),
                referenced,
                ..
            }) => (referenced, RawTlsSettings::default()),
            Some(Spanned {
                value: RawTls::Settings(settings),
                referenced,
                ..
            }) => (referenced, *settings),
        };
        if let TargetUrl::Ws(_) = url {
            return Err(self.error_at(
                &at,
                "target.tls",
                "TLS needs a wss:// url (or url: embedded, which then serves TLS); this url is \
                 ws://",
            ));
        }
        if *url == TargetUrl::Embedded {
            let for_wss_only = [
                ("ca_file", settings.ca_file.as_ref().map(|v| v.referenced)),
                (
                    "client_cert",
                    settings.client_cert.as_ref().map(|v| v.referenced),
                ),
                (
                    "client_key",
                    settings.client_key.as_ref().map(|v| v.referenced),
                ),
                (
                    "server_name",
                    settings.server_name.as_ref().map(|v| v.referenced),
                ),
                ("insecure", settings.insecure.as_ref().map(|v| v.referenced)),
            ];
            if let Some((key, Some(location))) = for_wss_only.iter().find(|(_, l)| l.is_some()) {
                return Err(self.error_at(
                    location,
                    &format!("target.tls.{key}"),
                    "is for wss:// targets: the embedded server's certificate is made at start \
                     and its clients trust it (only resume applies)",
                ));
            }
        }

        let insecure = settings.insecure.as_ref().is_some_and(|v| v.value);
        let ca_file = match &settings.ca_file {
            None => None,
            Some(path) => {
                if insecure && let Some(flag) = &settings.insecure {
                    return Err(self.error(
                        flag,
                        "target.tls.insecure",
                        "skips certificate verification, so ca_file would never be used; \
                         remove one of them",
                    ));
                }
                let file = PathBuf::from(&path.value);
                tls::read_roots(&file).map_err(|m| self.error(path, "target.tls.ca_file", m))?;
                Some(file)
            }
        };
        let client_identity = match (&settings.client_cert, &settings.client_key) {
            (None, None) => None,
            (Some(cert), None) => {
                return Err(self.error(
                    cert,
                    "target.tls.client_cert",
                    "needs target.tls.client_key too (the certificate's private key, PEM)",
                ));
            }
            (None, Some(key)) => {
                return Err(self.error(
                    key,
                    "target.tls.client_key",
                    "needs target.tls.client_cert too (the certificate chain, PEM)",
                ));
            }
            (Some(cert), Some(key)) => {
                let cert_file = PathBuf::from(&cert.value);
                let key_file = PathBuf::from(&key.value);
                tls::read_certs(&cert_file)
                    .map_err(|m| self.error(cert, "target.tls.client_cert", m))?;
                tls::read_key(&key_file)
                    .map_err(|m| self.error(key, "target.tls.client_key", m))?;
                tls::read_identity(&cert_file, &key_file)
                    .map_err(|m| self.error(key, "target.tls.client_key", m))?;
                Some(ClientIdentity {
                    cert_file,
                    key_file,
                })
            }
        };
        let server_name = match &settings.server_name {
            None => None,
            Some(name) => {
                if ServerName::try_from(name.value.as_str()).is_err() {
                    return Err(self.error(
                        name,
                        "target.tls.server_name",
                        format!(
                            "expected a DNS name or IP address, found {}",
                            quoted(&name.value)
                        ),
                    ));
                }
                Some(name.value.clone())
            }
        };
        Ok(Some(TargetTls {
            ca_file,
            client_identity,
            server_name,
            insecure,
            resume: settings.resume.as_ref().is_none_or(|v| v.value),
        }))
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
