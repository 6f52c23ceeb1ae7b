//! Validation of the raw schema into the model: every check that serde cannot do (durations,
//! ranges, URLs, cross-field rules), each failure placed at FILE:LINE:COL of the offending value
//! with a message of the form `key.path: expected X, found "Y"`. One file per part of the
//! scenario: `target` (and its `protocol`), `clients` (and its `on_open`, `stages`), `stream`
//! (`target.push` with `clients.stream`), `faults`.

mod clients;
mod faults;
mod on_open;
mod protocol;
pub use protocol::ENGINE_IO_QUERY;
mod stages;
mod stream;
pub(super) use stream::push_rate;
mod target;

use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use super::ScenarioError;
use super::model::Scenario;
use super::raw::RawScenario;
use super::value::{Invalid, Value, Written, quoted};
use crate::report::threshold::{Threshold, ThresholdError};

/// Longest message of the YAML library passed on (it may quote a huge key).
const MAX_SYNTAX_MESSAGE_CHARS: usize = 240;

/// Longest accepted scenario name (it becomes a directory name).
const MAX_NAME_LEN: usize = 128;

/// Parses and validates scenario text; `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    let raw: RawScenario =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax_error(file, &e))?;
    Validator { file }.scenario(raw)
}

/// Turns a serde-saphyr error (syntax, unknown key, missing key, wrong type) into
/// `ScenarioError::Invalid`, keeping the library's message (without its location suffix) and
/// its location, or 1:1 when it has none.
fn syntax_error(file: &str, err: &serde_saphyr::Error) -> ScenarioError {
    let raw = UserMessageFormatter.format_message(err);
    // The message may quote user text (an unknown key); keep it on one line and short.
    let mut message = String::new();
    for (i, c) in raw.chars().enumerate() {
        if i == MAX_SYNTAX_MESSAGE_CHARS {
            message.push_str("...");
            break;
        }
        if c.is_control() {
            message.extend(c.escape_debug());
        } else {
            message.push(c);
        }
    }
    let location = err.location().unwrap_or(Location::UNKNOWN);
    let (line, column) = line_column(&location);
    ScenarioError::Invalid {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// 1-based line and column of `location`, or 1:1 when it is unknown.
fn line_column(location: &Location) -> (usize, usize) {
    if location.line() == 0 {
        return (1, 1);
    }
    let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
    let column = usize::try_from(location.column())
        .unwrap_or(usize::MAX)
        .max(1);
    (line, column)
}

struct Validator<'a> {
    file: &'a str,
}

impl Validator<'_> {
    /// An error at `at` whose message is `path: what`.
    fn error<T>(&self, at: &Spanned<T>, path: &str, what: impl std::fmt::Display) -> ScenarioError {
        self.error_at(&at.referenced, path, what)
    }

    fn error_at(
        &self,
        location: &Location,
        path: &str,
        what: impl std::fmt::Display,
    ) -> ScenarioError {
        self.message_at(location, format!("{path}: {what}"))
    }

    /// An error at `location` with exactly `message`.
    fn message_at(&self, location: &Location, message: String) -> ScenarioError {
        let (line, column) = line_column(location);
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }

    /// A failed value check, placed where the value was written.
    fn invalid(&self, invalid: Invalid) -> ScenarioError {
        self.message_at(&invalid.at, invalid.to_string())
    }

    /// The checked value of a scenario string (a duration, a byte size, ...).
    fn value<T: Value>(&self, value: &Spanned<String>, path: &str) -> Result<T, ScenarioError> {
        T::check(&Written::spanned(value, path)).map_err(|e| self.invalid(e))
    }

    /// The checked value of an optional key, or `default` when it is absent.
    fn optional_value<T: Value>(
        &self,
        value: Option<&Spanned<String>>,
        path: &str,
        default: T,
    ) -> Result<T, ScenarioError> {
        match value {
            Some(v) => self.value(v, path),
            None => Ok(default),
        }
    }

    fn scenario(&self, mut raw: RawScenario) -> Result<Scenario, ScenarioError> {
        // Fault entries are shaped like serde would check them (unknown or missing keys), so
        // those errors come first as every other schema error does.
        for (index, fault) in raw.faults.iter().enumerate() {
            self.fault_shape(index, fault)?;
        }
        let name = self.name(&raw.name)?;
        let stages = self.stages(&raw.clients.value)?;
        if stages.is_none() && raw.clients.value.count.is_none() {
            return Err(self.missing_count(&raw.clients));
        }
        let (duration, duration_text) =
            self.duration(raw.duration.as_ref(), stages.as_deref(), &raw.clients.value)?;
        let push = raw.target.push.take();
        let stream = raw.clients.value.stream.take();
        let protocol_at = raw.target.protocol.as_ref().map(|p| p.referenced);
        let mut target = self.target(raw.target)?;
        if let Some(at) = &protocol_at {
            self.protocol_fits_clients(&target.protocol, at, &raw.clients.value, stream.as_ref())?;
        }
        let mut clients = self.clients(raw.clients.value, stages, duration, &duration_text)?;
        protocol::protocol_shapes_clients(&target.protocol, &mut clients);
        (target.push, clients.stream) = self.push_and_stream(push, stream, &target.url)?;

        let mut faults = raw
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| self.fault(i, f, &target, duration, &duration_text))
            .collect::<Result<Vec<_>, _>>()?;
        faults.sort_by_key(|f| f.at); // stable: equal offsets keep file order

        let thresholds = raw
            .thresholds
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                if t.value.trim().is_empty() {
                    return Err(self.error(
                        &t,
                        &format!("thresholds[{i}]"),
                        format!(
                            "expected a threshold expression like \"heartbeat_rtt.p99 < 50ms\", \
                             found {}",
                            quoted(&t.value)
                        ),
                    ));
                }
                match Threshold::parse(&t.value) {
                    Ok(_) => Ok(t.value),
                    Err(err) => Err(self.threshold_error(&t, i, &err)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Scenario {
            name,
            seed: raw.seed.unwrap_or_else(rand::random),
            duration,
            target,
            clients,
            faults,
            thresholds,
        })
    }

    /// A bad threshold, placed on its bad token: the string's column, past an opening quote,
    /// plus the token's offset in the expression.
    fn threshold_error(
        &self,
        t: &Spanned<String>,
        index: usize,
        err: &ThresholdError,
    ) -> ScenarioError {
        let (line, column) = line_column(&t.referenced);
        let chars = t.value.chars().count() as u64;
        let in_quotes = t.referenced.span().len() > chars;
        let offset = t.value.get(..err.offset).map_or(0, |s| s.chars().count());
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column: column + usize::from(in_quotes) + offset,
            message: format!("thresholds[{index}] {}: {err}", quoted(&t.value)),
        }
    }

    fn name(&self, name: &Spanned<String>) -> Result<String, ScenarioError> {
        let value = &name.value;
        let ok = !value.is_empty()
            && value.len() <= MAX_NAME_LEN
            && value != "."
            && value != ".."
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(value.clone())
        } else {
            Err(self.error(
                name,
                "name",
                format!(
                    "expected a name of 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 _ . - \
                     (it becomes a directory name), found {}",
                    quoted(value)
                ),
            ))
        }
    }
}
