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

    /// `value` passes and each of `bad` fails.
    fn pass_fail(f: fn(&str, &str) -> Result<()>, good: &[&str], bad: &[&str]) {
        for v in good {
            assert!(f("f", v).is_ok(), "should pass: {v:?}");
        }
        for v in bad {
            let e = f("f", v).expect_err(v);
            assert!(e.to_string().starts_with("invalid f `"), "{e}");
        }
    }

    /// `n` copies of `c`.
    fn n(c: &str, n: usize) -> String {
        c.repeat(n)
    }

    #[test]
    fn lengths_pass_at_the_limit_and_fail_one_past_it() {
        pass_fail(cluster_name, &[&n("c", 100), "c"], &[&n("c", 101), ""]);
        pass_fail(namespace, &[&n("n", 63), "n"], &[&n("n", 64), ""]);
        // 63.63.63.61 = 253 characters; one more in the last label = 254.
        let sub = |last: usize| format!("{0}.{0}.{0}.{1}", n("a", 63), n("a", last));
        assert_eq!(sub(61).len(), 253);
        pass_fail(object_name, &[&sub(61)], &[&sub(62), ""]);
        pass_fail(role_name, &[&n("r", 64), "r"], &[&n("r", 65), ""]);
        pass_fail(policy_name, &[&n("p", 128), "p"], &[&n("p", 129), ""]);
        pass_fail(preset_name, &[&n("p", 63)], &[&n("p", 64), ""]);
        // Tag lengths count characters, not bytes.
        pass_fail(tag_key, &[&n("é", 128), "k"], &[&n("é", 129), ""]);
        pass_fail(tag_value, &[&n("é", 256), ""], &[&n("é", 257)]);
    }

    #[test]
    fn characters_of_each_kind_of_name() {
        pass_fail(
            account_id,
            &["000000000000"],
            &["12345678901a", "1234567890 1", "１２３４５６７８９０１２"],
        );
        pass_fail(
            cluster_name,
            &["a-b_c", "0abc", "A"],
            &["-a", "_a", "a.b", "a b", "a/b", "é"],
        );
        pass_fail(namespace, &["a-1", "0a", "a"], &["A", "-a", "a-", "a_b", "a.b", "a b"]);
        pass_fail(object_name, &["a.b-c", "a"], &["a..b", ".a", "a.", "a.-b", "A", "a_b"]);
        pass_fail(
            role_name,
            &["a_b+c=d,e.f@g-h", "A1"],
            &["a/b", "a b", "a:b", "a\"b", "a$b", "é"],
        );
        pass_fail(policy_name, &["A_b+=,.@-1"], &["a/b", "a*b", "a b"]);
        pass_fail(preset_name, &["cluster-autoscaler"], &["Bad", "a_b", "a.b"]);
    }

    #[test]
    fn tag_keys_and_values_take_iam_characters_only() {
        let legal = [
            "Env", "a b", "a_b", "a.b", "a:b", "a/b", "a=b", "a+b", "a-b", "a@b", "Kéy", "日本", "1",
        ];
        let illegal = [
            "a\"b", "a$b", "a\nb", "a\tb", "a'b", "a{b", "a}b", "a*b", "a,b", "a;b", "a#b", "a\\b",
        ];
        pass_fail(tag_key, &legal, &illegal);
        pass_fail(tag_value, &legal, &illegal);
    }

    #[test]
    fn reserved_tag_keys_in_any_letter_case() {
        pass_fail(
            tag_key,
            &["managed", "managed-by-team", "irsagen", "irsagen-x", "my:aws:x", "awsx"],
            &[
                "aws:x",
                "AWS:x",
                "Aws:",
                "managed-by",
                "Managed-By",
                "MANAGED-BY",
                "irsagen:",
                "IRSAGEN:cluster",
                "irsagen:x",
            ],
        );
        let e = tag_key("f", "Managed-By").unwrap_err().to_string();
        assert!(e.contains("reserved") && e.contains("ignore letter case"), "{e}");
        let e = tag_key("f", "AWS:x").unwrap_err().to_string();
        assert!(e.contains("`aws:`"), "{e}");
    }

    #[test]
    fn issuer_hosts_are_dns_names() {
        let ok = |h: &str| oidc_issuer("o", &format!("https://{h}/id/X")).is_ok();
        // 63-character labels and a 253-character host pass; 64 and 254 fail.
        let label = n("a", 63);
        assert!(ok(&format!("{label}.example.com")));
        assert!(!ok(&format!("{label}a.example.com")));
        let host = |last: usize| format!("{label}.{label}.{label}.{}", n("b", last));
        assert_eq!(host(61).len(), 253);
        assert!(ok(&host(61)));
        assert!(!ok(&host(62)));
        for h in ["a.b", "oidc.eks.us-east-1.amazonaws.com", "x-1.y2", "A.B", "1a.2b"] {
            assert!(ok(h), "{h}");
        }
        for h in [
            "localhost",
            "1.2.3.4",
            "a.123",
            "-a.b",
            "a-.b",
            "a.-b",
            "a.b-",
            "a..b",
            ".a.b",
            "a.b.",
            "a_b.c",
            "a b.c",
            "a.b:443",
            "u@a.b",
            "[::1]",
            "é.com",
        ] {
            assert!(!ok(h), "{h}");
        }
        let e = oidc_issuer("o", "https://1.2.3.4").unwrap_err().to_string();
        assert!(e.contains("DNS name"), "{e}");
    }

    #[test]
    fn issuer_paths_have_no_dot_segments() {
        let i = oidc_issuer("o", "https://a.b/id/x.y-z_1///").unwrap();
        assert_eq!(i.url, "https://a.b/id/x.y-z_1");
        assert_eq!(i.host_path, "a.b/id/x.y-z_1");
        assert_eq!(oidc_issuer("o", "https://a.b").unwrap().host_path, "a.b");
        for (url, rule) in [
            ("https://a.b/./x", "`.` or `..` segments"),
            ("https://a.b/x/..", "`.` or `..` segments"),
            ("https://a.b//x", "empty"),
            ("https://a.b/x?y", "no query"),
            ("https://a.b/x#y", "no query"),
            ("https://a.b/x y", "no query"),
            ("https://a.b/x%2e", "no query"),
            ("https:///x", "must name a host"),
            ("https://", "must name a host"),
            ("http://a.b", "https://"),
            ("a.b", "https://"),
        ] {
            let e = oidc_issuer("o", url).expect_err(url).to_string();
            assert!(e.contains(rule), "{url}: {e}");
            assert!(e.starts_with(&format!("invalid o `{url}`")), "{e}");
        }
    }

    #[test]
    fn eks_issuer_hosts_name_their_region() {
        let r = |h: &str| eks_issuer_region(h);
        assert_eq!(r("oidc.eks.us-east-1.amazonaws.com/id/X").as_deref(), Some("us-east-1"));
        assert_eq!(
            r("oidc.eks.cn-north-1.amazonaws.com.cn/id/X").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(r("OIDC.EKS.EU-WEST-1.AMAZONAWS.COM").as_deref(), Some("eu-west-1"));
        for h in [
            "oidc.eks..amazonaws.com/id/X",
            "oidc.eks.a.b.amazonaws.com/id/X",
            "oidc.eks.amazonaws.com",
            "oidc.example.com/eks/us-east-1",
            "x.oidc.eks.us-east-1.amazonaws.com",
            "oidc.eks.us-east-1.amazonaws.com.evil.com",
            "token.actions.githubusercontent.com",
        ] {
            assert_eq!(r(h), None, "{h}");
        }
    }
}
