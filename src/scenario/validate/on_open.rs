//! `clients.on_open:` checks: at most 32 items, each exactly one of a non-empty `text` with known
//! placeholders or a `binary_hex` of hex digits, at most 64 KiB, and an optional `expect` with a
//! non-empty `text_contains` and a positive `within`.

use serde_saphyr::Spanned;

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{Expect, OnOpenFrame, OnOpenItem, Template};
use crate::scenario::on_open::{
    DEFAULT_EXPECT_WITHIN, MAX_ON_OPEN_BYTES, MAX_ON_OPEN_ITEMS, decode_hex,
};
use crate::scenario::raw::{RawExpect, RawOnOpen};
use crate::scenario::value::{PositiveDur, quoted};

impl Validator<'_> {
    pub(super) fn on_open(
        &self,
        raw: Vec<Spanned<RawOnOpen>>,
    ) -> Result<Vec<OnOpenItem>, ScenarioError> {
        if let Some(extra) = raw.get(MAX_ON_OPEN_ITEMS) {
            return Err(self.error(
                extra,
                &format!("clients.on_open[{MAX_ON_OPEN_ITEMS}]"),
                format!(
                    "expected at most {MAX_ON_OPEN_ITEMS} items, found {}",
                    raw.len()
                ),
            ));
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, item)| self.on_open_item(i, item))
            .collect()
    }

    fn on_open_item(
        &self,
        index: usize,
        item: Spanned<RawOnOpen>,
    ) -> Result<OnOpenItem, ScenarioError> {
        let path = format!("clients.on_open[{index}]");
        let frame = match (&item.value.text, &item.value.binary_hex) {
            (Some(text), None) => {
                let path = format!("{path}.text");
                if text.value.is_empty() {
                    return Err(self.error(text, &path, "expected a non-empty text, found \"\""));
                }
                self.within_limit(text, &path, text.value.len())?;
                let template =
                    Template::parse(&text.value).map_err(|what| self.error(text, &path, what))?;
                OnOpenFrame::Text(template)
            }
            (None, Some(hex)) => {
                let path = format!("{path}.binary_hex");
                let bytes = decode_hex(&hex.value).map_err(|what| self.error(hex, &path, what))?;
                self.within_limit(hex, &path, bytes.len())?;
                OnOpenFrame::Binary(bytes)
            }
            (Some(_), Some(second)) => {
                return Err(self.error(
                    second,
                    &format!("{path}.binary_hex"),
                    "expected one of text and binary_hex in an item, found both; make two items",
                ));
            }
            (None, None) => {
                return Err(self.error(
                    &item,
                    &path,
                    "expected text or binary_hex (the frame to send), found neither",
                ));
            }
        };
        let expect = item
            .value
            .expect
            .map(|expect| self.expect(&path, expect))
            .transpose()?;
        Ok(OnOpenItem { frame, expect })
    }

    fn expect(&self, item_path: &str, raw: RawExpect) -> Result<Expect, ScenarioError> {
        let path = format!("{item_path}.expect.text_contains");
        let text_contains = &raw.text_contains;
        if text_contains.value.is_empty() {
            return Err(self.error(
                text_contains,
                &path,
                "expected a non-empty text, found \"\"",
            ));
        }
        self.within_limit(text_contains, &path, text_contains.value.len())?;
        let within = self
            .optional_value(
                raw.within.as_ref(),
                &format!("{item_path}.expect.within"),
                PositiveDur(DEFAULT_EXPECT_WITHIN),
            )?
            .0;
        Ok(Expect {
            text_contains: text_contains.value.clone(),
            within,
        })
    }

    fn within_limit(
        &self,
        value: &Spanned<String>,
        path: &str,
        bytes: usize,
    ) -> Result<(), ScenarioError> {
        if bytes > MAX_ON_OPEN_BYTES {
            return Err(self.error(
                value,
                path,
                format!(
                    "expected at most 64 KiB, found {bytes} bytes ({})",
                    quoted(&value.value)
                ),
            ));
        }
        Ok(())
    }
}
