//! `clients.stages` checks: each entry `{to, over}` or `{hold}`, the choice between `stages` and
//! `count` with `ramp`, and the run's duration when the file leaves it to the stages.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Validator;
use super::clients::MAX_CLIENTS;
use crate::scenario::ScenarioError;
use crate::scenario::model::Stage;
use crate::scenario::raw::{RawClients, RawStage};
use crate::scenario::value::{Dur, MAX_DURATION, PositiveDur, quoted};
use crate::scenario::{peak, stages_total};

const PATH: &str = "clients.stages";
const EXPECTED_ENTRY: &str = "expected {to: N, over: DURATION} or {hold: DURATION}";

impl Validator<'_> {
    /// The checked `clients.stages`, or `None` when the file uses `count` (and maybe `ramp`).
    pub(super) fn stages(&self, raw: &RawClients) -> Result<Option<Vec<Stage>>, ScenarioError> {
        let Some(list) = &raw.stages else {
            return Ok(None);
        };
        if let Some(count) = &raw.count {
            return Err(self.error(
                count,
                "clients.count",
                "give either count (with ramp) or stages, not both",
            ));
        }
        if let Some(ramp) = &raw.ramp {
            return Err(self.error(
                ramp,
                "clients.ramp",
                "only used with count; with stages, ramp with a stage like {to: 100, over: 10s}",
            ));
        }
        if list.value.is_empty() {
            return Err(self.error(list, PATH, "expected at least one stage, found none"));
        }
        let stages = list
            .value
            .iter()
            .enumerate()
            .map(|(i, entry)| self.stage(i, entry))
            .collect::<Result<Vec<_>, _>>()?;
        if peak(&stages) == 0 {
            return Err(self.error(
                list,
                PATH,
                "expected a stage with `to` of at least 1 (no client would ever run)",
            ));
        }
        Ok(Some(stages))
    }

    fn stage(&self, index: usize, entry: &Spanned<RawStage>) -> Result<Stage, ScenarioError> {
        let path = format!("{PATH}[{index}]");
        let raw = &entry.value;
        match (&raw.to, &raw.over, &raw.hold) {
            (Some(to), Some(over), None) => {
                let to_value = match u32::try_from(to.value) {
                    Ok(t) if u64::from(t) <= MAX_CLIENTS => t,
                    _ => {
                        return Err(self.error(
                            to,
                            &format!("{path}.to"),
                            format!(
                                "expected a whole number from 0 to {MAX_CLIENTS}, found {}",
                                to.value
                            ),
                        ));
                    }
                };
                let over = self.value::<Dur>(over, &format!("{path}.over"))?.0;
                Ok(Stage::Ramp { to: to_value, over })
            }
            (None, None, Some(hold)) => Ok(Stage::Hold(
                self.value::<PositiveDur>(hold, &format!("{path}.hold"))?.0,
            )),
            (Some(_), None, None) => {
                Err(self.error(entry, &path, "missing field `over` (with `to`)"))
            }
            (None, Some(_), None) => {
                Err(self.error(entry, &path, "missing field `to` (with `over`)"))
            }
            (None, None, None) => {
                Err(self.error(entry, &path, format!("{EXPECTED_ENTRY}, found {{}}")))
            }
            (to, over, Some(hold)) => {
                let extra = if to.is_some() { "to" } else { "over" };
                let at = to.as_ref().map_or_else(
                    || over.as_ref().map(|o| &o.referenced),
                    |t| Some(&t.referenced),
                );
                let what = format!("{EXPECTED_ENTRY}, not `hold` with `{extra}`");
                Err(match at {
                    Some(location) => self.error_at(location, &path, what),
                    None => self.error(hold, &path, what),
                })
            }
        }
    }

    /// The run's length: `duration` when given (at least as long as the stages), else the
    /// stages' total. The text is the one error messages quote.
    pub(super) fn duration(
        &self,
        duration: Option<&Spanned<String>>,
        stages: Option<&[Stage]>,
        raw: &RawClients,
    ) -> Result<(Duration, String), ScenarioError> {
        let total = stages.map(stages_total);
        let list = raw.stages.as_ref();
        match (duration, total, list) {
            (Some(d), _, _) => {
                let value = self.value::<PositiveDur>(d, "duration")?.0;
                if let (Some(total), Some(list)) = (total, list)
                    && total > value
                {
                    return Err(self.error(
                        list,
                        PATH,
                        format!(
                            "the stages take {}, longer than the scenario duration {}",
                            humantime::format_duration(total),
                            quoted(&d.value)
                        ),
                    ));
                }
                Ok((value, d.value.clone()))
            }
            (None, Some(total), Some(list)) => {
                if total.is_zero() || total > MAX_DURATION {
                    return Err(self.error(
                        list,
                        PATH,
                        format!(
                            "the stages take {}; without a duration the run lasts as long as \
                             the stages, so they must take more than 0s and at most 365 days \
                             (or give duration)",
                            humantime::format_duration(total)
                        ),
                    ));
                }
                Ok((total, humantime::format_duration(total).to_string()))
            }
            // Where serde would have put it, had the key stayed required: its message, at 1:1.
            _ => Err(self.message_at(
                &serde_saphyr::Location::UNKNOWN,
                "missing field `duration`".to_string(),
            )),
        }
    }

    /// The error for `clients:` with neither `count` nor `stages`, as serde gave it when
    /// `count` was the only way.
    pub(super) fn missing_count(&self, clients: &Spanned<RawClients>) -> ScenarioError {
        self.message_at(&clients.referenced, "missing field `count`".to_string())
    }
}
