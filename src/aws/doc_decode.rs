//! Policy documents as IAM returns them: real AWS URL-encodes them (RFC 3986 percent-encoding,
//! where `+` is a literal plus, not a space), the local emulator returns some as plain JSON.
//! Also the pretty form and the unified diff the plan shows.

use crate::error::{Error, Result};
use serde_json::Value;

/// Parses a document returned by IAM (`GetPolicyVersion`, `GetRole`): plain JSON as is,
/// otherwise percent-decoded first. `+` is never turned into a space.
pub fn decode(raw: &str, what: &str) -> Result<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|e| {
        Error::Aws(format!(
            "{what}: the document IAM returned is not valid UTF-8 after percent-decoding: {e}"
        ))
    })?;
    serde_json::from_str(&decoded)
        .map_err(|e| Error::Aws(format!("{what}: the document IAM returned is not JSON: {e}")))
}

/// Indented JSON with a final newline, the form diffs are made of.
pub fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Unified diff of two documents' pretty forms (`old` absent: everything is added).
pub fn diff(old: Option<&Value>, new: &Value, old_label: &str, new_label: &str) -> String {
    let old_text = old.map(pretty).unwrap_or_default();
    let new_text = pretty(new);
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_plain_and_encoded_without_touching_plus() {
        let want = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:b+c","Resource":"*"}]});
        let plain =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:b+c", "Resource": "*"}]}"#;
        assert_eq!(decode(plain, "t").unwrap(), want);
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22a%3Ab%2Bc%22%2C%20%22Resource%22%3A%20%22%2A%22%7D%5D%7D";
        assert_eq!(decode(encoded, "t").unwrap(), want);
        // A literal `+` left unencoded stays a plus.
        let half = "%7B%22Version%22:%222012-10-17%22,%22Statement%22:[{%22Effect%22:%22Allow%22,%22Action%22:%22a:b+c%22,%22Resource%22:%22*%22}]}";
        assert_eq!(decode(half, "t").unwrap(), want);
        assert!(decode("%7Bnot json", "t").is_err());
    }

    #[test]
    fn diffs_pretty_json() {
        let d = diff(Some(&json!({"a":1})), &json!({"a":2}), "live", "rendered");
        assert!(d.contains("-  \"a\": 1") && d.contains("+  \"a\": 2"), "{d}");
    }
}
