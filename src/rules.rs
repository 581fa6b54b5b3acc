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

/// ARN of a managed policy in `partition`: `arn:<partition>:iam::<12 digits or aws>:policy/
/// [path/]name`, path parts and name of IAM name characters (the name 1-128 of them, the IAM
/// path `/path/` at most 512).
pub fn managed_policy_arn(field: &str, value: &str, partition: &str) -> Result<()> {
    let rule = format!(
        "must be a managed policy ARN `arn:{partition}:iam::<12-digit account or aws>:policy/[path/]name` in the cluster's \
         partition `{partition}`, path parts and name of letters, digits and `_+=,.@-` (name 1-128 characters, path at most 512)"
    );
    let rest = value
        .strip_prefix(&format!("arn:{partition}:iam::"))
        .and_then(|r| r.split_once(":policy/"));
    let ok = rest.is_some_and(|(account, path)| {
        let parts: Vec<&str> = path.split('/').collect();
        let name = parts[parts.len() - 1];
        (account == "aws" || account_id("", account).is_ok())
            && (1..=128).contains(&name.len())
            // IAM's path is `/` + the parts before the name, each followed by `/`.
            && 1 + path.len() - name.len() <= 512
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(is_iam_name_char))
    });
    check(ok, field, value, &rule)
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

/// IAM tag key: 1-128 characters of letters, digits, spaces and `_.:/=+-@`; `aws:` is reserved.
pub fn tag_key(field: &str, value: &str) -> Result<()> {
    let ok = (1..=128).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
        && !value.to_ascii_lowercase().starts_with("aws:");
    check(
        ok,
        field,
        value,
        "must be 1-128 letters, digits, spaces and `_.:/=+-@`, not starting with `aws:` (IAM tag key rules)",
    )
}

/// IAM tag value: 0-256 characters of letters, digits, spaces and `_.:/=+-@`.
pub fn tag_value(field: &str, value: &str) -> Result<()> {
    let ok = value.chars().count() <= 256
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c));
    check(
        ok,
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

/// OIDC issuer URL: `https://host[/path]`, no query, fragment, user info or whitespace.
pub fn oidc_issuer(field: &str, value: &str) -> Result<Issuer> {
    let fail = |rule: &str| Err(Error::invalid(field, value, rule));
    let Some(rest) = value.strip_prefix("https://") else {
        return fail("must start with `https://` (IAM only trusts https issuers)");
    };
    let rest = rest.trim_end_matches('/');
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return fail("must name a host after `https://`");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return fail("host must be letters, digits, `.` and `-` (no port, user info or spaces)");
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b)) || rest.contains("//") {
        return fail("path must be letters, digits and `./-_` (no query, fragment or empty segment)");
    }
    Ok(Issuer {
        url: format!("https://{rest}"),
        host_path: rest.to_string(),
    })
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
