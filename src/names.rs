//! Derived names that must fit a length limit: cut, then made unique again with a hash of the
//! full name, so two long names that share a prefix never collide (eksctl's truncation does).

use sha2::{Digest, Sha256};

/// `full` if it fits in `max` characters, else its first part, `-` and 8 hex digits of its SHA-256.
pub fn bounded(full: &str, max: usize) -> String {
    if full.len() <= max {
        return full.to_string();
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = max - hash.len() - 1;
    // Names here are ASCII (validated), so cutting at a byte index is a character cut.
    let head = full[..keep].trim_end_matches(['-', '.', '_']);
    format!("{head}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn keeps_short_and_hashes_long() {
        assert_eq!(bounded("abc", 64), "abc");
        let a = bounded(&format!("{}-one", "x".repeat(70)), 64);
        let b = bounded(&format!("{}-two", "x".repeat(70)), 64);
        assert!(a.len() <= 64 && b.len() <= 64);
        assert_ne!(a, b);
        assert_eq!(a, bounded(&format!("{}-one", "x".repeat(70)), 64));
    }
}
