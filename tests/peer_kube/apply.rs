//! `apply --kube` through the library: plan, execute, idempotence, dry run, --force, the EFS
//! Deployment patch, namespaces and test pods.

use crate::support::*;
use irsagen::kube::{self, Action, ApplyFlags};
use serde_json::json;

#[tokio::test]
async fn apply_creates_annotated_service_accounts_and_reapply_changes_nothing() {
    let w = World::new("apply", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);

    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    let text = plan.to_text();
    assert_eq!(plan.changes.len(), 3, "{text}");
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == Action::Create && c.object.kind() == "ServiceAccount"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+     {ROLE_ARN}: {}",
            role_arn(&w.cluster, &w.ns, "cluster-autoscaler")
        )),
        "{text}"
    );
    // The plan is read-only.
    assert!(w.sa(&w.ns, "cluster-autoscaler").await.is_none());

    let summary = kube::execute(&admin(), &plan, false).await.expect("execute");
    assert!(summary.contains("3 created, 0 updated"), "{summary}");
    // Figures for the report: one GET of the namespace, GET + dry-run apply per ServiceAccount,
    // GET of the efs-csi-controller Deployment; then one apply per ServiceAccount.
    assert_eq!(plan.requests, 8, "{summary}");
    assert!(summary.contains("11 API requests (plan 8, apply 3)"), "{summary}");
    eprintln!("figures: first apply of the guide bundle: {summary}");

    let mut versions = Vec::new();
    for (sa, _) in [
        ("cluster-autoscaler", 0),
        ("ebs-csi-controller-sa", 1),
        ("efs-csi-controller-sa", 2),
    ] {
        let live = w.sa(&w.ns, sa).await.unwrap_or_else(|| panic!("{sa} created"));
        assert_eq!(arn_of(&live).as_deref(), Some(role_arn(&w.cluster, &w.ns, sa).as_str()));
        let managers: Vec<_> = live
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert_eq!(managers, vec!["irsagen".to_string()], "field manager of {sa}");
        versions.push(rv(&live));
    }

    // Re-apply: the dry-run result equals what is there, so nothing is planned or sent.
    let again = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("re-plan");
    assert!(again.is_empty(), "{}", again.to_text());
    assert_eq!(again.unchanged.len(), 3, "{}", again.to_text());
    assert_eq!(again.requests, 8);
    eprintln!(
        "figures: re-apply of the guide bundle: plan {} API requests, no apply",
        again.requests
    );
    // Executing the empty plan sends no PATCH either.
    let summary = kube::execute(&admin(), &again, false).await.expect("execute empty");
    assert!(
        summary.contains("0 created, 0 updated; 8 API requests (plan 8, apply 0)"),
        "{summary}"
    );
    for (sa, before) in ["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"]
        .iter()
        .zip(&versions)
    {
        assert_eq!(
            &rv(&w.sa(&w.ns, sa).await.unwrap()),
            before,
            "resourceVersion of {sa} changed"
        );
    }
    w.cleanup().await;
}

