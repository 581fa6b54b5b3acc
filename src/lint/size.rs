//! Size headroom against IAM's limits, counted as IAM counts (no whitespace outside strings):
//! an error over the limit, a warning within 10 % of it (the next upstream policy update or
//! one more statement would break the apply).

use super::{Findings, Kind, Severity};
use crate::policy_doc::{MANAGED_POLICY_LIMIT, TRUST_POLICY_LIMIT, iam_length};
use serde_json::Value;

/// IAM's limit for a document of `kind`.
pub fn limit(kind: Kind) -> usize {
    match kind {
        Kind::Permission => MANAGED_POLICY_LIMIT,
        Kind::Trust => TRUST_POLICY_LIMIT,
    }
}

/// The largest length with at least 10 % of `limit` left (headroom `limit - n` of at least a tenth).
pub fn comfortable(limit: usize) -> usize {
    // n <= limit - limit/10, in integers without rounding the tenth down: 10 * (limit - n) >= limit.
    limit - limit.div_ceil(10)
}

/// Checks `doc`'s length against the limit of `kind`.
pub fn check(doc: &Value, kind: Kind, out: &mut Findings<'_>) {
    let n = iam_length(doc);
    let limit = limit(kind);
    let what = kind.what();
    if n > limit {
        out.doc(
            "policy-size",
            Severity::Error,
            format!("{what} is {n} characters without whitespace, over IAM's limit of {limit}; IAM refuses it"),
        );
    } else if n > comfortable(limit) {
        let left = limit - n;
        out.doc(
            "policy-size",
            Severity::Warning,
            format!(
                "{what} is {n} characters without whitespace: {left} left of IAM's limit of {limit}, under 10 % headroom"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Finding;
    use serde_json::json;

    /// A document whose IAM length is exactly `n`.
    fn doc_of_length(n: usize) -> Value {
        let base =
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":""}]});
        let pad = n - iam_length(&base);
        let d = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"r".repeat(pad)}]});
        assert_eq!(iam_length(&d), n);
        d
    }

    fn run(n: usize, kind: Kind) -> Vec<Finding> {
        let mut out = Findings::new("f.json");
        check(&doc_of_length(n), kind, &mut out);
        out.into_vec()
    }

    #[test]
    fn headroom_boundaries_of_a_managed_policy() {
        // 10 % of 6,144 is 614.4: 615 left is fine, 614 left is not.
        assert_eq!(comfortable(MANAGED_POLICY_LIMIT), 5_529);
        assert!(run(5_529, Kind::Permission).is_empty());
        let f = run(5_530, Kind::Permission);
        assert_eq!((f[0].rule, f[0].severity), ("policy-size", Severity::Warning));
        assert!(
            f[0].message.contains("614 left of IAM's limit of 6144"),
            "{}",
            f[0].message
        );
        assert_eq!(run(6_144, Kind::Permission)[0].severity, Severity::Warning);
        let f = run(6_145, Kind::Permission);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Error));
        assert!(f[0].message.contains("6145 characters"), "{}", f[0].message);
    }

    #[test]
    fn headroom_boundaries_of_a_trust_policy() {
        // 10 % of 2,048 is 204.8: 205 left is fine, 204 left is not.
        assert_eq!(comfortable(TRUST_POLICY_LIMIT), 1_843);
        assert!(run(1_843, Kind::Trust).is_empty());
        assert_eq!(run(1_844, Kind::Trust)[0].severity, Severity::Warning);
        assert_eq!(run(2_048, Kind::Trust)[0].severity, Severity::Warning);
        let f = run(2_049, Kind::Trust);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].message.starts_with("trust policy is 2049"), "{}", f[0].message);
        // The trust limit applies to trust policies only.
        assert!(run(2_049, Kind::Permission).is_empty());
    }
}
