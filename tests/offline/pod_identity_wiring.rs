//! Pod Identity wired into apply --aws and verify --aws: which associations a bundle asks for
//! in each mode, and the EKS half of the plan and of verify from a rendered bundle. The EKS
//! calls run against recorded responses (see pod_identity_aws.rs: moto has no Pod Identity
//! API), so these tests are NOT tested against a server either.

use crate::eks_replay::{ADDON, CLUSTER, addon_absent, addon_active, assert_sent, describe, list, post, replay};
use crate::support;
use irsagen::aws::pod_identity::{BundleAssociations, EksOp};
use irsagen::aws::{self, CallStats};
use irsagen::bundle::Bundle;
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::report::Status;
use serde_json::json;

/// The mode is another change's flag: tests set the field the flag sets.
fn with_mode(mut b: Bundle, mode: IdentityMode) -> Bundle {
    for c in &mut b.components {
        c.identity_mode = mode;
    }
    b
}

fn autoscaler(mode: IdentityMode) -> Bundle {
    let sel = vec![("cluster-autoscaler".to_string(), PresetOverrides::default())];
    with_mode(support::render(&support::guide_inputs(), &sel).unwrap(), mode)
}

#[test]
fn associations_follow_the_mode_and_the_addons_are_left_to_them() {
    let irsa = support::guide_bundle();
    assert!(BundleAssociations::of(&irsa).is_empty());
    for mode in [IdentityMode::PodIdentity, IdentityMode::Both] {
        let a = BundleAssociations::of(&with_mode(support::guide_bundle(), mode));
        let applied: Vec<String> = a.applied.iter().map(|d| d.key()).collect();
        assert_eq!(
            applied,
            [
                "smallest-cluster/kube-system/cluster-autoscaler",
                "smallest-cluster/kube-system/efs-csi-controller-sa"
            ]
        );
        // EBS CSI: the addon creates its ServiceAccount and its association.
        let by_addon: Vec<String> = a.by_addon.iter().map(|d| d.key()).collect();
        assert_eq!(by_addon, ["smallest-cluster/kube-system/ebs-csi-controller-sa"]);
        assert_eq!(a.all().len(), 3);
        assert!(
            a.addon_notes()[0].contains("left to its EKS addon"),
            "{:?}",
            a.addon_notes()
        );
        let ca = &a.applied[0];
        assert_eq!(
            ca.role_arn,
            "arn:aws:iam::123456789012:role/irsa-smallest-cluster-kube-system-cluster-autoscaler"
        );
        assert_eq!(ca.preset, "cluster-autoscaler");
        assert_eq!(ca.tags["irsagen:preset"], "cluster-autoscaler");
    }
}

#[tokio::test]
async fn irsa_mode_makes_no_eks_call_in_plan_or_verify() {
    // A replay with no answer: any request would fail the plan and show in the log.
    let (clients, http, expects) = replay(vec![]).await;
    let bundle = support::guide_bundle();
    let (plan, notes) = aws::plan_eks(&clients, &bundle, false).await.unwrap();
    assert!(plan.items.is_empty() && notes.is_empty());
    let (checks, stats) = aws::verify_eks(&clients, &bundle).await.unwrap();
    assert!(checks.is_empty());
    assert_eq!(stats, CallStats::default());
    assert_sent(&http, &expects);
    assert!(clients.log.actions().is_empty(), "{:?}", clients.log.actions());
    // The whole plan's text has no EKS part.
    let mut p = aws::Plan::default();
    p.eks = plan;
    assert!(!p.to_text().contains("eks plan"), "{}", p.to_text());
}