#[tokio::test]
async fn dry_run_creates_nothing() {
    let w = World::new("dry", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    assert_eq!(plan.changes.len(), 3);
    let summary = kube::execute(&admin(), &plan, true).await.expect("dry run");
    assert!(summary.contains("server dry run: 3 created"), "{summary}");
    for sa in ["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"] {
        assert!(w.sa(&w.ns, sa).await.is_none(), "dry run created {sa}");
    }

    // A dry run into a namespace that --create-namespace would create creates neither.
    let other = unique("dryns");
    let b2 = bundle(&w.cluster, &[("ebs-csi-driver", in_ns(&other))]);
    let flags = ApplyFlags {
        create_namespace: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b2, flags)
        .await
        .expect("plan with --create-namespace");
    let summary = kube::execute(&admin(), &plan, true).await.expect("dry run");
    assert!(summary.contains("not dry-run"), "{summary}");
    assert!(!w.namespace_exists(&other).await, "dry run created namespace {other}");
    w.cleanup().await;
}

#[tokio::test]
async fn foreign_role_arn_is_refused_and_force_replaces_it_keeping_helm_fields() {
    let w = World::new("force", true).await;
    let b = bundle(&w.cluster, &[("cluster-autoscaler", in_ns(&w.ns))]);
    let foreign = "arn:aws:iam::999999999999:role/someone-elses-role";
    let wanted = role_arn(&w.cluster, &w.ns, "cluster-autoscaler");
    w.apply_sa_as(
        "helm",
        &w.ns,
        "cluster-autoscaler",
        json!({"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "cluster-autoscaler-9.37.0"}),
        json!({ROLE_ARN: foreign, "meta.helm.sh/release-name": "ca"}),
    )
    .await;

    let err = kube::plan(&admin(), &b, ApplyFlags::default())
        .await
        .expect_err("a different role-arn must be refused");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    let sa = format!("ServiceAccount {}/cluster-autoscaler", w.ns);
    for part in [sa.as_str(), foreign, wanted.as_str(), "--force"] {
        assert!(msg.contains(part), "missing {part:?} in: {msg}");
    }

    let force = ApplyFlags {
        force: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b, force).await.expect("plan with --force");
    assert_eq!(plan.changes.len(), 1, "{}", plan.to_text());
    let c = &plan.changes[0];
    assert!(c.action == Action::Update && c.force, "{}", plan.to_text());
    assert!(
        c.diff.contains(&format!("-    {ROLE_ARN}: {foreign}"))
            && c.diff.contains(&format!("+    {ROLE_ARN}: {wanted}")),
        "{}",
        c.diff
    );
    kube::execute(&admin(), &plan, false).await.expect("forced apply");

    let live = w.sa(&w.ns, "cluster-autoscaler").await.unwrap();
    assert_eq!(arn_of(&live).as_deref(), Some(wanted.as_str()));
    let labels = live.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app.kubernetes.io/managed-by").map(String::as_str),
        Some("Helm")
    );
    assert_eq!(
        labels.get("helm.sh/chart").map(String::as_str),
        Some("cluster-autoscaler-9.37.0")
    );
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get("meta.helm.sh/release-name").map(String::as_str),
        Some("ca")
    );
    // Helm still owns its labels; irsagen now owns the annotation.
    let mf = serde_json::to_string(&live.metadata.managed_fields).unwrap();
    let helm = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some("helm"))
        .expect("helm still a manager");
    let helm_fields = serde_json::to_string(&helm.fields_v1).unwrap();
    assert!(
        helm_fields.contains("helm.sh/chart") && !helm_fields.contains("role-arn"),
        "{mf}"
    );

    // Forced once, the next plan is empty even with --force.
    let again = kube::plan(&admin(), &b, force).await.expect("re-plan");
    assert!(again.is_empty(), "{}", again.to_text());
    w.cleanup().await;
}

#[tokio::test]
async fn efs_patch_is_skipped_without_the_deployment_and_applied_with_it() {
    let w = World::new("efs", true).await;
    let b = bundle(&w.cluster, &[("efs-csi-driver", in_ns(&w.ns))]);
    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    let text = plan.to_text();
    assert!(
        text.contains(&format!(
            "kube: note: skipped Deployment {}/efs-csi-controller: it does not exist (install the driver first; rerun apply after)",
            w.ns
        )),
        "{text}"
    );
    kube::execute(&admin(), &plan, false).await.expect("apply");

    // The driver gets installed (kubectl apply -k) without serviceAccountName.
    w.create_deployment(&w.ns, "efs-csi-controller", None).await;
    let plan = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("plan");
    let text = plan.to_text();
    assert_eq!(plan.changes.len(), 1, "{text}");
    assert_eq!(plan.changes[0].action, Action::Update);
    assert!(
        text.contains(&format!("kube: ~ update Deployment {}/efs-csi-controller", w.ns))
            && text.contains("+      serviceAccountName: efs-csi-controller-sa"),
        "{text}"
    );
    assert!(
        !text.contains("note: skipped")
            && text.contains("kube: plan: 0 to create, 1 to update, 1 unchanged, 0 skipped"),
        "{text}"
    );
    kube::execute(&admin(), &plan, false).await.expect("apply patch");
    assert_eq!(
        w.deployment_sa(&w.ns, "efs-csi-controller").await.as_deref(),
        Some("efs-csi-controller-sa")
    );
    // The containers (owned by the installer) are untouched.
    let d = w.deployments(&w.ns).get("efs-csi-controller").await.unwrap();
    assert_eq!(
        d.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(),
        Some("registry.k8s.io/pause:3.10")
    );

    let again = kube::plan(&admin(), &b, ApplyFlags::default()).await.expect("re-plan");
    assert!(again.is_empty(), "{}", again.to_text());
    w.cleanup().await;
}

