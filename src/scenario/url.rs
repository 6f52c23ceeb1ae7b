//! Target URLs: `embedded`, `ws://host[:port][/path][?query]` or the same with `wss://`,
//! parsed with the HTTP stack's own URI parser (`actix_http::Uri`) plus the rules a WebSocket
//! target adds (scheme, no fragment, no credentials, a port from 1).

use actix_http::Uri;

use super::model::{TargetUrl, WsUrl};
use super::value::quoted;

/// What a target URL may look like, for error messages.
const URL_FORMS: &str = "embedded or ws[s]://host[:port][/path][?query]";

/// Parses `embedded` or `ws[s]://host[:port][/path][?query]`. The error is a message without
/// the key path.
pub fn parse_url(url: &str) -> Result<TargetUrl, String> {
    if url == "embedded" {
        return Ok(TargetUrl::Embedded);
    }
    match parse_any(url, URL_FORMS)? {
        (false, url) => Ok(TargetUrl::Ws(url)),
        (true, url) => Ok(TargetUrl::Wss(url)),
    }
}

/// Parses `ws://` or `wss://host[:port][/path][?query]`: whether it is `wss://`, and the rest;
/// `forms` says what was expected in messages.
pub fn parse_any(url: &str, forms: &str) -> Result<(bool, WsUrl), String> {
    // Checked first, whatever the scheme, so that no later message echoes the credentials.
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    if after_scheme[..authority_end].contains('@') {
        return Err(format!(
            "expected {forms} without user:password@ (send credentials with target.headers; \
             the URL is not shown: it holds them)"
        ));
    }
    let found = quoted(url);
    let generic = || format!("expected {forms}, found {found}");
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(generic());
    };
    let tls = scheme.eq_ignore_ascii_case("wss");
    if !tls && !scheme.eq_ignore_ascii_case("ws") {
        return Err(generic());
    }
    // The URI parser drops a fragment silently; a WebSocket URL cannot have one.
    if url.contains('#') {
        return Err(format!(
            "expected {forms} without a #fragment (WebSocket URLs cannot have one), found {found}"
        ));
    }
    let uri: Uri = url.parse().map_err(|_| {
        if url.bytes().any(|b| !b.is_ascii_graphic()) {
            format!(
                "expected a path and query of printable ASCII without spaces (percent-encode \
                 anything else), found {found}"
            )
        } else {
            generic()
        }
    })?;
    let Some(authority) = uri.authority() else {
        return Err(generic());
    };

    let host = authority.host();
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "expected an IPv6 address inside [ ], found {found}"
            ));
        }
    } else if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(format!(
            "expected a host name or IP address after {}://, found {found}",
            if tls { "wss" } else { "ws" }
        ));
    }

    // `host:` with nothing after the colon has a port text the parser keeps as empty.
    let port_text = authority
        .as_str()
        .rsplit_once(':')
        .and_then(|(before, after)| (!before.is_empty() && !after.contains(']')).then_some(after));
    let port = match (port_text, authority.port_u16()) {
        (None, _) if tls => 443,
        (None, _) => 80,
        (Some(_), Some(port)) if port != 0 => port,
        _ => {
            return Err(format!(
                "expected a port from 1 to 65535 after the host, found {found}"
            ));
        }
    };

    let mut path = match uri.path() {
        "" => "/".to_string(),
        path => path.to_string(),
    };
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "expected a path and query of printable ASCII without spaces (percent-encode \
             anything else), found {found}"
        ));
    }

    Ok((
        tls,
        WsUrl {
            host: host.to_string(),
            port,
            path,
        },
    ))
}
