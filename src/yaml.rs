//! YAML parsing in one place. serde-saphyr is used (not the archived serde_yaml) because its
//! errors carry line and column and a snippet, and it never panics on hostile input.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// Parses one YAML document from `text`; errors name `origin` (a file path or label).
pub fn parse<T: DeserializeOwned>(origin: &str, text: &str) -> Result<T> {
    serde_saphyr::from_str(text).map_err(|e| Error::Parse {
        path: origin.to_string(),
        message: message(&e, origin),
    })
}

/// Parses every document of a multi-document YAML stream.
pub fn parse_all<T: DeserializeOwned>(origin: &str, text: &str) -> Result<Vec<T>> {
    serde_saphyr::from_multiple(text).map_err(|e| Error::Parse {
        path: origin.to_string(),
        message: message(&e, origin),
    })
}

/// The parser's message with its snippet labelled `origin` (not `<input>`), without the
/// parser's own `error: ` prefix (the CLI prints one).
fn message(e: &serde_saphyr::Error, origin: &str) -> String {
    let text = e.render_with_options(serde_saphyr::render_options! { source_name: Some(origin) });
    match text.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}
