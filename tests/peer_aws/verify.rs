//! verify: each check failing on its own (with the guide's advice), and passing after apply.

use crate::support::*;
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
                (CA, "policy-attached"),
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
                (CA, "policy-attached"),
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
        let f = assert_failing(&checks, &[(CA, "trust-subject")]);
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
            let f = assert_failing(&checks, &[(CA, "trust-subject")]);
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
        let f = assert_failing(&checks, &[(CA, "trust-subject")]);
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
            &[(CA, "trust-provider"), (CA, "trust-subject"), (CA, "trust-audience")],
        );
        assert!(check(&checks, CA, "trust-provider").detail.contains("id/OTHER"));

        set_trust(
            &role,
            trust_with(json!({"StringEquals": {sub_key(): "system:serviceaccount:kube-system:cluster-autoscaler"}})),
        )
        .await;
        let f = assert_failing(&verify(&bundle).await, &[(CA, "trust-audience")])
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
            4
        );
        apply(&bundle, false).await;
        assert_failing(&verify(&bundle).await, &[]);
    });
}