#[tokio::test]
async fn pod_identity_mode_plans_the_agent_and_the_association_in_the_same_plan() {
    let bundle = autoscaler(IdentityMode::PodIdentity);
    let (clients, http, expects) = replay(vec![addon_absent(), list("list-associations-empty.json")]).await;
    let (eks, notes) = aws::plan_eks(&clients, &bundle, false).await.unwrap();
    assert_sent(&http, &expects);
    assert!(notes.is_empty());
    let mut p = aws::Plan::default();
    p.eks = eks;
    assert!(!p.is_empty());
    let role = &bundle.components[0].role_arn;
    assert_eq!(
        p.calls(),
        vec![
            "eks:CreateAddon smallest-cluster/eks-pod-identity-agent".to_string(),
            format!("eks:CreatePodIdentityAssociation smallest-cluster/kube-system/cluster-autoscaler {role}"),
        ]
    );
    let text = p.to_text();
    // IAM's part first (empty here), then EKS's, in one text.
    let iam = text.find("plan:").expect("IAM summary");
    let eks = text.find("eks plan: 2 to create").expect("EKS summary");
    assert!(iam < eks, "{text}");
    // The create carries every tag of the role and the ownership tag.
    let tags = p
        .eks
        .items
        .iter()
        .flat_map(|i| &i.ops)
        .find_map(|op| match op {
            EksOp::CreateAssociation { tags, .. } => Some(tags.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(tags["managed-by"], "irsagen");
    assert_eq!(tags["irsagen:cluster"], "smallest-cluster");
    // Execute (with no IAM change) makes the EKS writes only, in the plan's order.
    let (clients, http, _expects) = replay(vec![
        {
            let e = post(&format!("/clusters/{CLUSTER}/addons"), json!(null));
            let ev = crate::eks_replay::ok(&e, "create-addon.json");
            (e, ev)
        },
        {
            let e = post(&format!("/clusters/{CLUSTER}/pod-identity-associations"), json!(null));
            let ev = crate::eks_replay::ok(&e, "create-association.json");
            (e, ev)
        },
    ])
    .await;
    let p = p.with_clients(clients.clone());
    let report = aws::execute_report(&aws::AwsOptions::default(), &p).await.unwrap();
    assert_eq!(report.stats.writes, 2, "{:?}", report);
    assert_eq!(
        clients.log.actions(),
        vec!["eks:CreateAddon", "eks:CreatePodIdentityAssociation"]
    );
    let paths: Vec<String> = http
        .actual_requests()
        .map(|r| r.uri().trim_start_matches(crate::eks_replay::ENDPOINT).to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/clusters/smallest-cluster/addons",
            "/clusters/smallest-cluster/pod-identity-associations"
        ]
    );
}

#[tokio::test]
async fn re_apply_of_a_bundle_makes_no_write() {
    let bundle = autoscaler(IdentityMode::Both);
    let (clients, http, expects) = replay(vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-bundle.json"),
    ])
    .await;
    let (eks, _) = aws::plan_eks(&clients, &bundle, false).await.unwrap();
    assert_sent(&http, &expects);
    let mut p = aws::Plan::default();
    p.eks = eks;
    assert!(p.is_empty(), "{}", p.to_text());
    assert!(p.calls().is_empty());
    assert!(
        p.to_text().contains("eks plan: 0 to create, 0 to update, 2 unchanged"),
        "{}",
        p.to_text()
    );
    let p = p.with_clients(clients.clone());
    let report = aws::execute_report(&aws::AwsOptions::default(), &p).await.unwrap();
    assert!(report.done.is_empty());
    assert_eq!(clients.log.stats(), CallStats { calls: 3, writes: 0 });
}

#[tokio::test]
async fn verify_checks_the_agent_and_each_association_of_the_bundle() {
    let bundle = autoscaler(IdentityMode::PodIdentity);
    let (clients, http, expects) = replay(vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-bundle.json"),
    ])
    .await;
    let (checks, stats) = aws::verify_eks(&clients, &bundle).await.unwrap();
    assert_sent(&http, &expects);
    assert_eq!(stats, CallStats { calls: 3, writes: 0 });
    let names: Vec<(&str, Status)> = checks.iter().map(|c| (c.name.as_str(), c.status)).collect();
    assert_eq!(
        names,
        [
            ("pod-identity-agent", Status::Pass),
            ("pod-identity-association", Status::Pass)
        ]
    );
    // Absent agent and association: both fail, with the command that fixes them.
    let (clients, _h, _e) = replay(vec![addon_absent(), list("list-associations-empty.json")]).await;
    let (checks, _) = aws::verify_eks(&clients, &bundle).await.unwrap();
    assert!(checks.iter().all(|c| c.status == Status::Fail), "{checks:?}");
    assert!(checks[1].detail.contains("no Pod Identity association"), "{checks:?}");
    let _ = ADDON;
}

