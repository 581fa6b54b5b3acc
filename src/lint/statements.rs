//! Rules for every statement of every document: action names against the catalogue, `*`, and
//! the `Not*` elements with Allow.

use super::catalogue::{Catalogue, Lookup};
use super::{Findings, Severity, Stmt};
use serde_json::Value;

/// Checks the statements of `doc` (which passed `policy_doc::check`).
pub fn check(doc: &Value, catalogue: &Catalogue, out: &mut Findings<'_>) {
    for st in Stmt::all(doc) {
        actions(&st, catalogue, out);
        if !st.allows() {
            continue;
        }
        if st.value.contains_key("NotAction") {
            out.at(
                &st,
                "allow-not-action",
                Severity::Error,
                "Allow with `NotAction` grants every action not listed, including actions AWS adds later; list the actions in `Action`".into(),
            );
        }
        if st.value.contains_key("NotResource") {
            out.at(
                &st,
                "allow-not-resource",
                Severity::Error,
                "Allow with `NotResource` grants on every resource not listed; list the resources in `Resource`".into(),
            );
        }
        if st.value.contains_key("NotPrincipal") {
            out.at(
                &st,
                "allow-not-principal",
                Severity::Error,
                "Allow with `NotPrincipal` lets every principal not listed assume the role; name the principal in `Principal`".into(),
            );
        }
    }
}

/// Every name in `Action` and `NotAction` (a typo in a Deny or a NotAction silently does nothing).
fn actions(st: &Stmt<'_>, catalogue: &Catalogue, out: &mut Findings<'_>) {
    for key in ["Action", "NotAction"] {
        for a in st.strings(key) {
            match catalogue.lookup(a) {
                Lookup::Everything if key == "Action" && st.allows() => out.at(
                    st,
                    "allow-all-actions",
                    Severity::Warning,
                    "`Action: \"*\"` grants every action of every service".into(),
                ),
                Lookup::Everything | Lookup::Actions(_) | Lookup::AllowListed(_) => {}
                Lookup::UnknownService => {
                    let svc = a.split_once(':').map_or(a, |(s, _)| s);
                    out.at(
                        st,
                        "unknown-service",
                        Severity::Error,
                        format!("{key} `{a}`: no service `{svc}` in the catalogue of IAM actions; check the prefix"),
                    );
                }
                Lookup::UnknownAction => {
                    let svc = a.split_once(':').map_or(a, |(s, _)| s);
                    let what = if a.contains(['*', '?']) {
                        format!("matches no action of service `{svc}`")
                    } else {
                        format!("is not an action of service `{svc}`")
                    };
                    out.at(
                        st,
                        "unknown-action",
                        Severity::Error,
                        format!(
                            "{key} `{a}` {what} in the catalogue of IAM actions; check the spelling (an action AWS added after the catalogue's date goes into data/iam-actions-extra.tsv)"
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Finding;
    use serde_json::json;

    fn run(statement: Value) -> Vec<Finding> {
        let doc = json!({"Version":"2012-10-17","Statement":[statement]});
        let mut out = Findings::new("f.json");
        check(&doc, Catalogue::bundled(), &mut out);
        out.into_vec()
    }

    fn rules(f: &[Finding]) -> Vec<(&str, Severity)> {
        f.iter().map(|f| (f.rule, f.severity)).collect()
    }

    #[test]
    fn known_actions_and_matching_wildcards_pass() {
        let f = run(
            json!({"Effect":"Allow","Action":["ec2:Describe*","ec2:createvolume","s3files:*","ec2:CreateVolum?"],"Resource":"*"}),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn an_unknown_service_is_an_error() {
        let f = run(json!({"Effect":"Allow","Action":["ec3:DescribeInstances"],"Resource":"*"}));
        assert_eq!(rules(&f), [("unknown-service", Severity::Error)]);
        assert!(f[0].message.contains("no service `ec3`"), "{}", f[0].message);
    }

    #[test]
    fn an_unknown_action_or_empty_wildcard_is_an_error_in_allow_deny_and_not_action() {
        let f = run(json!({"Effect":"Allow","Action":["ec2:DescribeInstancez","ec2:Descrive*"],"Resource":"*"}));
        assert_eq!(rules(&f), [("unknown-action", Severity::Error); 2]);
        assert!(
            f[0].message
                .contains("`ec2:DescribeInstancez` is not an action of service `ec2`"),
            "{}",
            f[0].message
        );
        assert!(
            f[1].message.contains("`ec2:Descrive*` matches no action"),
            "{}",
            f[1].message
        );
        let f = run(json!({"Effect":"Deny","NotAction":"s3:GetObjekt","Resource":"*"}));
        assert_eq!(rules(&f), [("unknown-action", Severity::Error)]);
        assert!(f[0].message.starts_with("NotAction"), "{}", f[0].message);
    }

    #[test]
    fn allow_star_is_a_warning_deny_star_is_not() {
        let f = run(json!({"Effect":"Allow","Action":"*","Resource":"*"}));
        assert_eq!(rules(&f), [("allow-all-actions", Severity::Warning)]);
        assert!(run(json!({"Effect":"Deny","Action":"*","Resource":"*"})).is_empty());
    }

    #[test]
    fn not_action_not_resource_not_principal_with_allow_are_errors() {
        let f = run(json!({"Effect":"Allow","NotAction":"iam:*","Resource":"*"}));
        assert_eq!(rules(&f), [("allow-not-action", Severity::Error)]);
        let f = run(json!({"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}));
        assert_eq!(rules(&f), [("allow-not-resource", Severity::Error)]);
        let f = run(
            json!({"Effect":"Allow","Action":"sts:AssumeRole","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"}}),
        );
        assert_eq!(rules(&f), [("allow-not-principal", Severity::Error)]);
    }

    #[test]
    fn not_elements_with_deny_are_fine() {
        for st in [
            json!({"Effect":"Deny","NotAction":"iam:*","Resource":"*"}),
            json!({"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::mine/*"}),
            json!({"Effect":"Deny","Action":"sts:AssumeRole","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"}}),
        ] {
            assert!(run(st.clone()).is_empty(), "{st}");
        }
    }
}
