//! Scenario files: the YAML schema (`raw`), its validation (`validate`, through the checked
//! value types of `value`), the validated model the engine runs (`model`, `fault`), and errors
//! that name file, line and column.

pub mod fault;
pub mod knobs;
mod model;
mod raw;
mod url;
mod validate;
pub mod value;

#[cfg(test)]
mod tests;

pub use model::*;

use std::path::Path;

/// Why a scenario could not be loaded. Displayed as `FILE:LINE:COL: what was expected`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// Parses a `ws://host[:port][/path]` URL the way a scenario's `target.url` is parsed.
pub fn parse_ws_url(url: &str) -> Result<WsUrl, String> {
    match url::parse_url(url)? {
        TargetUrl::Ws(url) => Ok(url),
        TargetUrl::Embedded => Err(format!("expected ws://host[:port], found {url:?}")),
    }
}

/// Parses and validates scenario text; `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    validate::parse(text, file)
}
