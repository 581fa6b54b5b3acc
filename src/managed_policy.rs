//! AWS managed policies (`policy: aws-managed`): a preset names them by the part of the ARN after
//! `arn:<partition>:iam::aws:`, and a component attaches them in its cluster's partition instead
//! of creating a customer managed copy of a document. AWS owns and versions them, so irsagen
//! never creates, versions, tags or deletes one: apply only attaches, verify checks the
//! attachment, the script and eksctl attach.

use crate::error::{Error, Result};
use crate::preset::{PolicyKind, PresetPolicy};
use crate::rules;

/// The account field of every AWS managed policy ARN: `arn:<partition>:iam::aws:policy/…`.
const AWS_ACCOUNT: &str = "aws";

/// IAM attaches at most 20 managed policies to a role (the default quota is 10, raisable to 20).
pub const MAX_ATTACHED: usize = 20;

/// Whether `arn` is an AWS managed policy's (`arn:<any partition>:iam::aws:…`).
pub fn is_aws_managed(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    parts.next() == Some("arn")
        && parts.next().is_some()
        && parts.next() == Some("iam")
        && parts.next() == Some("")
        && parts.next() == Some(AWS_ACCOUNT)
}

/// The full ARN of `suffix` (`policy/AmazonEKS_CNI_Policy`) in `partition`.
pub fn arn(partition: &str, suffix: &str) -> String {
    format!("arn:{partition}:iam::{AWS_ACCOUNT}:{suffix}")
}

/// The policy's name: the last part of the ARN (`AmazonEKS_CNI_Policy`).
pub fn name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Checks a preset's `policy.default` and `policy.awsManaged` when the preset is loaded: the
/// ARNs are AWS managed policy ARNs once a partition is put in, listed once each and at most
/// [`MAX_ATTACHED`]; `default: aws-managed` needs them.
pub fn check_preset(origin: &str, p: &PresetPolicy) -> Result<()> {
    let field = format!("{origin}: policy.awsManaged.arns");
    match (&p.aws_managed, p.default.unwrap_or_default()) {
        (None, PolicyKind::AwsManaged) => Err(Error::invalid(
            format!("{origin}: policy.default"),
            "aws-managed",
            "needs `policy.awsManaged` with the AWS managed policy ARNs to attach",
        )),
        (None, PolicyKind::Document) => Ok(()),
        (Some(m), _) => {
            if m.arns.is_empty() || m.arns.len() > MAX_ATTACHED {
                return Err(Error::invalid(
                    &field,
                    m.arns.len().to_string(),
                    format!(
                        "must list 1-{MAX_ATTACHED} policies: IAM attaches at most {MAX_ATTACHED} managed policies to a role"
                    ),
                ));
            }
            for (i, suffix) in m.arns.iter().enumerate() {
                // The partition is the cluster's; any valid one checks the rest of the ARN.
                rules::managed_policy_arn(&field, &arn("aws", suffix), "aws").map_err(|_| {
                    Error::invalid(
                        &field,
                        suffix,
                        "must be the part of an AWS managed policy ARN after `arn:<partition>:iam::aws:`: `policy/[path/]name` (e.g. `policy/AmazonEKS_CNI_Policy`)",
                    )
                })?;
                if m.arns[..i].contains(suffix) {
                    return Err(Error::invalid(&field, suffix, "is listed twice; list each policy once"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> PresetPolicy {
        let mut base = json!({
            "name": "P",
            "document": {"Version": "2012-10-17", "Statement": []},
            "source": {"document": "d", "repository": "r", "path": "p", "commit": "c", "date": "2026-01-01"},
        });
        base.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn managed(arns: &[&str]) -> serde_json::Value {
        json!({"awsManaged": {"arns": arns, "source": {"document": "d", "repository": "r", "path": "p", "commit": "c", "date": "2026-01-01"}}})
    }

    #[test]
    fn recognises_aws_managed_arns_in_every_partition() {
        for yes in [
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
            "arn:aws-cn:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
            "arn:aws-us-gov:iam::aws:policy/X",
        ] {
            assert!(is_aws_managed(yes), "{yes}");
        }
        for no in [
            "arn:aws:iam::123456789012:policy/AmazonEKS_CNI_Policy",
            "arn:aws:iam::awsx:policy/X",
            "arn:aws:s3:::aws:policy/X",
            "aws:policy/X",
            "",
        ] {
            assert!(!is_aws_managed(no), "{no}");
        }
        assert_eq!(
            arn("aws-cn", "policy/AmazonEKS_CNI_Policy"),
            "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"
        );
        assert_eq!(name("arn:aws:iam::aws:policy/service-role/A_B"), "A_B");
    }

    #[test]
    fn preset_declarations_are_checked() {
        assert!(check_preset("p", &policy(json!({}))).is_ok());
        assert!(check_preset("p", &policy(managed(&["policy/AmazonEKS_CNI_Policy"]))).is_ok());
        let mut with_default = managed(&["policy/service-role/AmazonEBSCSIDriverPolicy"]);
        with_default["default"] = json!("aws-managed");
        assert!(check_preset("p", &policy(with_default)).is_ok());

        let e = check_preset("p", &policy(json!({"default": "aws-managed"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.default") && e.contains("policy.awsManaged"), "{e}");
        for bad in [
            "arn:aws:iam::aws:policy/X",
            "AmazonEKS_CNI_Policy",
            "policy/",
            "policy/a//b",
            "role/X",
            "policy/a b",
        ] {
            let e = check_preset("p", &policy(managed(&[bad]))).unwrap_err().to_string();
            assert!(e.contains("policy.awsManaged.arns") && e.contains(bad), "{bad}: {e}");
        }
        let e = check_preset("p", &policy(managed(&["policy/A", "policy/A"])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
        // 1 and 20 policies pass, 0 and 21 do not.
        let n = |k: usize| (0..k).map(|i| format!("policy/P{i}")).collect::<Vec<_>>();
        for (k, ok) in [(0, false), (1, true), (20, true), (21, false)] {
            let arns = n(k);
            let refs: Vec<&str> = arns.iter().map(String::as_str).collect();
            assert_eq!(check_preset("p", &policy(managed(&refs))).is_ok(), ok, "{k}");
        }
    }
}
