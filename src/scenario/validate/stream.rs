//! `target.push` and `clients.stream` checks, together because each constrains the other: push
//! is the embedded server's, the embedded server pushes nothing without it, and its `resume`
//! needs clients that send `?since=<seq>`.

use serde_saphyr::Spanned;

use super::Validator;
use super::clients::parse_rate;
use crate::scenario::ScenarioError;
use crate::scenario::model::{MessageRate, TargetUrl};
use crate::scenario::raw::{RawPush, RawStream};
use crate::scenario::stream::{
    DEFAULT_PUSH_SIZE, EMBEDDED_RESUME_PARAM, MAX_PUSH_RATE_PER_S, PUSH_SIZE, Place, Push, Stream,
};
use crate::scenario::value::quoted;

/// Longest `resume_param`.
const MAX_PARAM_LEN: usize = 64;

impl Validator<'_> {
    pub(super) fn push_and_stream(
        &self,
        push: Option<Spanned<RawPush>>,
        stream: Option<Spanned<RawStream>>,
        url: &TargetUrl,
    ) -> Result<(Option<Push>, Option<Stream>), ScenarioError> {
        let embedded = *url == TargetUrl::Embedded;
        if let Some(push) = &push
            && !embedded
        {
            return Err(self.error(
                push,
                "target.push",
                "is the embedded server's push mode (url: embedded); an external server pushes \
                 on its own: set clients.stream to follow what it sends",
            ));
        }
        if let Some(stream) = &stream
            && embedded
            && push.is_none()
        {
            return Err(self.error(
                stream,
                "clients.stream",
                "the embedded server pushes nothing without target.push (like push: {rate: \
                 10/s}); add it, or remove clients.stream",
            ));
        }
        let stream = stream.map(|s| self.stream(s.value, embedded)).transpose()?;
        let push = match push {
            None => None,
            Some(push) => {
                let push = self.push(push.value)?;
                let asks = stream.as_ref().is_some_and(|s| s.resume_param.is_some());
                if let Some(resume) = push.resume.as_ref().filter(|r| r.value)
                    && !asks
                {
                    return Err(self.error(
                        resume,
                        "target.push.resume",
                        format!(
                            "replays from ?{EMBEDDED_RESUME_PARAM}=<seq>, which clients send only \
                             with clients.stream.resume_param: {EMBEDDED_RESUME_PARAM}"
                        ),
                    ));
                }
                Some(Push {
                    rate_per_s: push.rate_per_s,
                    size: push.size,
                    resume: push.resume.is_some_and(|r| r.value),
                })
            }
        };
        Ok((push, stream))
    }

    fn push(&self, raw: RawPush) -> Result<CheckedPush, ScenarioError> {
        let rate_per_s =
            push_rate(&raw.rate.value).map_err(|m| self.error(&raw.rate, "target.push.rate", m))?;
        let size = match &raw.size {
            Some(s) if !PUSH_SIZE.contains(&s.value) => {
                return Err(self.error(
                    s,
                    "target.push.size",
                    format!(
                        "expected a whole number of bytes from {} to {}, found {}",
                        PUSH_SIZE.start(),
                        PUSH_SIZE.end(),
                        s.value
                    ),
                ));
            }
            Some(s) => s.value,
            None => DEFAULT_PUSH_SIZE,
        };
        // PUSH_SIZE fits in usize on every supported platform.
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        Ok(CheckedPush {
            rate_per_s,
            size,
            resume: raw.resume,
        })
    }

    fn stream(&self, raw: RawStream, embedded: bool) -> Result<Stream, ScenarioError> {
        let place = |value: &Spanned<String>, path: &str| {
            Place::parse(&value.value).map_err(|what| self.error(value, path, what))
        };
        let seq = place(&raw.seq, "clients.stream.seq")?;
        let sent_at = match &raw.sent_at {
            None => None,
            Some(value) => {
                let sent_at = place(value, "clients.stream.sent_at")?;
                if sent_at.in_text() != seq.in_text() {
                    return Err(self.error(
                        value,
                        "clients.stream.sent_at",
                        format!(
                            "expected the same kind of place as seq ({seq}: {}), found {}",
                            if seq.in_text() {
                                "a JSON field"
                            } else {
                                "bytes of a binary frame"
                            },
                            quoted(&value.value)
                        ),
                    ));
                }
                Some(sent_at)
            }
        };
        let resume_param = match &raw.resume_param {
            None => None,
            Some(param) => {
                let path = "clients.stream.resume_param";
                let name = &param.value;
                let ok = !name.is_empty()
                    && name.len() <= MAX_PARAM_LEN
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~'));
                if !ok {
                    return Err(self.error(
                        param,
                        path,
                        format!(
                            "expected a query parameter name of 1 to {MAX_PARAM_LEN} characters \
                             from A-Z a-z 0-9 _ - . ~, found {}",
                            quoted(name)
                        ),
                    ));
                }
                if embedded && name != EMBEDDED_RESUME_PARAM {
                    return Err(self.error(
                        param,
                        path,
                        format!(
                            "the embedded server reads ?{EMBEDDED_RESUME_PARAM}=<seq>; set \
                             resume_param: {EMBEDDED_RESUME_PARAM}, found {}",
                            quoted(name)
                        ),
                    ));
                }
                Some(name.clone())
            }
        };
        Ok(Stream {
            seq,
            sent_at,
            resume_param,
        })
    }
}

/// A push rate, `N/s` or `N/m` up to `MAX_PUSH_RATE_PER_S`, in messages per second (shared with
/// `wschaos serve --push-rate`). The error says what was expected, without the key path.
pub(in crate::scenario) fn push_rate(rate: &str) -> Result<f64, String> {
    match parse_rate(rate) {
        Ok(MessageRate::PerSecond(r)) if r <= MAX_PUSH_RATE_PER_S => Ok(r),
        Ok(MessageRate::PerSecond(_)) => Err(format!(
            "expected at most {MAX_PUSH_RATE_PER_S}/s (one timer tick per message), found {}",
            quoted(rate)
        )),
        Ok(MessageRate::Closed) | Err(_) => Err(format!(
            "expected N/s or N/m with N a positive number (like 10/s or 30/m), found {}",
            quoted(rate)
        )),
    }
}

/// `target.push` checked, `resume` still with its position for the check against the clients.
struct CheckedPush {
    rate_per_s: f64,
    size: usize,
    resume: Option<Spanned<bool>>,
}
