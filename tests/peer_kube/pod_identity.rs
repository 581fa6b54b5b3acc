//! Pod Identity on a real kube-apiserver: a leftover role-arn annotation and pods admitted
//! before the binding fail verify; apply --kube removes the annotation irsagen set and leaves
//! one another manager set. Pods are created directly with their env (no webhook here).

use crate::support::*;
use ::kube::Api;
use ::kube::api::PostParams;
use irsagen::identity::IdentityMode;
use irsagen::kube::{self, ApplyFlags};
use irsagen::report::{Check, Status};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

const SA: &str = "efs-csi-controller-sa";
const PRESET: &str = "efs-csi-driver";

fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    let found: Vec<&Check> = checks
        .iter()
        .filter(|c| c.preset.as_deref() == Some(PRESET) && c.name == name)
        .collect();
    assert_eq!(found.len(), 1, "{name} in {}", irsagen::report::to_text(checks));
    found[0]
}

#[tokio::test]
async fn pod_identity_mode_fails_leftovers_and_apply_removes_only_irsagens_annotation() {
    let w = World::new("podid", true).await;
    let irsa = bundle(&w.cluster, &[(PRESET, in_ns(&w.ns))]);
    let mut pi = irsa.clone();
    pi.components[0].identity_mode = IdentityMode::PodIdentity;
    let role = irsa.components[0].role_arn.clone();

    // IRSA first, as before a migration: irsagen sets the annotation.
    let plan = kube::plan(&admin(), &irsa, ApplyFlags::default()).await.expect("plan");
    kube::execute(&admin(), &plan, false).await.expect("apply");
    assert_eq!(arn_of(&w.sa(&w.ns, SA).await.unwrap()).as_deref(), Some(role.as_str()));

    // One pod admitted before any binding, one the webhook gave Pod Identity.
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &w.ns);
    for (name, env) in [
        ("old", json!([])),
        (
            "new",
            json!([{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"}]),
        ),
    ] {
        let p: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": w.ns},
            "spec": {"serviceAccountName": SA, "automountServiceAccountToken": false,
                     "containers": [{"name": "c", "image": "public.ecr.aws/aws-cli/aws-cli", "env": env}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &p).await.expect("create pod");
    }

    let checks = kube::verify(&admin(), &pi, false).await.expect("verify");
    let a = check(&checks, "sa-role-arn");
    assert_eq!(a.status, Status::Fail);
    assert!(a.detail.contains("takes precedence"), "{a:?}");
    assert!(
        a.advice.as_deref().unwrap().contains("remove it and restart the pods"),
        "{a:?}"
    );
    let p = check(&checks, "pods-credentials");
    assert_eq!(p.status, Status::Fail);
    assert!(p.detail.starts_with("pod(s) old run as"), "{p:?}");
    assert!(p.advice.as_deref().unwrap().starts_with("restart them"), "{p:?}");
    let seen = kube::observe(&admin(), &pi).await.expect("observe");
    assert!(seen[PRESET].0);
    assert_eq!(seen[PRESET].1.len(), 2);

    // apply --kube in pod-identity mode removes the annotation irsagen set.
    let plan = kube::plan(&admin(), &pi, ApplyFlags::default()).await.expect("plan");
    assert!(
        plan.to_text().contains("removes eks.amazonaws.com/role-arn"),
        "{}",
        plan.to_text()
    );
    kube::execute(&admin(), &plan, false).await.expect("apply");
    assert_eq!(arn_of(&w.sa(&w.ns, SA).await.unwrap()), None);
    let checks = kube::verify(&admin(), &pi, false).await.expect("verify");
    assert_eq!(check(&checks, "sa-role-arn").status, Status::Pass);
    // A re-apply changes nothing.
    let plan = kube::plan(&admin(), &pi, ApplyFlags::default()).await.expect("plan");
    assert!(plan.is_empty(), "{}", plan.to_text());

    // Set again by someone else: apply leaves it and says so; verify still fails.
    w.apply_sa_as("kubectl", &w.ns, SA, json!({}), json!({ROLE_ARN: role}))
        .await;
    let plan = kube::plan(&admin(), &pi, ApplyFlags::default()).await.expect("plan");
    assert!(
        plan.to_text().contains("irsagen does not remove it"),
        "{}",
        plan.to_text()
    );
    kube::execute(&admin(), &plan, false).await.expect("apply");
    assert_eq!(arn_of(&w.sa(&w.ns, SA).await.unwrap()).as_deref(), Some(role.as_str()));
    let checks = kube::verify(&admin(), &pi, false).await.expect("verify");
    assert_eq!(check(&checks, "sa-role-arn").status, Status::Fail);
    w.cleanup().await;
}
