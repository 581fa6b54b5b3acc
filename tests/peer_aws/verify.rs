//! verify: each check failing on its own (with the guide's advice), and passing after apply.

use crate::support::*;
use irsagen::aws;
use irsagen::report::Status;
use serde_json::json;

const CA: Option<&str> = Some("cluster-autoscaler");

/// Applies cluster-autoscaler only and returns its bundle, role and policy ARN.
async fn applied() -> (irsagen::bundle::Bundle, String, String) {
    let bundle = render(&inputs(), &["cluster-autoscaler"]);
    apply(&bundle, false).await;
    assert_failing(&verify(&bundle).await, &[]);
    let role = role_of(&bundle, "cluster-autoscaler");
    let policy = policy_of(&bundle, "cluster-autoscaler");
    (bundle, role, policy)
}

async fn set_trust(role: &str, doc: String) {
    iam()
        .await
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(doc)
        .send()
        .await
        .unwrap();
}

fn sub_key() -> String {
    format!("{HOST}:sub")
}

fn aud_key() -> String {
    format!("{HOST}:aud")
}

#[test]
fn on_an_empty_account_everything_fails_with_advice() {
    peer_test(async {
        let bundle = render(&inputs(), &["cluster-autoscaler"]);
        let checks = verify(&bundle).await;
        let failing = assert_failing(
            &checks,
            &[
                (None, "oidc-provider"),
                (CA, "role-exists"),
                (CA, "trust-provider"),
                (CA, "trust-subject"),
                (CA, "trust-audience"),
                (CA, "trust-statements"),
                (CA, "policy-attached"),
                (CA, "policy-extra"),
                (CA, "policy-document"),
            ],
        );
        let oidc = failing[0].advice.as_deref().unwrap();
        assert!(oidc.contains("aws iam list-open-id-connect-providers"), "{oidc}");
        assert!(
            oidc.contains(&format!(
                "eksctl utils associate-iam-oidc-provider --cluster {CLUSTER} --region us-east-1 --approve"
            )),
            "{oidc}"
        );
        assert!(
            failing
                .iter()
                .all(|c| c.advice.as_deref().unwrap().contains("irsagen apply --aws"))
        );
        // Through the CLI: exit 1, one line per check, advice below failures.
        let mut args = vec!["verify", "--aws"];
        args.extend(guide_args());
        let out = irsagen(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("FAIL aws  -                    oidc-provider") && s.contains("fix: "),
            "{s}"
        );
    });
}

#[test]
fn missing_oidc_provider_fails_only_that_check() {
    peer_test(async {
        let (bundle, _, _) = applied().await;
        iam()
            .await
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(provider_arn())
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(None, "oidc-provider")]);
        assert!(f[0].detail.contains("is not registered"), "{}", f[0].detail);
    });
}

#[test]
fn missing_role_fails_role_and_trust_checks() {
    peer_test(async {
        let (bundle, role, policy) = applied().await;
        let iam = iam().await;
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap();
        iam.delete_role().role_name(&role).send().await.unwrap();
        let checks = verify(&bundle).await;
        assert_failing(
            &checks,
            &[
                (CA, "role-exists"),
                (CA, "trust-provider"),
                (CA, "trust-subject"),
                (CA, "trust-audience"),
                (CA, "trust-statements"),
                (CA, "policy-attached"),
                (CA, "policy-extra"),
            ],
        );
        assert!(check(&checks, CA, "role-exists").detail.contains("does not exist"));
    });
}

#[test]
fn aud_only_trust_fails_the_subject_check() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        set_trust(
            &role,
            trust_with(json!({"StringEquals": {aud_key(): "sts.amazonaws.com"}})),
        )
        .await;
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "trust-subject"), (CA, "trust-statements")]);
        assert!(f[0].detail.contains("aud-only trust"), "{}", f[0].detail);
        assert!(
            f[0].advice
                .as_deref()
                .unwrap()
                .contains("system:serviceaccount:kube-system:cluster-autoscaler")
        );
    });
}

#[test]
fn wildcard_subjects_fail() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        for cond in [
            json!({"StringLike": {sub_key(): "system:serviceaccount:kube-system:*"}, "StringEquals": {aud_key(): "sts.amazonaws.com"}}),
            json!({"StringEquals": {sub_key(): "*", aud_key(): "sts.amazonaws.com"}}),
            // StringLike even without a wildcard character is refused: it is the wildcard operator.
            json!({"StringLike": {sub_key(): "system:serviceaccount:kube-system:cluster-autoscaler"}, "StringEquals": {aud_key(): "sts.amazonaws.com"}}),
        ] {
            set_trust(&role, trust_with(cond.clone())).await;
            let checks = verify(&bundle).await;
            let f = assert_failing(&checks, &[(CA, "trust-subject"), (CA, "trust-statements")]);
            assert!(f[0].detail.contains("wildcard subject"), "{cond}: {}", f[0].detail);
        }
    });
}

