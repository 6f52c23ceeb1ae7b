//! The server's answer to the client's extension offer: the `Sec-WebSocket-Extensions` header
//! of the 101, read as RFC 7692 section 7 says. Anything the client did not offer, a parameter
//! it does not know, a duplicate or a value out of range fails the connection.

/// The header line of the offer, as browsers send it: the client can compress with a smaller
/// window if the server asks (`client_max_window_bits` without a value).
pub const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// The extension's name on the wire.
const NAME: &str = "permessage-deflate";

/// Window sizes (in bits) a `*_max_window_bits` value may take.
const WINDOW_BITS: std::ops::RangeInclusive<u8> = 8..=15;

/// The parameters the server accepted permessage-deflate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The server starts each message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client must start each message it compresses with an empty window.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with (15 when it does not say).
    pub server_max_window_bits: u8,
    /// The largest window the client may compress with (15 when the server does not say).
    pub client_max_window_bits: u8,
}

impl Default for Negotiated {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// Reads the values of every `Sec-WebSocket-Extensions` header of the response. `offered`:
/// whether the request offered permessage-deflate. `Ok(None)`: no extension in use; an error
/// says what the server got wrong.
pub fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    offered: bool,
) -> Result<Option<Negotiated>, String> {
    let mut accepted = None;
    for value in values {
        let value = std::str::from_utf8(value)
            .map_err(|_| "Sec-WebSocket-Extensions is not ASCII".to_string())?;
        // An empty list element (`a, , b`) is allowed by HTTP's list syntax and means nothing.
        for element in value.split(',').filter(|e| !e.trim().is_empty()) {
            let mut parts = element.split(';');
            let name = parts.next().unwrap_or_default().trim();
            if !name.eq_ignore_ascii_case(NAME) || !offered {
                return Err(format!(
                    "the server accepted extension `{name}`, which was not offered"
                ));
            }
            if accepted.is_some() {
                return Err(format!("the server accepted {NAME} twice"));
            }
            accepted = Some(parameters(parts)?);
        }
    }
    Ok(accepted)
}

/// The parameters of one accepted permessage-deflate.
fn parameters<'a>(params: impl Iterator<Item = &'a str>) -> Result<Negotiated, String> {
    let mut negotiated = Negotiated::default();
    let mut seen: Vec<&str> = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (param.trim(), None),
        };
        if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(format!("{NAME}: parameter `{name}` given twice"));
        }
        seen.push(name);
        let flag = || match value {
            None => Ok(true),
            Some(v) => Err(format!("{NAME}: `{name}` takes no value, found `{v}`")),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => negotiated.server_no_context_takeover = flag()?,
            "client_no_context_takeover" => negotiated.client_no_context_takeover = flag()?,
            "server_max_window_bits" => negotiated.server_max_window_bits = bits(name, value)?,
            "client_max_window_bits" => negotiated.client_max_window_bits = bits(name, value)?,
            _ => return Err(format!("{NAME}: unknown parameter `{name}`")),
        }
    }
    Ok(negotiated)
}

/// A `*_max_window_bits` value: a number from 8 to 15 without leading zeros (RFC 7692 7.1.2).
fn bits(name: &str, value: Option<&str>) -> Result<u8, String> {
    let Some(value) = value else {
        return Err(format!(
            "{NAME}: `{name}` needs a value from 8 to 15 in a response"
        ));
    };
    match value.parse::<u8>() {
        Ok(n) if WINDOW_BITS.contains(&n) && !value.starts_with(['0', '+']) => Ok(n),
        _ => Err(format!(
            "{NAME}: `{name}={value}`: expected a number from 8 to 15"
        )),
    }
}

/// A parameter value may be a quoted string (RFC 7692 section 5.2 allows `"10"` for `10`).
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(values: &[&str]) -> Result<Option<Negotiated>, String> {
        negotiate(values.iter().map(|v| v.as_bytes()), true)
    }

    #[test]
    fn no_header_means_no_extension_and_a_plain_accept_takes_the_defaults() {
        assert_eq!(answer(&[]), Ok(None));
        assert_eq!(answer(&[" , "]), Ok(None));
        assert_eq!(
            answer(&["permessage-deflate"]),
            Ok(Some(Negotiated::default()))
        );
    }

    #[test]
    fn every_parameter_is_read_with_or_without_quotes_and_across_header_lines() {
        let all = answer(&[
            "permessage-deflate; server_no_context_takeover;client_no_context_takeover",
            // An empty element on a second line, as HTTP lists allow.
            "",
        ]);
        assert_eq!(
            all,
            Ok(Some(Negotiated {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..Negotiated::default()
            }))
        );
        let windows = answer(&[
            "Permessage-Deflate; server_max_window_bits=\"10\"; client_max_window_bits = 9",
        ]);
        assert_eq!(
            windows,
            Ok(Some(Negotiated {
                server_max_window_bits: 10,
                client_max_window_bits: 9,
                ..Negotiated::default()
            }))
        );
    }

    #[test]
    fn what_was_not_offered_or_is_malformed_fails_the_connection() {
        let refused = |values: &[&str], says: &str| match answer(values) {
            Err(e) => assert!(e.contains(says), "{values:?}: {e}"),
            Ok(n) => panic!("{values:?} accepted as {n:?}"),
        };
        refused(
            &["x-webkit-deflate-frame"],
            "`x-webkit-deflate-frame`, which was not offered",
        );
        refused(&["permessage-deflate, permessage-deflate"], "twice");
        refused(&["permessage-deflate", "permessage-deflate"], "twice");
        refused(
            &["permessage-deflate; mystery"],
            "unknown parameter `mystery`",
        );
        refused(
            &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            "given twice",
        );
        refused(
            &["permessage-deflate; client_no_context_takeover=1"],
            "takes no value",
        );
        refused(
            &["permessage-deflate; client_max_window_bits"],
            "needs a value",
        );
        for bad in ["7", "16", "08", "+9", "ten", ""] {
            refused(
                &[&format!("permessage-deflate; server_max_window_bits={bad}")],
                "expected a number from 8 to 15",
            );
        }
        assert!(negotiate([&b"\xff"[..]], true).is_err(), "not ASCII");
    }

    #[test]
    fn without_an_offer_any_extension_in_the_answer_is_refused() {
        assert_eq!(negotiate([], false), Ok(None));
        let answer = negotiate([&b"permessage-deflate"[..]], false);
        assert!(answer.is_err_and(|e| e.contains("not offered")));
    }
}
