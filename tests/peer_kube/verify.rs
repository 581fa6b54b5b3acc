//! `verify --kube` through the library: each kind of mismatch, then a clean pass after apply.

use crate::support::*;
use irsagen::kube::{self, ApplyFlags};
use irsagen::overrides::{PresetOverrides, SaCreator};
use irsagen::report::{Check, Status};
use serde_json::json;
use std::time::Duration;

fn find<'a>(checks: &'a [Check], preset: Option<&str>, name: &str) -> Vec<&'a Check> {
    checks
        .iter()
        .filter(|c| c.preset.as_deref() == preset && c.name == name)
        .collect()
}

fn one<'a>(checks: &'a [Check], preset: Option<&str>, name: &str) -> &'a Check {
    let found = find(checks, preset, name);
    assert_eq!(
        found.len(),
        1,
        "expected one {preset:?} {name} check in {}",
        irsagen::report::to_text(checks)
    );
    found[0]
}

#[tokio::test]
async fn verify_finds_each_mismatch_and_passes_after_apply() {
    let w = World::new("verify", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);

    // Nothing applied: every ServiceAccount is missing.
    let checks = kube::verify(&admin(), &b, false).await.expect("verify");
    for p in PRESETS {
        let c = one(&checks, Some(p), "sa-exists");
        assert_eq!(c.status, Status::Fail);
        assert!(c.advice.as_deref().unwrap().contains("irsagen apply --kube"), "{c:?}");
        assert!(c.advice.as_deref().unwrap().contains("kubectl describe sa"), "{c:?}");
    }
    assert!(checks.iter().all(|c| c.scope == "kube"));

    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    kube::execute(&admin(), &plan, false).await.expect("apply");

    // Break each thing the guide's troubleshooting lists.
    w.set_role_arn(&w.ns, "cluster-autoscaler", None).await; // annotation missing
    let wrong = "arn:aws:iam::123456789012:role/not-this-one";
    w.set_role_arn(&w.ns, "ebs-csi-controller-sa", Some(wrong)).await; // wrong ARN
    w.create_deployment(&w.ns, "efs-csi-controller", Some("default")).await; // controller not patched
    // A left-over ServiceAccount annotated with one of this cluster's irsagen roles.
    let stale = role_arn(&w.cluster, "old", "thing");
    w.apply_sa_as("kubectl", &w.ns, "stale", json!({}), json!({ROLE_ARN: stale}))
        .await;
    // Someone else's IRSA ServiceAccount: not ours to judge, so not reported.
    w.apply_sa_as(
        "kubectl",
        &w.ns,
        "foreign",
        json!({}),
        json!({ROLE_ARN: "arn:aws:iam::111111111111:role/app"}),
    )
    .await;

    let checks = kube::verify(&admin(), &b, false).await.expect("verify");
    let text = irsagen::report::to_text(&checks);
    let ca = one(&checks, Some("cluster-autoscaler"), "sa-role-arn");
    assert!(
        ca.status == Status::Fail && ca.detail.contains("has no eks.amazonaws.com/role-arn annotation"),
        "{text}"
    );
    let ebs = one(&checks, Some("ebs-csi-driver"), "sa-role-arn");
    assert!(
        ebs.status == Status::Fail
            && ebs.detail.contains(wrong)
            && ebs
                .detail
                .contains(&role_arn(&w.cluster, &w.ns, "ebs-csi-controller-sa")),
        "{text}"
    );
    assert!(
        ebs.advice
            .as_deref()
            .unwrap()
            .contains(&format!("kubectl describe sa ebs-csi-controller-sa -n {}", w.ns)),
        "{text}"
    );
    let efs = one(&checks, Some("efs-csi-driver"), "deployment-sa");
    assert!(
        efs.status == Status::Fail
            && efs
                .detail
                .contains("runs its pods as ServiceAccount default, not efs-csi-controller-sa"),
        "{text}"
    );
    assert_eq!(
        one(&checks, Some("efs-csi-driver"), "sa-role-arn").status,
        Status::Pass,
        "{text}"
    );
    let unexpected = one(&checks, None, "unexpected-sa");
    assert!(
        unexpected.status == Status::Fail && unexpected.detail.contains(&format!("{}/stale", w.ns)),
        "{text}"
    );
    assert!(!text.contains("foreign"), "{text}");

    // Fix it all with irsagen (the wrong ARN and the Deployment need --force), drop the stale one.
    let force = ApplyFlags {
        force: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b, force).await.expect("plan --force");
    assert_eq!(plan.changes.len(), 3, "{}", plan.to_text());
    kube::execute(&admin(), &plan, false).await.expect("apply --force");
    w.sas(&w.ns)
        .delete("stale", &Default::default())
        .await
        .expect("delete stale");

    let checks = kube::verify(&admin(), &b, false).await.expect("verify");
    let text = irsagen::report::to_text(&checks);
    assert_eq!(irsagen::report::failures(&checks), 0, "{text}");
    assert_eq!(checks.len(), 7, "{text}"); // 3 × (sa-exists, sa-role-arn) + deployment-sa
    w.cleanup().await;
}