/// EBS CSI alone in `pod-identity` mode: its association is the addon's, so apply makes none,
/// yet the pods get no credentials without the agent, so apply still installs it.
#[tokio::test]
async fn the_agent_is_planned_when_the_only_association_is_an_addons() {
    let sel = vec![(
        "ebs-csi-driver".to_string(),
        PresetOverrides {
            identity_mode: Some(IdentityMode::PodIdentity),
            ..Default::default()
        },
    )];
    let bundle = support::render(&support::guide_inputs(), &sel).unwrap();
    let a = BundleAssociations::of(&bundle);
    assert!(a.applied.is_empty());
    assert_eq!(a.by_addon.len(), 1);
    assert_eq!(a.agent_clusters(), [CLUSTER]);

    // Agent absent: the plan reads the addon only (no association of apply's to read) and
    // creates it; the association is a note.
    let (clients, http, expects) = replay(vec![addon_absent()]).await;
    let (eks, notes) = aws::plan_eks(&clients, &bundle, false).await.unwrap();
    assert_sent(&http, &expects);
    let mut p = aws::Plan::default();
    p.eks = eks;
    p.eks_notes = notes;
    assert_eq!(p.calls(), ["eks:CreateAddon smallest-cluster/eks-pod-identity-agent"]);
    let text = p.to_text();
    assert!(
        text.contains("eks plan: 1 to create, 0 to update, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains(
            "association smallest-cluster/kube-system/ebs-csi-controller-sa [ebs-csi-driver]: left to its EKS addon"
        ),
        "{text}"
    );
    // Agent active: nothing to do.
    let (clients, http, expects) = replay(vec![addon_active()]).await;
    let (eks, _) = aws::plan_eks(&clients, &bundle, false).await.unwrap();
    assert_sent(&http, &expects);
    assert!(eks.is_empty() && eks.items.len() == 1, "{}", eks.to_text());

    // Verify checks the agent too, then the addon's association.
    let ebs_list = "/clusters/smallest-cluster/pod-identity-associations?namespace=kube-system&serviceAccount=ebs-csi-controller-sa";
    let (clients, http, expects) = replay(vec![addon_absent(), {
        let e = crate::eks_replay::get(ebs_list);
        let ev = crate::eks_replay::ok(&e, "list-associations-empty.json");
        (e, ev)
    }])
    .await;
    let (checks, _) = aws::verify_eks(&clients, &bundle).await.unwrap();
    assert_sent(&http, &expects);
    let names: Vec<(&str, Status)> = checks.iter().map(|c| (c.name.as_str(), c.status)).collect();
    assert_eq!(
        names,
        [
            ("pod-identity-agent", Status::Fail),
            ("pod-identity-association", Status::Fail)
        ]
    );
}

#[test]
fn plan_migration_prints_the_three_stages_for_the_selected_presets() {
    let o = support::irsagen()
        .arg("plan-migration")
        .args(support::GUIDE_ARGS)
        .args(["--preset", "cluster-autoscaler"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("for: cluster-autoscaler (kube-system/cluster-autoscaler)\n"),
        "{out}"
    );
    assert!(!out.contains("efs-csi-driver"), "{out}");
    let stages: Vec<usize> = ["Stage 1", "Stage 2", "Stage 3"]
        .iter()
        .map(|s| out.find(s).unwrap_or_else(|| panic!("{s} in {out}")))
        .collect();
    assert!(stages.windows(2).all(|w| w[0] < w[1]));
    // The commands repeat the inputs given.
    assert!(out.contains("irsagen apply --aws --cluster smallest-cluster"), "{out}");
    // Bad input: the same clear error as render, nothing printed on stdout.
    let o = support::irsagen()
        .args([
            "plan-migration",
            "--cluster",
            "c",
            "--region",
            "us-east-1",
            "--account",
            "12",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("account"));
}
