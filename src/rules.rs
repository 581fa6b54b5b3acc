//! Validation rules for every value that enters irsagen. Each function returns the value
//! (or a normalised form) or an [`Error::Invalid`] that names the field, value and rule.

use crate::error::{Error, Result};

/// `Ok` when `ok`, else the error naming field, value and rule.
fn check(ok: bool, field: &str, value: &str, rule: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(field, value, rule))
    }
}

/// AWS account id: exactly 12 digits.
pub fn account_id(field: &str, value: &str) -> Result<()> {
    check(
        value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()),
        field,
        value,
        "must be exactly 12 digits (an AWS account id)",
    )
}

/// EKS cluster name: 1-100 characters, starts with a letter or digit, then letters, digits, `-`, `_`.
pub fn cluster_name(field: &str, value: &str) -> Result<()> {
    let ok = (1..=100).contains(&value.len())
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    check(
        ok,
        field,
        value,
        "must be 1-100 characters of letters, digits, `-` and `_`, starting with a letter or digit (EKS cluster name rules)",
    )
}

/// Kubernetes namespace: a DNS-1123 label (at most 63 of `a-z0-9-`, alphanumeric at both ends).
pub fn namespace(field: &str, value: &str) -> Result<()> {
    check(
        is_dns1123_label(value),
        field,
        value,
        "must be a DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
    )
}

/// Kubernetes object name (ServiceAccount, Pod, Deployment): a DNS-1123 subdomain.
pub fn object_name(field: &str, value: &str) -> Result<()> {
    let ok = (1..=253).contains(&value.len()) && value.split('.').all(is_dns1123_label);
    check(
        ok,
        field,
        value,
        "must be a DNS-1123 subdomain: at most 253 lowercase letters, digits, `-` and `.`, each dot-separated part starting and ending with a letter or digit",
    )
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Characters IAM allows in role and policy names: `[\w+=,.@-]`.
fn is_iam_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)
}

/// IAM role name: 1-64 characters of `[A-Za-z0-9_+=,.@-]`.
pub fn role_name(field: &str, value: &str) -> Result<()> {
    check(
        (1..=64).contains(&value.len()) && value.bytes().all(is_iam_name_char),
        field,
        value,
        "must be 1-64 characters of letters, digits and `_+=,.@-` (IAM role name rules)",
    )
}

/// IAM managed policy name: 1-128 characters of `[A-Za-z0-9_+=,.@-]`.
pub fn policy_name(field: &str, value: &str) -> Result<()> {
    check(
        (1..=128).contains(&value.len()) && value.bytes().all(is_iam_name_char),
        field,
        value,
        "must be 1-128 characters of letters, digits and `_+=,.@-` (IAM policy name rules)",
    )
}

/// Preset name: a DNS-1123 label, so it can be a file name and a `--set` prefix.
pub fn preset_name(field: &str, value: &str) -> Result<()> {
    check(
        is_dns1123_label(value),
        field,
        value,
        "must be lowercase letters, digits and `-` (at most 63)",
    )
}

/// Characters IAM allows in tag keys and values: letters, digits, spaces and `_.:/=+-@`.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

/// Tag keys irsagen writes itself. IAM compares tag keys without regard to case, so a user's
/// `Managed-By` would collide with irsagen's `managed-by`: the check ignores case.
const RESERVED_TAG_KEY: &str = crate::component::MANAGED_BY_KEY;
const RESERVED_TAG_PREFIX: &str = crate::component::TAG_PREFIX;

/// A user's IAM tag key: 1-128 characters of letters, digits, spaces and `_.:/=+-@`; `aws:`
/// (AWS's own), `managed-by` and `irsagen:*` (irsagen's own) are reserved in any letter case.
pub fn tag_key(field: &str, value: &str) -> Result<()> {
    check(
        (1..=128).contains(&value.chars().count()) && value.chars().all(is_tag_char),
        field,
        value,
        "must be 1-128 letters, digits, spaces and `_.:/=+-@` (IAM tag key rules)",
    )?;
    let lower = value.to_lowercase();
    check(
        !lower.starts_with("aws:"),
        field,
        value,
        "must not start with `aws:` in any letter case (reserved for AWS)",
    )?;
    check(
        lower != RESERVED_TAG_KEY && !lower.starts_with(RESERVED_TAG_PREFIX),
        field,
        value,
        &format!(
            "is reserved: irsagen sets `{RESERVED_TAG_KEY}` and `{RESERVED_TAG_PREFIX}*` itself (IAM tag keys ignore letter case)"
        ),
    )
}