#[tokio::test]
async fn deployment_pointing_elsewhere_needs_force() {
    let w = World::new("efsforce", true).await;
    let b = bundle(&w.cluster, &[("efs-csi-driver", in_ns(&w.ns))]);
    w.create_deployment(&w.ns, "efs-csi-controller", Some("default")).await;
    let err = kube::plan(&admin(), &b, ApplyFlags::default())
        .await
        .expect_err("conflict on serviceAccountName");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("conflict applying Deployment {}/efs-csi-controller", w.ns)) && msg.contains("--force"),
        "{msg}"
    );
    let force = ApplyFlags {
        force: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b, force).await.expect("plan --force");
    kube::execute(&admin(), &plan, false).await.expect("apply --force");
    assert_eq!(
        w.deployment_sa(&w.ns, "efs-csi-controller").await.as_deref(),
        Some("efs-csi-controller-sa")
    );
    w.cleanup().await;
}

#[tokio::test]
async fn missing_namespace_is_an_error_unless_create_namespace() {
    let w = World::new("nons", false).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let err = kube::plan(&admin(), &b, ApplyFlags::default())
        .await
        .expect_err("missing namespace");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("namespace `{}`", w.ns))
            && msg.contains("does not exist")
            && msg.contains("--create-namespace"),
        "{msg}"
    );
    assert!(!w.namespace_exists(&w.ns).await);

    let flags = ApplyFlags {
        create_namespace: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b, flags).await.expect("plan --create-namespace");
    assert_eq!(
        plan.changes[0].object.label(),
        format!("Namespace {}", w.ns),
        "{}",
        plan.to_text()
    );
    assert_eq!(plan.changes.len(), 4, "{}", plan.to_text());
    kube::execute(&admin(), &plan, false)
        .await
        .expect("apply --create-namespace");
    assert!(w.namespace_exists(&w.ns).await);
    assert!(w.sa(&w.ns, "ebs-csi-controller-sa").await.is_some());
    let again = kube::plan(&admin(), &b, flags).await.expect("re-plan");
    assert!(again.is_empty(), "{}", again.to_text());
    w.cleanup().await;
}

#[tokio::test]
async fn test_pods_are_applied_with_their_service_accounts() {
    let w = World::new("pods", true).await;
    let b = bundle(&w.cluster, &[("ebs-csi-driver", in_ns(&w.ns))]);
    let flags = ApplyFlags {
        test_pods: true,
        ..Default::default()
    };
    let plan = kube::plan(&admin(), &b, flags).await.expect("plan --test-pods");
    let labels: Vec<String> = plan.changes.iter().map(|c| c.object.label()).collect();
    assert_eq!(
        labels,
        vec![
            format!("ServiceAccount {}/ebs-csi-controller-sa", w.ns),
            format!("Pod {}/test-irsa-ebs-csi-controller-sa", w.ns)
        ]
    );
    kube::execute(&admin(), &plan, false).await.expect("apply --test-pods");
    assert_pod_as_rendered(&w, &b, "ebs-csi-driver").await;
    let again = kube::plan(&admin(), &b, flags).await.expect("re-plan");
    assert!(again.is_empty(), "{}", again.to_text());
    w.cleanup().await;
}

#[tokio::test]
async fn test_pod_of_a_chart_service_account_waits_for_the_chart() {
    let w = World::new("chartpod", true).await;
    let o = irsagen::overrides::PresetOverrides {
        service_account_created_by: Some(irsagen::overrides::SaCreator::Helm),
        ..in_ns(&w.ns)
    };
    let b = bundle(&w.cluster, &[("cluster-autoscaler", o)]);
    let flags = ApplyFlags {
        test_pods: true,
        ..Default::default()
    };
    // No ServiceAccount manifest (the chart creates it) and no chart yet: the pod is skipped.
    let plan = kube::plan(&admin(), &b, flags).await.expect("plan");
    let text = plan.to_text();
    assert!(plan.is_empty(), "{text}");
    assert!(
        text.contains(&format!(
            "kube: note: skipped Pod {ns}/test-irsa-cluster-autoscaler: its ServiceAccount {ns}/cluster-autoscaler does not exist yet \
             and irsagen does not create it (the chart does); install the chart, then rerun with --test-pods",
            ns = w.ns
        )),
        "{text}"
    );
    // The chart is installed: the pod is dry-run on the server and planned.
    let arn = role_arn(&w.cluster, &w.ns, "cluster-autoscaler");
    w.apply_sa_as("helm", &w.ns, "cluster-autoscaler", json!({}), json!({ROLE_ARN: arn}))
        .await;
    let plan = kube::plan(&admin(), &b, flags).await.expect("plan");
    assert_eq!(plan.changes.len(), 1, "{}", plan.to_text());
    assert!(!plan.changes[0].deferred);
    kube::execute(&admin(), &plan, false).await.expect("apply");
    assert_pod_as_rendered(&w, &b, "cluster-autoscaler").await;
    w.cleanup().await;
}

