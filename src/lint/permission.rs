//! Rules for permission policies beyond the common ones: a wide `Resource` that one of the
//! preset's parameters would narrow (`policy.narrow[]`), still present in the rendered document
//! because the parameter was not set.

use super::catalogue::{Catalogue, Lookup};
use super::narrow::Narrowing;
use super::{Findings, Severity, Stmt};
use serde_json::Value;

/// How many write actions a message names before `…`.
const NAMED: usize = 3;

/// Reports every Allow statement of `doc` that still grants on a resource one of `narrowing`'s
/// rules replaces. `partition`: the bundle's, so a rule's `arn:aws:` resource is compared as
/// the render wrote it.
pub fn check_narrowing(
    doc: &Value,
    preset: &str,
    narrowing: &Narrowing,
    partition: Option<&str>,
    catalogue: &Catalogue,
    out: &mut Findings<'_>,
) {
    for rule in &narrowing.rules {
        let wide = in_partition(&rule.resource, partition);
        for st in Stmt::all(doc) {
            if !st.allows() || !st.strings("Resource").contains(&wide.as_str()) {
                continue;
            }
            if let Some(sids) = &rule.sids {
                if !st.sid().is_some_and(|s| sids.iter().any(|x| x == s)) {
                    continue;
                }
            }
            let writes = write_actions(&st, catalogue);
            let hint = narrowing.set_hint(preset, &rule.parameter);
            let (severity, grants) = if writes.is_empty() {
                (Severity::Info, "grants read and list actions".to_string())
            } else {
                let mut named = writes.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
                if writes.len() > NAMED {
                    named.push_str(", …");
                }
                (Severity::Warning, format!("grants write actions ({named})"))
            };
            out.at(
                &st,
                "wide-resource",
                severity,
                format!(
                    "{grants} on `{wide}`; `{hint}` narrows it to `{}` (preset {preset}, parameter {})",
                    in_partition(&rule.to, partition),
                    rule.parameter
                ),
            );
        }
    }
}

/// The statement's actions whose access level is not List or Read, as written, in order.
fn write_actions(st: &Stmt<'_>, catalogue: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    for a in st.strings("Action") {
        let write = match catalogue.lookup(a) {
            Lookup::Everything | Lookup::AllowListed(_) => true,
            Lookup::Actions(found) => found.iter().any(|f| f.levels.is_write()),
            // Reported by the action rules already; not a reason to call the statement a write.
            Lookup::UnknownService | Lookup::UnknownAction => false,
        };
        if write && !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    }
    out
}

/// `text` with a leading `arn:aws:` moved to `partition` (as the render rewrites documents).
fn in_partition(text: &str, partition: Option<&str>) -> String {
    match (partition, text.strip_prefix("arn:aws:")) {
        (Some(p), Some(rest)) => format!("arn:{p}:{rest}"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Finding;
    use crate::lint::narrow::NarrowRule;
    use serde_json::json;

    fn narrowing(sids: Option<Vec<&str>>) -> Narrowing {
        Narrowing {
            rules: vec![NarrowRule {
                parameter: "hostedZoneIds".into(),
                resource: "arn:aws:route53:::hostedzone/*".into(),
                to: "arn:aws:route53:::hostedzone/{hostedZoneIds}".into(),
                sids: sids.map(|s| s.into_iter().map(str::to_string).collect()),
            }],
            examples: [("hostedZoneIds".to_string(), "Z0123456789ABCDEFGHIJ".to_string())].into(),
            lists: vec!["hostedZoneIds".into()],
        }
    }

    /// external-dns's upstream statement shape.
    fn doc(resource: &str) -> Value {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Change","Effect":"Allow","Action":["route53:ChangeResourceRecordSets"],"Resource":[resource]},
            {"Sid":"List","Effect":"Allow","Action":["route53:ListHostedZones","route53:ListResourceRecordSets"],"Resource":["*"]}
        ]})
    }

    fn run(doc: &Value, n: &Narrowing, partition: Option<&str>) -> Vec<Finding> {
        let mut out = Findings::new("iam/external-dns/policy.json");
        check_narrowing(doc, "external-dns", n, partition, Catalogue::bundled(), &mut out);
        out.into_vec()
    }

    #[test]
    fn a_wide_resource_on_write_actions_names_the_parameter() {
        let f = run(&doc("arn:aws:route53:::hostedzone/*"), &narrowing(None), Some("aws"));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].rule, f[0].severity, f[0].statement),
            ("wide-resource", Severity::Warning, Some(0))
        );
        assert_eq!(f[0].sid.as_deref(), Some("Change"));
        assert_eq!(
            f[0].message,
            "grants write actions (route53:ChangeResourceRecordSets) on `arn:aws:route53:::hostedzone/*`; \
             `--set external-dns.hostedZoneIds=Z0123456789ABCDEFGHIJ` narrows it to \
             `arn:aws:route53:::hostedzone/{hostedZoneIds}` (preset external-dns, parameter hostedZoneIds)"
        );
    }

    #[test]
    fn a_narrowed_resource_is_not_reported() {
        let d = doc("arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ");
        assert!(run(&d, &narrowing(None), Some("aws")).is_empty());
    }

    #[test]
    fn the_rules_resource_is_compared_in_the_bundles_partition() {
        let cn = doc("arn:aws-cn:route53:::hostedzone/*");
        assert_eq!(run(&cn, &narrowing(None), Some("aws-cn")).len(), 1);
        assert!(run(&cn, &narrowing(None), Some("aws")).is_empty());
    }

    #[test]
    fn sids_limit_the_rule_and_read_only_statements_are_info() {
        let mut n = narrowing(Some(vec!["List"]));
        n.rules[0].resource = "*".into();
        let f = run(&doc("arn:aws:route53:::hostedzone/*"), &n, None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].severity, f[0].statement), (Severity::Info, Some(1)));
        assert!(
            f[0].message.starts_with("grants read and list actions on `*`"),
            "{}",
            f[0].message
        );
        // A rule for other Sids does not fire.
        let n = narrowing(Some(vec!["Other"]));
        assert!(run(&doc("arn:aws:route53:::hostedzone/*"), &n, None).is_empty());
    }

    #[test]
    fn deny_statements_and_presets_without_rules_are_not_reported() {
        let d = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":"route53:ChangeResourceRecordSets","Resource":"arn:aws:route53:::hostedzone/*"}]});
        assert!(run(&d, &narrowing(None), None).is_empty());
        assert!(run(&doc("arn:aws:route53:::hostedzone/*"), &Narrowing::default(), None).is_empty());
    }

    #[test]
    fn long_lists_of_write_actions_are_cut() {
        let d = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":["ec2:CreateVolume","ec2:DeleteVolume","ec2:AttachVolume","ec2:DetachVolume","ec2:DescribeVolumes"],
            "Resource":"*"}]});
        let mut n = narrowing(None);
        n.rules[0].resource = "*".into();
        let f = run(&d, &n, None);
        assert!(
            f[0].message
                .starts_with("grants write actions (ec2:CreateVolume, ec2:DeleteVolume, ec2:AttachVolume, …)"),
            "{}",
            f[0].message
        );
    }
}
