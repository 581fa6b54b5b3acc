//! `policy: aws-managed` against moto (its copy of the AWS managed policies is loaded by
//! scripts/aws-peer): apply attaches them and never creates, versions or tags one; verify passes
//! and then catches a detached or an added policy; re-apply converges with only the missing
//! attachment; a managed policy that does not exist stops apply before any write.

use crate::support::*;
use irsagen::bundle::Bundle;
use irsagen::context::Context;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;

const CNI: &str = "vpc-cni-managed";
const CNI_ARN: &str = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy";

/// Renders presets of tests/fixtures/presets-aws-managed (and the built-in ones) for the
/// guide's cluster.
fn render_managed(presets: &[&str]) -> Bundle {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/presets-aws-managed");
    let selection: Vec<(String, PresetOverrides)> = presets
        .iter()
        .map(|p| (p.to_string(), PresetOverrides::default()))
        .collect();
    Renderer::new(Some(&dir), None)
        .unwrap()
        .render(&Context::new(&inputs()).unwrap(), &selection)
        .expect("renders")
}

/// What moto says about an AWS managed policy: its default version and attachment count.
async fn managed_state(iam: &aws_sdk_iam::Client, arn: &str) -> (String, i32) {
    let p = iam.get_policy().policy_arn(arn).send().await.unwrap().policy.unwrap();
    (
        p.default_version_id().unwrap_or_default().to_string(),
        p.attachment_count().unwrap_or_default(),
    )
}

#[test]
fn apply_attaches_aws_managed_policies_verify_passes_and_reapply_writes_nothing() {
    peer_test(async {
        let iam = iam().await;
        let (version, attachments) = managed_state(&iam, CNI_ARN).await;
        assert_eq!(attachments, 0);
        let bundle = render_managed(&[CNI, "ebs-csi-driver"]);
        let (plan, report) = apply(&bundle, false).await;
        // provider, the EBS policy, 2 roles, 2 attachments: nothing for the CNI's policy but
        // its attachment.
        assert_eq!(report.stats.writes, 6, "{}", report.to_text());
        for call in &report.done {
            let policy_write = [
                "CreatePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "TagPolicy",
            ]
            .iter()
            .any(|a| call.starts_with(&format!("iam:{a} ")));
            assert!(!(policy_write && call.contains(":iam::aws:")), "{call}");
        }
        let cni_role = role_of(&bundle, CNI);
        assert!(
            report
                .done
                .contains(&format!("iam:AttachRolePolicy {cni_role} {CNI_ARN}")),
            "{}",
            plan.to_text()
        );
        assert_eq!(attached(&iam, &cni_role).await, [CNI_ARN]);
        // The AWS managed policy is as it was, only attached once more.
        assert_eq!(managed_state(&iam, CNI_ARN).await, (version.clone(), 1));

        let checks = verify(&bundle).await;
        assert_failing(&checks, &[]);
        assert_eq!(
            check(&checks, Some(CNI), "policy-attached").detail,
            "AWS managed AmazonEKS_CNI_Policy attached"
        );
        assert!(
            checks
                .iter()
                .all(|c| !(c.preset.as_deref() == Some(CNI) && c.name == "policy-document"))
        );

        let again = irsagen::aws::plan(&opts(), &bundle, false).await.unwrap();
        assert!(again.is_empty(), "{}", again.to_text());
        assert_eq!(again.stats.writes, 0);
        let exec = irsagen::aws::execute_report(&opts(), &again).await.unwrap();
        assert_eq!(exec.stats.writes, 0);

        // Detached out of band: verify fails, re-apply attaches it and nothing else.
        iam.detach_role_policy()
            .role_name(&cni_role)
            .policy_arn(CNI_ARN)
            .send()
            .await
            .unwrap();
        assert_failing(&verify(&bundle).await, &[(Some(CNI), "policy-attached")]);
        let (_, report) = apply(&bundle, false).await;
        assert_eq!(report.done, [format!("iam:AttachRolePolicy {cni_role} {CNI_ARN}")]);
        assert_failing(&verify(&bundle).await, &[]);

        // Another AWS managed policy attached by hand is more than the bundle grants.
        let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
        iam.attach_role_policy()
            .role_name(&cni_role)
            .policy_arn(admin)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(Some(CNI), "policy-extra")]);
        assert!(f[0].detail.contains(admin), "{}", f[0].detail);
        assert_eq!(managed_state(&iam, CNI_ARN).await, (version, 1));
    });
}

/// The fixture's second CloudWatch policy has a made-up path, so it exists in no partition:
/// apply refuses before creating anything.
#[test]
fn a_missing_aws_managed_policy_stops_apply_before_any_write() {
    peer_test(async {
        let bundle = render_managed(&["cloudwatch-managed"]);
        let e = irsagen::aws::plan(&opts(), &bundle, false).await.expect_err("refused");
        let msg = e.to_string();
        assert!(
            msg.contains("presets.cloudwatch-managed.policy")
                && msg.contains("arn:aws:iam::aws:policy/service-role/AWSXrayWriteOnlyAccess"),
            "{msg}"
        );
        assert!(role_names(&iam().await).await.is_empty());
    });
}