#[test]
fn wrong_subject_fails() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        set_trust(
            &role,
            trust_with(json!({"StringEquals": {sub_key(): "system:serviceaccount:default:cluster-autoscaler", aud_key(): "sts.amazonaws.com"}})),
        )
        .await;
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "trust-subject"), (CA, "trust-statements")]);
        assert!(
            f[0].detail
                .contains("expected exactly system:serviceaccount:kube-system:cluster-autoscaler"),
            "{}",
            f[0].detail
        );
    });
}

#[test]
fn wrong_provider_and_wrong_audience_fail() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        // Same conditions, another cluster's provider.
        let other = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER")},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {sub_key(): "system:serviceaccount:kube-system:cluster-autoscaler", aud_key(): "sts.amazonaws.com"}}
            }]
        });
        set_trust(&role, other.to_string()).await;
        let checks = verify(&bundle).await;
        assert_failing(
            &checks,
            &[
                (CA, "trust-provider"),
                (CA, "trust-subject"),
                (CA, "trust-audience"),
                (CA, "trust-statements"),
            ],
        );
        assert!(check(&checks, CA, "trust-provider").detail.contains("id/OTHER"));

        set_trust(
            &role,
            trust_with(json!({"StringEquals": {sub_key(): "system:serviceaccount:kube-system:cluster-autoscaler"}})),
        )
        .await;
        let f = assert_failing(
            &verify(&bundle).await,
            &[(CA, "trust-audience"), (CA, "trust-statements")],
        )
        .into_iter()
        .next()
        .unwrap()
        .clone();
        assert!(
            f.detail.contains("no `") && f.detail.contains(":aud` condition"),
            "{}",
            f.detail
        );
    });
}

#[test]
fn detached_policy_fails() {
    peer_test(async {
        let (bundle, role, policy) = applied().await;
        iam()
            .await
            .detach_role_policy()
            .role_name(&role)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "policy-attached")]);
        assert!(
            f[0].advice.as_deref().unwrap().contains("aws iam attach-role-policy"),
            "{:?}",
            f[0].advice
        );
    });
}

#[test]
fn policy_document_drift_fails_then_apply_fixes_everything() {
    peer_test(async {
        let (bundle, role, policy) = applied().await;
        let iam = iam().await;
        let doc =
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"autoscaling:*","Resource":"*"}]});
        iam.create_policy_version()
            .policy_arn(&policy)
            .policy_document(doc.to_string())
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "policy-document")]);
        assert!(f[0].detail.contains("default version v2 differs"), "{}", f[0].detail);
        assert!(
            f[0].advice.as_deref().unwrap().contains("aws iam get-policy-version"),
            "{:?}",
            f[0].advice
        );

        // Break everything else too, then one apply makes every check pass again.
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap();
        set_trust(
            &role,
            trust_with(json!({"StringEquals": {aud_key(): "sts.amazonaws.com"}})),
        )
        .await;
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(provider_arn())
            .send()
            .await
            .unwrap();
        assert_eq!(
            verify(&bundle)
                .await
                .iter()
                .filter(|c| c.status == Status::Fail)
                .count(),
            5,
            "policy-document, policy-attached, trust-subject and trust-statements (aud-only), oidc-provider"
        );
        apply(&bundle, false).await;
        assert_failing(&verify(&bundle).await, &[]);
    });
}

/// The rendered cluster-autoscaler statement plus `extra`, as a trust policy document.
fn trust_plus(extra: serde_json::Value) -> String {
    let rendered: serde_json::Value = serde_json::from_str(&trust_with(json!({"StringEquals": {
        sub_key(): "system:serviceaccount:kube-system:cluster-autoscaler",
        aud_key(): "sts.amazonaws.com",
    }})))
    .unwrap();
    json!({"Version": "2012-10-17", "Statement": [rendered["Statement"][0], extra]}).to_string()
}

#[test]
fn each_widening_trust_statement_fails_and_is_named() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        let second = "oidc.eks.eu-west-1.amazonaws.com/id/SECOND";
        for (extra, named) in [
            (
                json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
                r#"{"AWS":"*"}"#.to_string(),
            ),
            (
                json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}),
                "arn:aws:iam::999999999999:root".to_string(),
            ),
            (
                json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
                "ec2.amazonaws.com".to_string(),
            ),
            (
                json!({"Effect": "Allow",
                       "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{second}")},
                       "Action": "sts:AssumeRoleWithWebIdentity",
                       "Condition": {"StringEquals": {format!("{second}:aud"): "sts.amazonaws.com"}}}),
                format!("oidc-provider/{second}"),
            ),
            (
                json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::999999999999:user/x"}, "Action": "sts:AssumeRole"}),
                "to everyone but NotPrincipal".to_string(),
            ),
        ] {
            set_trust(&role, trust_plus(extra.clone())).await;
            let checks = verify(&bundle).await;
            let f = assert_failing(&checks, &[(CA, "trust-statements")]);
            assert!(
                f[0].detail
                    .starts_with("1 of 2 statements are not ones irsagen rendered: Statement[1]")
                    && f[0].detail.contains(&named),
                "{extra}: expected `{named}` in {}",
                f[0].detail
            );
        }
        // apply rewrites the trust policy to the rendered one; verify passes again.
        apply(&bundle, false).await;
        assert_failing(&verify(&bundle).await, &[]);
    });
}

