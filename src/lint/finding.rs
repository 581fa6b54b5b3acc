//! What `irsagen lint` reports: findings with a severity, a rule id and where they are, and the
//! table of rules (the README's "irsagen lint" table is checked against it).

use serde::Serialize;

/// How bad a finding is. `error` fails `irsagen lint` (exit 1); the others are told only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document is wrong or grants far more than it should.
    Error,
    /// Worth a look; accepted where the README says so.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The word printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file, as given or relative to the bundle folder (`/`-separated).
    pub file: String,
    /// Index of the statement in `Statement` (0-based), when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    /// The rule's id (see [`RULES`]).
    pub rule: &'static str,
    /// How bad.
    pub severity: Severity,
    /// The statement's `Sid`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Finding {
    /// Where the finding is, for text output: `file`, `file Statement[2]` or
    /// `file Statement[2] (Sid "X")`.
    pub fn location(&self) -> String {
        let mut s = self.file.clone();
        if let Some(i) = self.statement {
            s.push_str(&format!(" Statement[{i}]"));
        }
        if let Some(sid) = &self.sid {
            s.push_str(&format!(" (Sid {})", serde_json::Value::String(sid.clone())));
        }
        s
    }
}

/// One rule: its id, the severities it reports at and what it checks.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The id findings carry.
    pub id: &'static str,
    /// Where it applies: `permission`, `trust`, `both` or `bundle`.
    pub applies_to: &'static str,
    /// The severities it can report, most severe first.
    pub severities: &'static [Severity],
    /// One sentence: what fires it.
    pub about: &'static str,
}

use Severity::{Error as E, Info as I, Warning as W};

/// Every rule of `irsagen lint`.
pub const RULES: &[Rule] = &[
    Rule {
        id: "policy-shape",
        applies_to: "both",
        severities: &[E],
        about: "the file is JSON but not an IAM policy document (the same structural check render applies); no other rule runs on it",
    },
    Rule {
        id: "unknown-service",
        applies_to: "both",
        severities: &[E],
        about: "an action's service prefix is not in the bundled catalogue of IAM actions",
    },
    Rule {
        id: "unknown-action",
        applies_to: "both",
        severities: &[E],
        about: "an action (or a wildcard pattern such as `ec2:Describe*`) names no action of its service in the catalogue",
    },
    Rule {
        id: "allow-all-actions",
        applies_to: "both",
        severities: &[W],
        about: "an Allow statement grants `*`: every action of every service",
    },
    Rule {
        id: "allow-not-action",
        applies_to: "both",
        severities: &[E],
        about: "an Allow statement uses `NotAction`: it grants every action not listed, including ones AWS adds later",
    },
    Rule {
        id: "allow-not-resource",
        applies_to: "both",
        severities: &[E],
        about: "an Allow statement uses `NotResource`: it grants on every resource not listed",
    },
    Rule {
        id: "allow-not-principal",
        applies_to: "trust",
        severities: &[E],
        about: "an Allow statement uses `NotPrincipal`: every principal not listed may assume the role",
    },
    Rule {
        id: "wide-resource",
        applies_to: "permission",
        severities: &[W, I],
        about: "a statement still grants on the wide resource a preset parameter would narrow (`--set PRESET.PARAM=`); a warning when it grants write actions (not List/Read), info otherwise",
    },
    Rule {
        id: "policy-size",
        applies_to: "both",
        severities: &[E, W],
        about: "the document without whitespace is over IAM's limit (6,144 characters for a managed policy, 2,048 for a trust policy; error) or within 10 % of it (warning)",
    },
    Rule {
        id: "trust-any-principal",
        applies_to: "trust",
        severities: &[E],
        about: "an Allow statement's principal is `*`: anyone may assume the role",
    },
    Rule {
        id: "trust-no-subject",
        applies_to: "trust",
        severities: &[E],
        about: "an IRSA statement (OIDC provider, `sts:AssumeRoleWithWebIdentity`) has no `<issuer>:sub` condition: every ServiceAccount of the cluster may assume the role (an audience-only trust)",
    },
    Rule {
        id: "trust-no-audience",
        applies_to: "trust",
        severities: &[W],
        about: "an IRSA statement has no `<issuer>:aud` condition (irsagen renders `sts.amazonaws.com`)",
    },
    Rule {
        id: "trust-wildcard-subject",
        applies_to: "trust",
        severities: &[E, W],
        about: "an IRSA statement compares its subject with `StringLike`: an error when the value has `*` or `?` (many ServiceAccounts match), a warning without (use `StringEquals`)",
    },
    Rule {
        id: "trust-foreign-principal",
        applies_to: "trust",
        severities: &[E],
        about: "a principal ARN or account id, `aws:SourceAccount`, `aws:SourceArn` or the `eks-cluster-arn` session tag names another account or partition than the bundle's (`--account`/`--partition` for loose files)",
    },
    Rule {
        id: "trust-pod-identity-unscoped",
        applies_to: "trust",
        severities: &[E, W],
        about: "a Pod Identity statement (`pods.eks.amazonaws.com`) lacks the `StringEquals` session-tag conditions on cluster ARN, namespace and ServiceAccount: an error, or a warning when the bundle's preset chose `podIdentityTrust: unscoped` and the statement keeps `aws:SourceAccount`",
    },
    Rule {
        id: "bundle-incomplete",
        applies_to: "bundle",
        severities: &[W],
        about: "the folder's manifest says a write into it was cut short: the files may be a mix of two renders",
    },
    Rule {
        id: "preset-unknown",
        applies_to: "bundle",
        severities: &[I],
        about: "a preset of the bundle is neither built in nor in `--presets-dir`, so its narrowing rules were not checked",
    },
];

/// The rule with `id`; panics on a typo, which the unit tests catch.
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("lint rule `{id}` is not in RULES"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_have_a_severity() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "{} twice", r.id);
            assert!(r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{}", r.id);
            assert!(!r.severities.is_empty(), "{}", r.id);
            assert!(
                ["permission", "trust", "both", "bundle"].contains(&r.applies_to),
                "{}",
                r.id
            );
        }
        assert_eq!(rule("policy-size").id, "policy-size");
    }

    #[test]
    #[should_panic(expected = "not in RULES")]
    fn an_unknown_rule_id_panics_in_tests() {
        rule("no-such-rule");
    }

    #[test]
    fn location_names_statement_and_sid() {
        let mut f = Finding {
            file: "iam/x/policy.json".into(),
            statement: None,
            rule: "policy-size",
            severity: Severity::Warning,
            sid: None,
            message: String::new(),
        };
        assert_eq!(f.location(), "iam/x/policy.json");
        f.statement = Some(2);
        assert_eq!(f.location(), "iam/x/policy.json Statement[2]");
        f.sid = Some("Allow \"x\"".into());
        assert_eq!(f.location(), r#"iam/x/policy.json Statement[2] (Sid "Allow \"x\"")"#);
    }
}