/// IAM tag value: 0-256 characters of letters, digits, spaces and `_.:/=+-@`.
pub fn tag_value(field: &str, value: &str) -> Result<()> {
    check(
        value.chars().count() <= 256 && value.chars().all(is_tag_char),
        field,
        value,
        "must be at most 256 letters, digits, spaces and `_.:/=+-@` (IAM tag value rules)",
    )
}

/// The parts of a validated OIDC issuer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The URL as normalised (no trailing `/`).
    pub url: String,
    /// Host and path without the scheme: the name IAM uses for the provider and condition keys.
    pub host_path: String,
}

/// A DNS name: dot-separated labels of 1-63 letters, digits and `-` (not at either end), at
/// most 253 characters, at least two labels, and a last label that is not all digits (so an
/// IP address is not one).
fn is_dns_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            let b = l.as_bytes();
            (1..=63).contains(&b.len())
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
        && !labels[labels.len() - 1].bytes().all(|c| c.is_ascii_digit())
}

/// OIDC issuer URL: `https://` and a DNS host name, then an optional path of letters, digits
/// and `./-_` without empty, `.` or `..` segments (IAM keys the provider by this text, so two
/// spellings of one URL would be two providers); no port, query, fragment, user info or
/// whitespace.
pub fn oidc_issuer(field: &str, value: &str) -> Result<Issuer> {
    let fail = |rule: &str| Err(Error::invalid(field, value, rule));
    let Some(rest) = value.strip_prefix("https://") else {
        return fail("must start with `https://` (IAM only trusts https issuers)");
    };
    let rest = rest.trim_end_matches('/');
    let mut parts = rest.split('/');
    let host = parts.next().unwrap_or("");
    if host.is_empty() {
        return fail("must name a host after `https://`");
    }
    if !is_dns_name(host) {
        return fail(
            "host must be a DNS name: dot-separated labels of letters, digits and `-` (no IP address, port, user info or spaces)",
        );
    }
    for segment in parts {
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
        {
            return fail("path must be letters, digits and `./-_` (no query, fragment or spaces)");
        }
        if matches!(segment, "" | "." | "..") {
            return fail("path must not have empty, `.` or `..` segments");
        }
    }
    Ok(Issuer {
        url: format!("https://{rest}"),
        host_path: rest.to_string(),
    })
}

/// The region an EKS issuer host names (`oidc.eks.<region>.amazonaws.com`, or `.com.cn` in
/// China), or `None` for any other host (a self-hosted issuer names no region).
pub fn eks_issuer_region(host_path: &str) -> Option<String> {
    // Host names ignore case; `OIDC.EKS.EU-WEST-1.AMAZONAWS.COM` names eu-west-1 too.
    let host = host_path.split('/').next()?.to_ascii_lowercase();
    let rest = host.strip_prefix("oidc.eks.")?;
    rest.strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
        .filter(|r| !r.is_empty() && !r.contains('.'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_values() {
        account_id("a", "012345678901").unwrap();
        cluster_name("c", "smallest-cluster").unwrap();
        cluster_name("c", "my_cluster_1").unwrap();
        namespace("n", "kube-system").unwrap();
        object_name("s", "efs-csi-controller-sa").unwrap();
        object_name("s", "a.b-c").unwrap();
        role_name("r", "irsa-x_y+=,.@-z").unwrap();
        tag_key("t", "Environment").unwrap();
        tag_value("t", "").unwrap();
        let i = oidc_issuer("o", "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123/").unwrap();
        assert_eq!(i.host_path, "oidc.eks.us-east-1.amazonaws.com/id/ABC123");
    }

    #[test]
    fn refuses_bad_values() {
        for v in ["12345678901", "1234567890123", "12345678901a", ""] {
            assert!(account_id("a", v).is_err(), "{v}");
        }
        for v in ["-x", "", "a b", "a.b", &"x".repeat(101)] {
            assert!(cluster_name("c", v).is_err(), "{v}");
        }
        for v in ["Kube", "a_b", "-a", "a-", "a.b", &"x".repeat(64), "a\nb"] {
            assert!(namespace("n", v).is_err(), "{v}");
        }
        for v in ["A", "a..b", "a\"b", "a: b", "{{x}}"] {
            assert!(object_name("s", v).is_err(), "{v}");
        }
        assert!(role_name("r", &"r".repeat(65)).is_err());
        assert!(role_name("r", "a/b").is_err());
        assert!(tag_key("t", "aws:foo").is_err());
        assert!(tag_value("t", "a\"b").is_err());
        for v in [
            "http://x",
            "https://",
            "https://a/b?c",
            "https://a:443/x",
            "https://a/b#c",
            "https://a/ b",
        ] {
            assert!(oidc_issuer("o", v).is_err(), "{v}");
        }
    }
}
