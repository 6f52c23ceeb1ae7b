//! `faults:` checks: each entry's keys against its kind, its place on the timeline (`at`,
//! `duration`, `fraction`), then its knobs through the kind's own home (`scenario::fault` for
//! `server_kill` and `drop`, `chaos::toxics` for the proxy faults).

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Validator;
use crate::chaos::ProxyFault;
use crate::scenario::ScenarioError;
use crate::scenario::fault::{self, Fault, FaultKind, drop, server_kill};
use crate::scenario::knobs::{Knobs, Timeline};
use crate::scenario::model::Target;
use crate::scenario::raw::RawFault;
use crate::scenario::value::{Dur, Fraction, MAX_ECHO_CHARS, PositiveDur, quoted};

/// Keys every fault entry has, whatever its kind.
const COMMON_FIELDS: [&str; 2] = ["kind", "at"];

impl Validator<'_> {
    /// The checks serde would do on a fault entry of fixed shape: no unknown or repeated key,
    /// `kind` and `at` present. Returns `kind` and `at`.
    pub(super) fn fault_shape<'r>(
        &self,
        index: usize,
        raw: &'r Spanned<RawFault>,
    ) -> Result<(&'r Spanned<String>, &'r Spanned<String>), ScenarioError> {
        // Listed as the file format documents them: common, timeline, then the kinds' knobs.
        let mut known: Vec<&str> = COMMON_FIELDS.to_vec();
        known.extend(Timeline::Window.fields());
        for field in fault::kinds().flat_map(|kind| kind.knobs.iter().copied()) {
            if !known.contains(&field) {
                known.push(field);
            }
        }
        for (i, (key, _)) in raw.value.fields.iter().enumerate() {
            if !known.contains(&key.value.as_str()) {
                return Err(self.message_at(
                    &key.referenced,
                    format!(
                        "unknown field {}, expected one of {}",
                        backticked(&key.value),
                        known.join(", ")
                    ),
                ));
            }
            if raw.value.fields[..i]
                .iter()
                .any(|(k, _)| k.value == key.value)
            {
                return Err(self.message_at(
                    &key.referenced,
                    format!("duplicate mapping key `{}` is not allowed here", key.value),
                ));
            }
        }
        let present = |field: &str| {
            raw.value.get(field).ok_or_else(|| {
                self.error(
                    raw,
                    &format!("faults[{index}]"),
                    format!("missing field `{field}`"),
                )
            })
        };
        Ok((present("kind")?, present("at")?))
    }

    pub(super) fn fault(
        &self,
        index: usize,
        raw: &Spanned<RawFault>,
        target: &Target,
        duration: Duration,
        duration_text: &str,
    ) -> Result<Fault, ScenarioError> {
        let (kind, at_text) = self.fault_shape(index, raw)?;
        let fields = &raw.value.fields;
        let path = format!("faults[{index}]");
        let key = |k: &str| format!("{path}.{k}");
        let at = self.value::<Dur>(at_text, &key("at"))?.0;
        if at >= duration {
            let what = if at == duration {
                format!(
                    "fault at {} is at the very end of the scenario (duration {duration_text}); \
                     it must start earlier",
                    at_text.value
                )
            } else {
                format!(
                    "fault at {} is past the scenario duration {duration_text}",
                    at_text.value
                )
            };
            return Err(self.error(at_text, &key("at"), what));
        }

        let kind_name = kind.value.as_str();
        let Some(info) = fault::kinds().find(|k| k.name == kind_name) else {
            let names: Vec<&str> = fault::kinds().map(|k| k.name).collect();
            return Err(self.error(
                kind,
                &key("kind"),
                format!(
                    "expected one of {}, found {}",
                    names.join(", "),
                    quoted(kind_name)
                ),
            ));
        };
        let own: Vec<&str> = info.fields().collect();
        let mut knobs = Knobs::new(kind_name, kind.referenced, path.clone(), ".");
        for (field, value) in fields {
            if COMMON_FIELDS.contains(&field.value.as_str()) {
                continue;
            }
            // A field that belongs to another kind.
            if !own.contains(&field.value.as_str()) {
                return Err(self.error(
                    value,
                    &key(&field.value),
                    format!(
                        "not a field of {kind_name} faults; {kind_name} takes kind, at, {}",
                        own.join(", ")
                    ),
                ));
            }
            knobs.give(&field.value, &value.value, value.referenced);
        }

        let invalid = |e| self.invalid(e);
        let fraction = match info.timeline {
            Timeline::Moment => 1.0,
            Timeline::Share { hint } => {
                knobs
                    .required::<Fraction>("fraction", hint)
                    .map_err(invalid)?
                    .0
            }
            Timeline::Window => knobs
                .optional::<Fraction>("fraction")
                .map_err(invalid)?
                .map_or(1.0, |f| f.0),
        };
        // Windowed faults: a required duration that ends by the end of the scenario.
        let window = match (
            info.timeline,
            fields.iter().find(|(k, _)| k.value == "duration"),
        ) {
            (Timeline::Window, given) => {
                let length = knobs
                    .required::<PositiveDur>("duration", "how long it stays active, like 10s")
                    .map_err(invalid)?
                    .0;
                if let Some((_, written)) = given
                    && at + length > duration
                {
                    return Err(self.error(
                        written,
                        &key("duration"),
                        format!(
                            "the fault would run past the end of the scenario: at {} + {} > \
                             {duration_text}",
                            at_text.value, written.value
                        ),
                    ));
                }
                Some(length)
            }
            _ => None,
        };

        let kind = if kind_name == server_kill::INFO.name {
            server_kill::from_knobs(&mut knobs, target)
        } else if kind_name == drop::INFO.name {
            drop::from_knobs(&mut knobs)
        } else {
            match ProxyFault::from_knobs(&mut knobs) {
                Some(fault) => fault.map(FaultKind::Proxy),
                None => Err(knobs.error("kind", "is no fault kind")),
            }
        }
        .map_err(invalid)?;
        Ok(Fault {
            at,
            duration: window,
            fraction,
            kind,
        })
    }
}

/// `` `key` `` as serde words an unknown key, escaped and cut like any echoed value.
fn backticked(key: &str) -> String {
    let mut cut: String = key.chars().take(MAX_ECHO_CHARS).collect();
    if cut.len() < key.len() {
        cut.push_str("...");
    }
    format!("`{}`", cut.escape_debug())
}
