//! Header checks both ends of the WebSocket upgrade make: the client on the server's 101, the
//! embedded server on a client's request (header names in any case; `Connection` is a
//! comma-separated token list that may be split over several lines).

/// The value of the first header called `name`.
pub fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether any `name` header lists `token` (any case, whole tokens only).
pub fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