#[test]
fn extra_attached_and_inline_policies_fail_and_are_named() {
    peer_test(async {
        let (bundle, role, _) = applied().await;
        let iam = iam().await;
        let everything =
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let admin = create_policy(&iam, "everything", &everything).await;
        iam.attach_role_policy()
            .role_name(&role)
            .policy_arn(&admin)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "policy-extra")]);
        assert!(
            f[0].detail
                .contains(&format!("attached managed policies not in the bundle: [{admin}]")),
            "{}",
            f[0].detail
        );
        // apply never detaches what it did not attach: still failing afterwards.
        apply(&bundle, false).await;
        assert_failing(&verify(&bundle).await, &[(CA, "policy-extra")]);
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(&admin)
            .send()
            .await
            .unwrap();

        iam.put_role_policy()
            .role_name(&role)
            .policy_name("inline-everything")
            .policy_document(everything.to_string())
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "policy-extra")]);
        assert!(
            f[0].detail.contains("inline policies: [inline-everything]"),
            "{}",
            f[0].detail
        );
        assert!(
            f[0].advice
                .as_deref()
                .unwrap()
                .contains(&format!("aws iam delete-role-policy --role-name {role}"))
        );
    });
}

#[test]
fn a_declared_extra_policy_is_attached_by_apply_and_passes_verify() {
    peer_test(async {
        let iam = iam().await;
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let extra = create_policy(&iam, "team-read", &doc).await;
        let with_extra = |arn: &str| {
            let ctx = irsagen::context::Context::new(&inputs()).unwrap();
            let o = irsagen::overrides::PresetOverrides {
                extra_policy_arns: Some(vec![arn.to_string()]),
                ..Default::default()
            };
            irsagen::render::Renderer::new(None, None)
                .unwrap()
                .render(&ctx, &[("cluster-autoscaler".to_string(), o)])
                .unwrap()
        };

        // A declared ARN that does not exist is refused before any write.
        let missing = format!("arn:aws:iam::{ACCOUNT}:policy/nosuch");
        let err = aws::plan(&opts(), &with_extra(&missing), false)
            .await
            .expect_err("missing extra policy");
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "invalid presets.cluster-autoscaler.extraPolicyArns `{missing}`"
            )) && msg.contains("never creates them"),
            "{msg}"
        );
        assert!(iam.list_roles().send().await.unwrap().roles().is_empty());

        // From empty: the role is created with both attachments.
        let bundle = with_extra(&extra);
        let role = role_of(&bundle, "cluster-autoscaler");
        let (plan, report) = apply(&bundle, false).await;
        assert!(
            plan.calls().contains(&format!("iam:AttachRolePolicy {role} {extra}")),
            "{}",
            plan.to_text()
        );
        assert_eq!(
            report.stats.writes, 5,
            "provider, policy, role, 2 attachments: {report:?}"
        );
        let checks = verify(&bundle).await;
        assert_failing(&checks, &[]);
        assert!(
            check(&checks, CA, "policy-attached")
                .detail
                .contains("and 1 declared extra policies attached")
        );
        // The same extra, no longer declared, is a permission beyond the bundle.
        let plain = render(&inputs(), &["cluster-autoscaler"]);
        assert_failing(&verify(&plain).await, &[(CA, "policy-extra")]);

        // Detached out of band: verify names it, a re-apply attaches only it.
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(&extra)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(CA, "policy-attached")]);
        assert!(
            f[0].detail.starts_with(&format!("{extra} not attached")),
            "{}",
            f[0].detail
        );
        let (again, _) = apply(&bundle, false).await;
        assert_eq!(again.calls(), vec![format!("iam:AttachRolePolicy {role} {extra}")]);
        assert_failing(&verify(&bundle).await, &[]);
        let attached: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(&role)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        assert_eq!(attached.len(), 2, "{attached:?}");
        assert!(attached.contains(&extra));
    });
}

#[test]
fn a_subset_verify_checks_only_the_selected_preset() {
    peer_test(async {
        apply(&guide_bundle(), false).await;
        let only = render(&inputs(), &["ebs-csi-driver"]);
        let checks = verify(&only).await;
        assert_failing(&checks, &[]);
        assert_eq!(checks.len(), 2 + 8, "{}", irsagen::report::to_text(&checks));
        assert!(
            checks
                .iter()
                .all(|c| c.preset.is_none() || c.preset.as_deref() == Some("ebs-csi-driver"))
        );
        // Through the CLI.
        let mut args = vec!["verify", "--aws", "--preset", "ebs-csi-driver"];
        args.extend(guide_args());
        let out = irsagen(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("10 passed, 0 failed") && !s.contains("cluster-autoscaler"),
            "{s}"
        );
    });
}
