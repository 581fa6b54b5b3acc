//! The cluster side's plan decisions, offline: `irsagen::kube::decide` fed with what the bundle
//! wants and with recorded API server answers (objects shaped like the API's output), so
//! `cargo test` fails when a decision breaks. The peer suite (tests/peer_kube) covers the real
//! API path. Also: the plan text, the subset verify's owner rule, and the CLI's `--timeout`
//! limits and missing-kubeconfig hint (both decided before any call).

use crate::support::*;
use irsagen::bundle::Bundle;
use irsagen::context::Context;
use irsagen::kube::decide::{self, Decision, Observed, Wanted};
use irsagen::kube::objects::Desired;
use irsagen::kube::{Action, ApplyFlags, Change, Plan, subset};
use irsagen::overrides::{PresetOverrides, SaCreator};
use irsagen::preset::Catalog;
use kube::api::DynamicObject;
use serde_json::json;
use std::collections::BTreeMap;

const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
const FOREIGN: &str = "arn:aws:iam::999999999999:role/someone-elses-role";

fn arn(ns: &str, sa: &str) -> String {
    format!("arn:aws:iam::123456789012:role/irsa-smallest-cluster-{ns}-{sa}")
}

fn bundle(selection: &[(&str, PresetOverrides)]) -> Bundle {
    let sel: Vec<(String, PresetOverrides)> = selection.iter().map(|(p, o)| (p.to_string(), o.clone())).collect();
    render(&guide_inputs(), &sel).expect("render")
}

/// The README's config: the autoscaler's chart in `smallest` creating its ServiceAccount, the
/// two drivers with their defaults (kube-system).
fn readme_bundle() -> Bundle {
    let ca = PresetOverrides {
        release_namespace: Some("smallest".into()),
        service_account_created_by: Some(SaCreator::Helm),
        ..Default::default()
    };
    bundle(&[
        ("cluster-autoscaler", ca),
        ("ebs-csi-driver", PresetOverrides::default()),
        ("efs-csi-driver", PresetOverrides::default()),
    ])
}

fn flags(force: bool, create_namespace: bool, test_pods: bool) -> ApplyFlags {
    ApplyFlags {
        force,
        create_namespace,
        test_pods,
    }
}

fn wanted(b: &Bundle, f: ApplyFlags) -> Wanted {
    Wanted::from_bundle(b, f).expect("wanted")
}