/// The README's config, exactly (only the issuer is given instead of `auto`, which needs AWS),
/// on a fresh cluster with `--create-namespace --test-pods`: the autoscaler's chart is not
/// installed, so its test pod is skipped (in the dry run too) and nothing is created for it;
/// the rest is applied and the run exits 0. Works in kube-system and `smallest` as the README
/// does, under the README's cluster name, so the role ARNs are fixed and a rerun converges.
#[test]
fn readme_config_with_create_namespace_and_test_pods_on_a_fresh_cluster() {
    require_peer();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("irsagen.yaml");
    std::fs::write(
        &config,
        format!(
            r#"cluster: smallest-cluster
region: us-east-1
account: "123456789012"      # quoted, so YAML keeps leading zeros; or auto
oidcIssuer: {ISSUER}
tags:                        # on every role (the guide's "Tag Resources")
  Environment: production
  Application: smallest-self-host
presets:                     # the presets to render; {{}} takes the defaults
  cluster-autoscaler:
    releaseNamespace: smallest
    serviceAccountCreatedBy: helm
  ebs-csi-driver: {{}}
  efs-csi-driver: {{}}
"#
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let run = |extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"))
            .args(["apply", "--config", cfg, "--kube", "--create-namespace", "--test-pods"])
            .args(extra)
            .output()
            .expect("run irsagen");
        let text = format!(
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string(), text)
    };
    let client = rt.block_on(::kube::Client::try_default()).unwrap();
    let pods: ::kube::Api<k8s_openapi::api::core::v1::Pod> = ::kube::Api::namespaced(client.clone(), "kube-system");
    let sas: ::kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        ::kube::Api::namespaced(client.clone(), "kube-system");
    let namespaces: ::kube::Api<k8s_openapi::api::core::v1::Namespace> = ::kube::Api::all(client.clone());
    let skip_note = "kube: note: skipped Pod smallest/test-irsa-cluster-autoscaler: its ServiceAccount smallest/cluster-autoscaler \
                     does not exist yet and irsagen does not create it (the chart does); install the chart, then rerun with --test-pods";
    let smallest_exists = || rt.block_on(namespaces.get_opt("smallest")).unwrap().is_some();
    assert!(
        !smallest_exists(),
        "the cluster is not fresh: namespace smallest exists"
    );

    let (code, out, text) = run(&["--dry-run"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(out.contains(skip_note), "{text}");
    assert!(
        !out.contains("create Namespace smallest") && !out.contains("create Pod smallest/"),
        "{text}"
    );
    assert!(
        out.contains("kube: plan: 4 to create, 0 to update, 0 unchanged, 2 skipped"),
        "{text}"
    );

    let (code, out, text) = run(&["--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(out.contains(skip_note), "{text}");
    assert!(out.contains("kube: applied: 4 created, 0 updated"), "{text}");
    assert!(
        !smallest_exists(),
        "namespace smallest created for a skipped pod\n{text}"
    );

    let b = {
        let ca = irsagen::overrides::PresetOverrides {
            release_namespace: Some("smallest".into()),
            service_account_created_by: Some(irsagen::overrides::SaCreator::Helm),
            ..Default::default()
        };
        bundle(
            "smallest-cluster",
            &[
                ("cluster-autoscaler", ca),
                ("ebs-csi-driver", Default::default()),
                ("efs-csi-driver", Default::default()),
            ],
        )
    };
    for sa in ["ebs-csi-controller-sa", "efs-csi-controller-sa"] {
        let live = rt.block_on(sas.get(sa)).expect("ServiceAccount created");
        assert_eq!(
            arn_of(&live).as_deref(),
            Some(role_arn("smallest-cluster", "kube-system", sa).as_str())
        );
    }
    let w = rt.block_on(World::new("readme", false));
    rt.block_on(assert_pod_as_rendered(&w, &b, "ebs-csi-driver"));
    rt.block_on(assert_pod_as_rendered(&w, &b, "efs-csi-driver"));

    // The rerun converges: nothing to change, the pod still skipped with its reason.
    let (code, out, text) = run(&["--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(out.contains("kube: no changes") && out.contains(skip_note), "{text}");

    for sa in ["ebs-csi-controller-sa", "efs-csi-controller-sa"] {
        let _ = rt.block_on(pods.delete(&format!("test-irsa-{sa}"), &Default::default()));
        let _ = rt.block_on(sas.delete(sa, &Default::default()));
    }
}