#[tokio::test]
async fn verify_reports_the_chart_installed_into_the_wrong_namespace() {
    let mut w = World::new("trusted", true).await;
    let smallest = unique("smallest");
    w.create_namespace(&smallest).await;
    // The role trusts <ns>/cluster-autoscaler and the chart creates the ServiceAccount...
    let o = PresetOverrides {
        service_account_created_by: Some(SaCreator::Helm),
        ..in_ns(&w.ns)
    };
    let b = bundle(&w.cluster, &[("cluster-autoscaler", o)]);
    let arn = role_arn(&w.cluster, &w.ns, "cluster-autoscaler");

    // ...not installed yet: missing, and the advice is the chart with the rendered values.
    let checks = kube::verify(&admin(), &b, false).await.expect("verify");
    let c = one(&checks, Some("cluster-autoscaler"), "sa-exists");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.advice
            .as_deref()
            .unwrap()
            .contains("helm/cluster-autoscaler-values.yaml"),
        "{c:?}"
    );

    // ...installed into `smallest` instead: the annotated ServiceAccount is the wrong identity.
    w.apply_sa_as(
        "helm",
        &smallest,
        "cluster-autoscaler",
        json!({"app.kubernetes.io/managed-by": "Helm"}),
        json!({ROLE_ARN: arn}),
    )
    .await;
    let checks = kube::verify(&admin(), &b, false).await.expect("verify");
    let text = irsagen::report::to_text(&checks);
    let c = one(&checks, Some("cluster-autoscaler"), "trust-subject");
    assert_eq!(c.status, Status::Fail, "{text}");
    assert!(
        c.detail.contains(&format!("{smallest}/cluster-autoscaler"))
            && c.detail.contains(&format!("{}/cluster-autoscaler", w.ns)),
        "{text}"
    );
    let advice = c.advice.as_deref().unwrap();
    assert!(
        advice.contains(&format!("--set cluster-autoscaler.namespace={smallest}"))
            && advice.contains(&format!("install the chart into {}", w.ns)),
        "{text}"
    );
    // One finding, not also "missing" and "unexpected".
    assert!(
        find(&checks, Some("cluster-autoscaler"), "sa-exists").is_empty(),
        "{text}"
    );
    assert!(find(&checks, None, "unexpected-sa").is_empty(), "{text}");
    w.cleanup().await;
}

#[tokio::test]
async fn exec_test_creates_the_pod_and_fails_clearly_without_nodes() {
    let w = World::new("exec", true).await;
    let b = bundle(&w.cluster, &[("ebs-csi-driver", in_ns(&w.ns))]);
    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    kube::execute(&admin(), &plan, false).await.expect("apply");

    let flags = kube::VerifyFlags {
        exec_test: true,
        pod_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let checks = kube::verify_with(&admin(), &b, &flags)
        .await
        .expect("verify --exec-test");
    let text = irsagen::report::to_text(&checks);
    let c = one(&checks, Some("ebs-csi-driver"), "exec-test");
    assert_eq!(c.status, Status::Fail, "{text}");
    assert!(
        c.detail.contains(&format!(
            "test pod {}/test-irsa-ebs-csi-controller-sa not running after 2s",
            w.ns
        )) && c.detail.contains("no nodes?"),
        "{text}"
    );
    assert!(
        c.advice
            .as_deref()
            .unwrap()
            .contains("kubectl describe pod test-irsa-ebs-csi-controller-sa"),
        "{text}"
    );
    // The pod it created for the test is gone again.
    let pods: ::kube::Api<k8s_openapi::api::core::v1::Pod> = ::kube::Api::namespaced(w.client.clone(), &w.ns);
    assert!(
        pods.get_opt("test-irsa-ebs-csi-controller-sa").await.unwrap().is_none(),
        "test pod left behind"
    );
    w.cleanup().await;
}

#[tokio::test]
async fn subset_verify_passes_beside_the_other_presets_and_still_flags_left_overs() {
    let w = World::new("subset", true).await;
    let all = guide_bundle(&w.cluster, &w.ns);
    let plan = kube::plan(&admin(), &all, ApplyFlags::default()).await.expect("plan");
    kube::execute(&admin(), &plan, false)
        .await
        .expect("apply all three presets");

    // verify --preset ebs-csi-driver, the config placing the others in the test's namespace.
    let ebs = bundle(&w.cluster, &[("ebs-csi-driver", in_ns(&w.ns))]);
    let config: std::collections::BTreeMap<String, PresetOverrides> =
        PRESETS.iter().map(|p| (p.to_string(), in_ns(&w.ns))).collect();
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let subset = kube::VerifyFlags {
        others: kube::subset::others(&catalog, &ebs, &config),
        ..Default::default()
    };
    let checks = kube::verify_with(&admin(), &ebs, &subset).await.expect("verify");
    let text = irsagen::report::to_text(&checks);
    assert_eq!(irsagen::report::failures(&checks), 0, "{text}");
    let names: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c.preset.as_deref().unwrap_or("-"), c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [("ebs-csi-driver", "sa-exists"), ("ebs-csi-driver", "sa-role-arn")],
        "{text}"
    );
    // Without knowing the other presets (the old behaviour), their ServiceAccounts were
    // "unexpected": this is what the subset rule fixes.
    let blind = kube::verify(&admin(), &ebs, false).await.expect("verify");
    assert_eq!(
        find(&blind, None, "unexpected-sa").len(),
        2,
        "{}",
        irsagen::report::to_text(&blind)
    );

    // A left-over bound to an irsagen role of this cluster that no preset accounts for still fails.
    let stale = role_arn(&w.cluster, "old", "thing");
    w.apply_sa_as("kubectl", &w.ns, "stale", json!({}), json!({ROLE_ARN: stale}))
        .await;
    let checks = kube::verify_with(&admin(), &ebs, &subset).await.expect("verify");
    let text = irsagen::report::to_text(&checks);
    let c = one(&checks, None, "unexpected-sa");
    assert!(
        c.status == Status::Fail && c.detail.contains(&format!("{}/stale", w.ns)) && c.detail.contains(&stale),
        "{text}"
    );
    assert_eq!(irsagen::report::failures(&checks), 1, "{text}");
    w.cleanup().await;
}