/// A live object as the API server returns it: with uid, resourceVersion and managedFields.
fn live(kind: &str, api_version: &str, ns: &str, name: &str, extra: serde_json::Value) -> DynamicObject {
    let mut v = json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": "0b6c3d4e-0000-4000-8000-000000000001",
                     "resourceVersion": "4711", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "managedFields": [{"manager": "helm", "operation": "Apply", "apiVersion": api_version,
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("live object")
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn sa(ns: &str, name: &str, role_arn: Option<&str>) -> DynamicObject {
    let extra = match role_arn {
        Some(a) => json!({"metadata": {"annotations": {ROLE_ARN: a}}}),
        None => json!({}),
    };
    live("ServiceAccount", "v1", ns, name, extra)
}

fn observed(namespaces: &[&str], objects: Vec<DynamicObject>) -> Observed {
    let objects = objects
        .into_iter()
        .map(|o| {
            let kind = o.types.as_ref().unwrap().kind.clone();
            let label = format!(
                "{kind} {}/{}",
                o.metadata.namespace.as_deref().unwrap(),
                o.metadata.name.as_deref().unwrap()
            );
            (label, o)
        })
        .collect();
    Observed {
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        objects,
    }
}

fn labels(d: &Decision) -> Vec<String> {
    d.steps.iter().map(|s| s.object.label()).collect()
}

#[test]
fn fresh_cluster_plans_every_service_account_as_a_create_validated_on_the_server() {
    let b = guide_bundle();
    let d = decide::decide(
        &wanted(&b, ApplyFlags::default()),
        &observed(&["kube-system"], vec![]),
        ApplyFlags::default(),
    )
    .expect("decide");
    assert_eq!(
        labels(&d),
        [
            "ServiceAccount kube-system/cluster-autoscaler",
            "ServiceAccount kube-system/ebs-csi-controller-sa",
            "ServiceAccount kube-system/efs-csi-controller-sa",
        ]
    );
    for s in &d.steps {
        assert!(s.live.is_none() && !s.force && !s.deferred && s.note.is_none(), "{s:?}");
    }
    assert!(d.namespaces.is_empty());
    // The EFS patch without its Deployment: skipped, with what to do.
    assert_eq!(
        d.skipped,
        [
            "skipped Deployment kube-system/efs-csi-controller: it does not exist (install the driver first; rerun apply after)"
        ]
    );
}

#[test]
fn missing_namespace_is_refused_unless_create_namespace_which_defers_its_objects() {
    let b = bundle(&[
        (
            "ebs-csi-driver",
            PresetOverrides {
                namespace: Some("storage".into()),
                ..Default::default()
            },
        ),
        ("efs-csi-driver", PresetOverrides::default()),
    ]);
    let obs = observed(&["kube-system"], vec![]);
    let err =
        decide::decide(&wanted(&b, ApplyFlags::default()), &obs, ApplyFlags::default()).expect_err("missing namespace");
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        "namespace `storage` (needed by ServiceAccount storage/ebs-csi-controller-sa) does not exist; create it, or pass --create-namespace"
    );

    let f = flags(false, true, false);
    let d = decide::decide(&wanted(&b, f), &obs, f).expect("decide --create-namespace");
    assert_eq!(d.namespaces, ["storage"]);
    let by_label: BTreeMap<String, bool> = d.steps.iter().map(|s| (s.object.label(), s.deferred)).collect();
    // In the new namespace: cannot be dry-run before the namespace exists. In kube-system: can.
    assert!(by_label["ServiceAccount storage/ebs-csi-controller-sa"]);
    assert!(!by_label["ServiceAccount kube-system/efs-csi-controller-sa"]);

    // The namespace exists: nothing to create, nothing deferred.
    let obs = observed(&["kube-system", "storage"], vec![]);
    let d = decide::decide(&wanted(&b, f), &obs, f).expect("decide");
    assert!(d.namespaces.is_empty() && d.steps.iter().all(|s| !s.deferred), "{d:?}");
}

#[test]
fn foreign_role_arn_is_refused_and_force_takes_it_over() {
    let b = bundle(&[("cluster-autoscaler", PresetOverrides::default())]);
    let w = wanted(&b, ApplyFlags::default());
    let ours = arn("kube-system", "cluster-autoscaler");
    let obs = observed(
        &["kube-system"],
        vec![sa("kube-system", "cluster-autoscaler", Some(FOREIGN))],
    );

    let err = decide::decide(&w, &obs, ApplyFlags::default()).expect_err("foreign role-arn");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    for part in [
        "ServiceAccount kube-system/cluster-autoscaler already has eks.amazonaws.com/role-arn=",
        FOREIGN,
        &format!("not {ours}"),
        "refusing to change it",
        "kubectl describe sa cluster-autoscaler -n kube-system",
        "--force",
    ] {
        assert!(msg.contains(part), "missing {part:?} in {msg}");
    }

    let d = decide::decide(&w, &obs, flags(true, false, false)).expect("--force");
    assert_eq!(d.steps.len(), 1);
    let s = &d.steps[0];
    assert!(s.force && s.live.is_some() && !s.deferred, "{s:?}");
    assert_eq!(
        s.note.as_deref(),
        Some(format!("--force: replaces {ROLE_ARN}={FOREIGN}").as_str())
    );

    // Our own ARN, or no annotation at all: nothing to refuse and nothing to force, with or
    // without --force.
    for existing in [Some(ours.as_str()), None] {
        let obs = observed(
            &["kube-system"],
            vec![sa("kube-system", "cluster-autoscaler", existing)],
        );
        for force in [false, true] {
            let d = decide::decide(&w, &obs, flags(force, false, false)).expect("decide");
            let s = &d.steps[0];
            assert!(
                !s.force && s.note.is_none() && s.live.is_some(),
                "{existing:?} {force}: {s:?}"
            );
        }
    }
}

#[test]
fn efs_patch_is_skipped_without_the_deployment_and_compared_with_it() {
    let b = bundle(&[("efs-csi-driver", PresetOverrides::default())]);
    let w = wanted(&b, ApplyFlags::default());
    let d = decide::decide(&w, &observed(&["kube-system"], vec![]), ApplyFlags::default()).unwrap();
    assert_eq!(labels(&d), ["ServiceAccount kube-system/efs-csi-controller-sa"]);
    assert_eq!(d.skipped.len(), 1, "{d:?}");
    assert!(
        d.skipped[0].starts_with("skipped Deployment kube-system/efs-csi-controller: it does not exist"),
        "{d:?}"
    );

    let dep = live(
        "Deployment",
        "apps/v1",
        "kube-system",
        "efs-csi-controller",
        json!({"spec": {"template": {"spec": {"serviceAccountName": "default"}}}}),
    );
    let obs = observed(&["kube-system"], vec![dep]);
    for force in [false, true] {
        let d = decide::decide(&w, &obs, flags(force, false, false)).unwrap();
        assert!(d.skipped.is_empty(), "{d:?}");
        assert_eq!(
            labels(&d),
            [
                "ServiceAccount kube-system/efs-csi-controller-sa",
                "Deployment kube-system/efs-csi-controller"
            ]
        );
        let patch = &d.steps[1];
        // Only --force takes serviceAccountName over from another field manager.
        assert_eq!(patch.force, force);
        assert!(patch.live.is_some() && !patch.deferred);
    }
}

#[test]
fn test_pods_follow_their_service_accounts() {
    let b = bundle(&[("ebs-csi-driver", PresetOverrides::default())]);
    // Without --test-pods: no pod at all.
    let d = decide::decide(
        &wanted(&b, ApplyFlags::default()),
        &observed(&["kube-system"], vec![]),
        ApplyFlags::default(),
    )
    .unwrap();
    assert_eq!(labels(&d), ["ServiceAccount kube-system/ebs-csi-controller-sa"]);

    let f = flags(false, false, true);
    // The ServiceAccount is created by the same plan: the pod comes after it and cannot be
    // dry-run before it exists.
    let d = decide::decide(&wanted(&b, f), &observed(&["kube-system"], vec![]), f).unwrap();
    assert_eq!(
        labels(&d),
        [
            "ServiceAccount kube-system/ebs-csi-controller-sa",
            "Pod kube-system/test-irsa-ebs-csi-controller-sa"
        ]
    );
    assert!(!d.steps[0].deferred && d.steps[1].deferred, "{d:?}");
    // The ServiceAccount exists: the pod is dry-run on the server like any other object.
    let obs = observed(
        &["kube-system"],
        vec![sa(
            "kube-system",
            "ebs-csi-controller-sa",
            Some(&arn("kube-system", "ebs-csi-controller-sa")),
        )],
    );
    let d = decide::decide(&wanted(&b, f), &obs, f).unwrap();
    assert!(d.steps.iter().all(|s| !s.deferred) && d.skipped.is_empty(), "{d:?}");
}

#[test]
fn readme_config_on_a_fresh_cluster_skips_the_chart_test_pod_and_creates_nothing_for_it() {
    // apply --kube --create-namespace --test-pods with the README's config on a fresh cluster:
    // the chart (not installed yet) creates cluster-autoscaler's ServiceAccount in `smallest`.
    let b = readme_bundle();
    let f = flags(false, true, true);
    let w = wanted(&b, f);
    // The plan reads every namespace involved, each wanted object, and the chart's
    // ServiceAccount (to know whether the chart is installed).
    assert_eq!(
        w.namespaces().into_iter().collect::<Vec<_>>(),
        ["kube-system", "smallest"]
    );
    let reads: Vec<String> = w.reads().iter().map(Desired::label).collect();
    assert_eq!(
        reads,
        [
            "ServiceAccount kube-system/ebs-csi-controller-sa",
            "ServiceAccount kube-system/efs-csi-controller-sa",
            "Deployment kube-system/efs-csi-controller",
            "Pod smallest/test-irsa-cluster-autoscaler",
            "Pod kube-system/test-irsa-ebs-csi-controller-sa",
            "Pod kube-system/test-irsa-efs-csi-controller-sa",
            "ServiceAccount smallest/cluster-autoscaler",
        ]
    );

    let fresh = observed(&["default", "kube-system"], vec![]);
    let d = decide::decide(&w, &fresh, f).expect("no error: the pod is skipped, not failed");
    assert_eq!(
        d.skipped,
        [
            "skipped Pod smallest/test-irsa-cluster-autoscaler: its ServiceAccount smallest/cluster-autoscaler does not exist yet \
             and irsagen does not create it (the chart does); install the chart, then rerun with --test-pods",
            "skipped Deployment kube-system/efs-csi-controller: it does not exist (install the driver first; rerun apply after)",
        ]
    );
    // Nothing for the skipped pod: `smallest` is needed by nothing else, so it is not created.
    assert!(d.namespaces.is_empty(), "{d:?}");
    assert_eq!(
        labels(&d),
        [
            "ServiceAccount kube-system/ebs-csi-controller-sa",
            "ServiceAccount kube-system/efs-csi-controller-sa",
            "Pod kube-system/test-irsa-ebs-csi-controller-sa",
            "Pod kube-system/test-irsa-efs-csi-controller-sa",
        ]
    );
    // Without --create-namespace the same plan is no error either.
    let f2 = flags(false, false, true);
    assert!(decide::decide(&wanted(&b, f2), &fresh, f2).is_ok());

    // The chart is installed: its ServiceAccount exists, and the pod is planned and dry-run.
    let installed = observed(
        &["default", "kube-system", "smallest"],
        vec![sa(
            "smallest",
            "cluster-autoscaler",
            Some(&arn("smallest", "cluster-autoscaler")),
        )],
    );
    let d = decide::decide(&w, &installed, f).unwrap();
    let pod = d
        .steps
        .iter()
        .find(|s| s.object.label() == "Pod smallest/test-irsa-cluster-autoscaler")
        .expect("pod planned once the chart's ServiceAccount exists");
    assert!(!pod.deferred && pod.live.is_none(), "{pod:?}");
    assert_eq!(d.skipped.len(), 1, "{d:?}");
}

#[test]
fn compare_ignores_the_servers_bookkeeping_and_shows_real_changes() {
    let b = bundle(&[("ebs-csi-driver", PresetOverrides::default())]);
    let d = &wanted(&b, ApplyFlags::default()).service_accounts[0];
    let ours = arn("kube-system", "ebs-csi-controller-sa");
    let before = sa("kube-system", "ebs-csi-controller-sa", Some(&ours));
    let mut after = before.clone();
    after.metadata.resource_version = Some("4712".into());
    after.metadata.managed_fields = None;
    assert_eq!(decide::compare(d, &before, &after), None);
    let changed = sa("kube-system", "ebs-csi-controller-sa", Some(FOREIGN));
    let diff = decide::compare(d, &changed, &after).expect("a diff");
    let lines = |sign: &str, text: &str| {
        diff.lines()
            .any(|l| l.trim_start().starts_with(sign) && l.contains(text))
    };
    assert!(
        lines("-", FOREIGN) && lines("+", "irsa-smallest-cluster-kube-system-ebs-csi-controller-sa"),
        "{diff}"
    );
    assert!(
        diff.contains("live ServiceAccount kube-system/ebs-csi-controller-sa"),
        "{diff}"
    );
}

#[test]
fn plan_text_uses_terraform_markers_and_counts() {
    let b = bundle(&[("ebs-csi-driver", PresetOverrides::default())]);
    let w = wanted(&b, flags(false, false, true));
    let change = |action, object: &Desired, note: Option<&str>| Change {
        action,
        object: object.clone(),
        force: note.is_some(),
        note: note.map(str::to_string),
        diff: "    + x\n".into(),
        deferred: false,
    };
    let plan = Plan {
        changes: vec![
            change(Action::Create, &w.pods[0], None),
            change(Action::Update, &w.service_accounts[0], Some("--force: replaces x")),
        ],
        unchanged: vec!["Deployment kube-system/efs-csi-controller".into()],
        skipped: vec!["skipped Pod smallest/p: why".into()],
        requests: 0,
    };
    assert_eq!(
        plan.to_text(),
        "kube: + create Pod kube-system/test-irsa-ebs-csi-controller-sa\n    + x\n\
         kube: ~ update ServiceAccount kube-system/ebs-csi-controller-sa (--force: replaces x)\n    + x\n\
         kube:   unchanged Deployment kube-system/efs-csi-controller\n\
         kube: note: skipped Pod smallest/p: why\n\
         kube: plan: 1 to create, 1 to update, 1 unchanged, 1 skipped\n"
    );
    assert_eq!(
        Plan::default().to_text(),
        "kube: plan: 0 to create, 0 to update, 0 unchanged, 0 skipped\n"
    );
}

#[test]
fn subset_verify_knows_the_other_presets_roles_and_still_flags_left_overs() {
    let ebs_only = bundle(&[("ebs-csi-driver", PresetOverrides::default())]);
    let ctx: &Context = &ebs_only.context;
    let config = BTreeMap::from([(
        "cluster-autoscaler".to_string(),
        PresetOverrides {
            release_namespace: Some("smallest".into()),
            ..Default::default()
        },
    )]);
    let others = subset::others(&Catalog::embedded().unwrap(), &ebs_only, &config);
    let names: Vec<&str> = others.0.iter().map(|(p, _)| p.preset.name.as_str()).collect();
    // Every preset of the catalogue but the one rendered.
    let all = Catalog::embedded().unwrap().names();
    assert_eq!(names, all.iter().filter(|n| *n != "ebs-csi-driver").collect::<Vec<_>>());
    assert!(names.contains(&"cluster-autoscaler") && names.contains(&"efs-csi-driver"));
    let r = |ns: &str, name: &str| irsagen::component::ServiceAccountRef {
        namespace: ns.into(),
        name: name.into(),
    };
    // The autoscaler where the config puts it, and the EFS driver at its default place.
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("smallest", "cluster-autoscaler"),
            &arn("smallest", "cluster-autoscaler")
        )
        .as_deref(),
        Some("cluster-autoscaler")
    );
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("kube-system", "efs-csi-controller-sa"),
            &arn("kube-system", "efs-csi-controller-sa")
        )
        .as_deref(),
        Some("efs-csi-driver")
    );
    // The autoscaler's role for kube-system (the preset's default place; the config's
    // releaseNamespace does not hide it).
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("kube-system", "cluster-autoscaler"),
            &arn("kube-system", "cluster-autoscaler")
        )
        .as_deref(),
        Some("cluster-autoscaler")
    );
    // The EFS driver's role for a ServiceAccount in another namespace (its own verify judges it).
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("storage", "efs-csi-controller-sa"),
            &arn("storage", "efs-csi-controller-sa")
        )
        .as_deref(),
        Some("efs-csi-driver")
    );
    // A preset with required parameters not given here (velero needs bucketNames) still owns
    // its role: the role name does not depend on them.
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("velero", "velero-server"),
            &arn("velero", "velero-server")
        )
        .as_deref(),
        Some("velero")
    );
    // An irsagen role name of this cluster that no preset accounts for: a left-over.
    assert_eq!(
        subset::owner(ctx, &others, &r("kube-system", "stale"), &arn("old", "thing")),
        None
    );
    // The selected preset's role is not "another preset's".
    assert_eq!(
        subset::owner(
            ctx,
            &others,
            &r("kube-system", "ebs-csi-controller-sa"),
            &arn("kube-system", "ebs-csi-controller-sa")
        ),
        None
    );
    // The guide's three selected: the others are the rest of the catalogue, none of the three.
    let others = subset::others(&Catalog::embedded().unwrap(), &guide_bundle(), &config);
    assert_eq!(others.0.len(), Catalog::embedded().unwrap().names().len() - 3);
    assert!(
        others
            .0
            .iter()
            .all(|(p, _)| !irsagen::preset::DEFAULT_PRESETS.contains(&p.preset.name.as_str()))
    );
}

