//! Scenario files: the YAML schema (`raw`), its validation (`validate`, through the checked
//! value types of `value`), the validated model the engine runs (`model`, `fault`,
//! `on_open`, `stream`), and errors that name file, line and column.

pub mod fault;
pub mod knobs;
mod model;
pub mod on_open;
mod raw;
pub mod stages;
pub mod stream;
mod url;
mod validate;
pub mod value;

#[cfg(test)]
mod tests;

pub use model::*;
pub use validate::ENGINE_IO_QUERY;

use std::path::Path;

/// Why a scenario could not be loaded. Displayed as `FILE:LINE:COL: what was expected`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: larger than {limit} bytes; a scenario file is at most 1 MiB")]
    TooLarge { file: String, limit: u64 },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Largest scenario file read (1 MiB): a scenario is a page of YAML, and `check /dev/zero` must
/// end.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    use std::io::Read;

    let file = path.display().to_string();
    let read_error = |source| ScenarioError::Read {
        file: file.clone(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    from_bytes(&bytes, &file)
}

/// Validates a scenario file's bytes as `load` does once they are read: at most
/// `MAX_FILE_BYTES`, UTF-8, then `parse`. `file` is only used in error messages.
pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Scenario, ScenarioError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScenarioError::TooLarge {
            file: file.to_string(),
            limit: MAX_FILE_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|err| {
        // The valid prefix is UTF-8, so it can be read as text to place the bad byte.
        let valid = String::from_utf8_lossy(&bytes[..err.valid_up_to()]);
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ScenarioError::Invalid {
            file: file.to_string(),
            line,
            column,
            message: "invalid UTF-8: a scenario file must be UTF-8 text".to_string(),
        }
    })?;
    parse(text, file)
}

/// Parses a `ws[s]://host[:port][/path]` URL the way a scenario's `target.url` is parsed (but
/// without `embedded`, for the standalone proxy's upstream): whether it is `wss://`, and the rest.
pub fn parse_upstream_url(url: &str) -> Result<(bool, WsUrl), String> {
    url::parse_any(url, "ws[s]://host[:port][/path]")
}

/// Parses and validates scenario text; `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    validate::parse(text, file)
}
