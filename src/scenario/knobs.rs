//! The knobs of one fault as the user gave them: `key: value` fields of a scenario's fault entry
//! or `key=value` words of a `wschaos proxy --fault` spec. A fault kind's home reads its knobs
//! from here through the checked value types, so both front ends share one validation.

use serde_saphyr::Location;

use super::value::{Invalid, Value, Written};

/// One fault's given knobs, consumed as the fault kind asks for them.
#[derive(Debug)]
pub struct Knobs<'a> {
    kind: &'a str,
    kind_at: Location,
    /// The fault's own path: `faults[0]` in a scenario, `` `latency` `` on the command line.
    base: String,
    /// Between `base` and a key: `.` in a scenario, a space on the command line.
    separator: &'static str,
    given: Vec<Given<'a>>,
}

#[derive(Debug)]
struct Given<'a> {
    key: &'a str,
    text: &'a str,
    at: Location,
}

impl<'a> Knobs<'a> {
    /// The knobs of a `kind` fault named at `kind_at`; `base` and `separator` build key paths.
    pub fn new(kind: &'a str, kind_at: Location, base: String, separator: &'static str) -> Self {
        Self {
            kind,
            kind_at,
            base,
            separator,
            given: Vec::new(),
        }
    }

    pub fn give(&mut self, key: &'a str, text: &'a str, at: Location) {
        self.given.push(Given { key, text, at });
    }

    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// `faults[0].key` or `` `latency` key ``.
    pub fn path(&self, key: &str) -> String {
        format!("{}{}{key}", self.base, self.separator)
    }

    /// Where `key`'s value was written, if it was given.
    pub fn at(&self, key: &str) -> Option<Location> {
        self.given.iter().find(|g| g.key == key).map(|g| g.at)
    }

    /// An error about `key`, placed on its value (or on the kind when it was not given).
    pub fn error(&self, key: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            at: self.at(key).unwrap_or(self.kind_at),
            path: self.path(key),
            message: message.into(),
        }
    }

    /// The checked value of `key`, or `None` when it was not given.
    pub fn optional<T: Value>(&mut self, key: &str) -> Result<Option<T>, Invalid> {
        let Some(index) = self.given.iter().position(|g| g.key == key) else {
            return Ok(None);
        };
        let given = self.given.remove(index);
        let path = self.path(key);
        let written = Written {
            text: given.text,
            at: given.at,
            path: &path,
        };
        T::check(&written).map(Some)
    }

    /// The checked value of `key`; its absence is an error that says what it is (`hint`).
    pub fn required<T: Value>(&mut self, key: &str, hint: &str) -> Result<T, Invalid> {
        match self.optional(key)? {
            Some(value) => Ok(value),
            None => Err(Invalid {
                at: self.kind_at,
                path: self.base.clone(),
                message: format!("a {} fault needs {key}: {hint}", self.kind),
            }),
        }
    }
}

/// Where on the timeline a fault kind sits, which decides the fields it takes besides `kind`,
/// `at` and its knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// A single event for the whole fleet (`server_kill`): no `duration`, no `fraction`.
    Moment,
    /// A single event for a share of the clients (`drop`): `fraction` required, whose meaning
    /// `hint` gives.
    Share { hint: &'static str },
    /// Active for `duration` (required) on `fraction` of the clients (default all).
    Window,
}

impl Timeline {
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Timeline::Moment => &[],
            Timeline::Share { .. } => &["fraction"],
            Timeline::Window => &["duration", "fraction"],
        }
    }
}

/// What a fault kind is called and which fields it takes.
#[derive(Debug, Clone, Copy)]
pub struct FaultKindInfo {
    pub name: &'static str,
    pub timeline: Timeline,
    /// The kind's own knobs, in the order messages list them.
    pub knobs: &'static [&'static str],
}

impl FaultKindInfo {
    /// Timeline fields then knobs: what a scenario's fault entry of this kind may hold besides
    /// `kind` and `at`.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> {
        self.timeline
            .fields()
            .iter()
            .chain(self.knobs.iter())
            .copied()
    }
}