fn kube_cli(extra: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    irsagen()
        .env("HOME", home.path())
        .args(["apply", "--kube", "--dry-run"])
        .args(GUIDE_ARGS)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn timeout_flag_limits_and_missing_kubeconfig_suggest_update_kubeconfig() {
    let missing = ["--kubeconfig", "/nonexistent/irsagen/kubeconfig"];
    for (value, ok) in [("0", false), ("1", true), ("3600", true), ("3601", false), ("x", false)] {
        let o = kube_cli(&[&["--timeout", value][..], &missing[..]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        if ok {
            // Accepted: the run gets as far as the kubeconfig.
            assert_eq!(o.status.code(), Some(3), "{value}: {err}");
            assert!(err.contains("/nonexistent/irsagen/kubeconfig"), "{value}: {err}");
        } else {
            assert_eq!(o.status.code(), Some(2), "{value}: {err}");
            assert!(err.contains("--timeout") && err.contains(value), "{value}: {err}");
        }
    }
    // A missing kubeconfig, given or default (~/.kube/config): the message says how to get one.
    for extra in [&missing[..], &[][..]] {
        let o = kube_cli(extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(
            err.contains("cannot read the kubeconfig")
                && err.contains("write it with `aws eks update-kubeconfig --name smallest-cluster --region us-east-1`"),
            "{err}"
        );
    }
}
