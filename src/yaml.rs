//! YAML parsing in one place. serde-saphyr is used (not the archived serde_yaml) because its
//! errors carry line and column and a snippet, and it never panics on hostile input.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// Parses one YAML document from `text`; errors name `origin` (a file path or label).
pub fn parse<T: DeserializeOwned>(origin: &str, text: &str) -> Result<T> {
    serde_saphyr::from_str(text).map_err(|e| Error::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })
}

/// Parses every document of a multi-document YAML stream.
pub fn parse_all<T: DeserializeOwned>(origin: &str, text: &str) -> Result<Vec<T>> {
    serde_saphyr::from_multiple(text).map_err(|e| Error::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })
}