/// `--exec-test` run by a user who may read everything verify reads but may not create pods:
/// the denial is an environment failure (error, exit 3), not a failed check (exit 1, drift).
/// The user is the admin impersonating a fresh name, bound to a read-only ClusterRole.
#[tokio::test]
async fn exec_test_denied_by_rbac_is_an_error_not_a_failed_check() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let w = World::new("execrbac", true).await;
    let b = bundle(&w.cluster, &[("ebs-csi-driver", in_ns(&w.ns))]);
    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    kube::execute(&admin(), &plan, false).await.expect("apply");

    let user = unique("reader");
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": user},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts", "pods"], "verbs": ["get", "list"]},
                  {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
    }))
    .unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    let roles: ::kube::Api<ClusterRole> = ::kube::Api::all(w.client.clone());
    let bindings: ::kube::Api<ClusterRoleBinding> = ::kube::Api::all(w.client.clone());
    let pp = ::kube::api::PostParams::default();
    roles.create(&pp, &role).await.expect("create ClusterRole");
    bindings.create(&pp, &binding).await.expect("create ClusterRoleBinding");

    let dir = tempfile::tempdir().unwrap();
    let peer = std::env::var("IRSAGEN_KUBE_PEER_DIR").expect("IRSAGEN_KUBE_PEER_DIR");
    let server = std::env::var("IRSAGEN_KUBE_PEER_SERVER").expect("IRSAGEN_KUBE_PEER_SERVER");
    let kubeconfig = dir.path().join("reader.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: reader\n\
             clusters:\n- name: peer\n  cluster: {{server: '{server}', certificate-authority: '{peer}/ca.crt'}}\n\
             users:\n- name: reader\n  user: {{client-certificate: '{peer}/admin.crt', client-key: '{peer}/admin.key', as: '{user}'}}\n\
             contexts:\n- name: reader\n  context: {{cluster: peer, user: reader}}\n"
        ),
    )
    .unwrap();
    let reader = irsagen::kube::KubeOptions {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    };

    // Reading is allowed: the plain verify passes.
    let checks = kube::verify(&reader, &b, false).await.expect("verify as reader");
    assert_eq!(
        irsagen::report::failures(&checks),
        0,
        "{}",
        irsagen::report::to_text(&checks)
    );
    // Creating the test pod is not: an error naming the call and the user.
    let flags = kube::VerifyFlags {
        exec_test: true,
        pod_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let err = kube::verify_with(&reader, &b, &flags)
        .await
        .expect_err("RBAC denial in --exec-test is an error");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "RBAC denied `patch pods` in namespace {} for user {user}",
            w.ns
        )),
        "{msg}"
    );
    let _ = bindings.delete(&user, &Default::default()).await;
    let _ = roles.delete(&user, &Default::default()).await;
    w.cleanup().await;
}
