//! `apply --aws` and `verify --aws` in `pod-identity` mode, end to end, split in two halves in
//! the same run: the IAM half (roles trusting `pods.eks.amazonaws.com`, policies, tags) against
//! moto, the EKS half (the associations and the agent addon) against recorded EKS responses
//! (tests/shared/eks_replay.rs), because moto has no Pod Identity or addon API. The EKS half is
//! therefore NOT tested against a server. One set of clients carries both (`Clients::with_eks`),
//! so one call log shows every request of a phase.
//!
//! No preset uses IRSA, so the bundle is rendered without an OIDC issuer, and apply neither needs
//! nor creates the cluster's OIDC provider; verify does not check it.

use crate::eks_replay::{
    Expect, addon_absent, addon_active, assert_sent, describe, get, list, ok, post, replay_config,
};
use crate::support::*;
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use irsagen::aws::{self, Change, Clients, Desired, ResourceKind};
use irsagen::bundle::Bundle;
use irsagen::context::Context;
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use serde_json::{Value, json};

const PRESETS: [&str; 2] = ["cluster-autoscaler", "ebs-csi-driver"];
const EBS_LIST: &str =
    "/clusters/smallest-cluster/pod-identity-associations?namespace=kube-system&serviceAccount=ebs-csi-controller-sa";
const EBS_DESCRIBE: &str = "/clusters/smallest-cluster/pod-identity-associations/a-1hq5v2k8wz7c3mrtd";

/// cluster-autoscaler (an association apply makes) and ebs-csi-driver (its EKS addon makes its
/// association) in `pod-identity` mode, rendered without an OIDC issuer.
fn pod_identity_bundle() -> Bundle {
    let mut no_issuer = inputs();
    no_issuer.oidc_issuer = None;
    let selection: Vec<(String, PresetOverrides)> = PRESETS
        .iter()
        .map(|p| {
            (
                p.to_string(),
                PresetOverrides {
                    identity_mode: Some(IdentityMode::PodIdentity),
                    ..Default::default()
                },
            )
        })
        .collect();
    Renderer::new(None, None)
        .unwrap()
        .render(&Context::new(&no_issuer).unwrap(), &selection)
        .expect("renders without an issuer")
}

/// Clients whose IAM and STS calls go to moto and whose EKS calls are answered by `events`.
async fn clients(events: Vec<(Expect, ReplayEvent)>) -> (Clients, StaticReplayClient, Vec<Expect>) {
    let (eks_sdk, http, expects) = replay_config(events).await;
    let moto = Clients::new(&opts()).await.expect("moto clients");
    (moto.with_eks(&eks_sdk), http, expects)
}

/// EKS after the first apply: the agent is active, the autoscaler's association is irsagen's
/// with the bundle's tags.
fn eks_converged_plan() -> Vec<(Expect, ReplayEvent)> {
    vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-bundle.json"),
    ]
}

/// What verify reads from that EKS: the plan's reads, then the EBS addon's association.
fn eks_converged_verify() -> Vec<(Expect, ReplayEvent)> {
    let mut v = eks_converged_plan();
    for (path, fixture) in [
        (EBS_LIST, "list-associations-ebs-addon.json"),
        (EBS_DESCRIBE, "describe-association-ebs-addon.json"),
    ] {
        let e = get(path);
        let ev = ok(&e, fixture);
        v.push((e, ev));
    }
    v
}

/// No request of the log touched the OIDC provider.
fn no_oidc_call(c: &Clients) {
    let actions = c.log.actions();
    assert!(
        actions.iter().all(|a| !a.contains("OpenIDConnectProvider")),
        "{actions:?}"
    );
}

async fn verify_checks(bundle: &Bundle, desired: &Desired) -> Vec<irsagen::report::Check> {
    let (c, http, expects) = clients(eks_converged_verify()).await;
    let (checks, stats) = aws::verify_with(&c, desired, bundle).await.expect("verify runs");
    assert_sent(&http, &expects);
    assert_eq!(stats.writes, 0);
    no_oidc_call(&c);
    checks
}

#[test]
fn pod_identity_apply_reapply_and_verify_without_an_issuer() {
    peer_test(async {
        let bundle = pod_identity_bundle();
        let desired = Desired::from_bundle(&bundle, "apply --aws").expect("no issuer needed in pod-identity");
        assert!(desired.oidc.is_none());
        let ca_role = role_of(&bundle, "cluster-autoscaler");
        let ebs_role = role_of(&bundle, "ebs-csi-driver");

        // ---- plan: IAM is empty, the agent and the association are absent.
        let (c, http, expects) = clients(vec![addon_absent(), list("list-associations-empty.json")]).await;
        let plan = aws::plan_with(&c, &desired, &bundle, false).await.expect("plan");
        assert_sent(&http, &expects);
        no_oidc_call(&c);
        let kinds: Vec<(ResourceKind, Change)> = plan.items.iter().map(|i| (i.kind, i.change)).collect();
        assert_eq!(
            kinds,
            [
                (ResourceKind::Policy, Change::Create),
                (ResourceKind::Policy, Change::Create),
                (ResourceKind::Role, Change::Create),
                (ResourceKind::Role, Change::Create),
            ],
            "no OIDC provider in pod-identity mode:\n{}",
            plan.to_text()
        );
        let ca_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ca_role}");
        assert_eq!(
            plan.eks.calls(),
            [
                "eks:CreateAddon smallest-cluster/eks-pod-identity-agent".to_string(),
                format!("eks:CreatePodIdentityAssociation smallest-cluster/kube-system/cluster-autoscaler {ca_arn}"),
            ]
        );
        assert!(
            plan.to_text()
                .contains("ebs-csi-controller-sa [ebs-csi-driver]: left to its EKS addon"),
            "{}",
            plan.to_text()
        );

        // ---- execute: IAM writes go to moto, then the EKS writes to the recorded answers.
        let (c, http, _) = clients(vec![
            {
                let e = post(&format!("/clusters/{CLUSTER}/addons"), json!(null));
                let ev = ok(&e, "create-addon.json");
                (e, ev)
            },
            {
                let e = post(&format!("/clusters/{CLUSTER}/pod-identity-associations"), json!(null));
                let ev = ok(&e, "create-association.json");
                (e, ev)
            },
        ])
        .await;
        let plan = plan.with_clients(c.clone());
        let report = aws::execute_report(&opts(), &plan).await.expect("apply");
        // 2 policies, 2 roles, 2 attachments (tags go with the creates); the agent, the association.
        assert_eq!((report.stats.calls, report.stats.writes), (8, 8), "{report:?}");
        no_oidc_call(&c);
        let eks_writes: Vec<String> = c.log.actions().into_iter().filter(|a| a.starts_with("eks:")).collect();
        assert_eq!(eks_writes, ["eks:CreateAddon", "eks:CreatePodIdentityAssociation"]);
        // The association names the role moto now holds, with irsagen's tags.
        let sent: Vec<Value> = http
            .actual_requests()
            .map(|r| serde_json::from_slice(r.body().bytes().unwrap()).unwrap())
            .collect();
        let iam = iam().await;
        let live_ca = iam.get_role().role_name(&ca_role).send().await.unwrap().role.unwrap();
        assert_eq!(sent[1]["roleArn"], json!(live_ca.arn()));
        assert_eq!(sent[1]["namespace"], "kube-system");
        assert_eq!(sent[1]["serviceAccount"], "cluster-autoscaler");
        assert_eq!(sent[1]["tags"]["managed-by"], "irsagen");
        assert_eq!(sent[0]["addonName"], "eks-pod-identity-agent");

        // ---- what moto holds: no OIDC provider; roles trusting only pods.eks.amazonaws.com.
        let providers = iam.list_open_id_connect_providers().send().await.unwrap();
        assert!(providers.open_id_connect_provider_list().is_empty(), "{providers:?}");
        for (preset, role) in [("cluster-autoscaler", &ca_role), ("ebs-csi-driver", &ebs_role)] {
            let r = iam.get_role().role_name(role).send().await.unwrap().role.unwrap();
            let trust = aws::decode_document(r.assume_role_policy_document().unwrap(), "trust").unwrap();
            let st = trust["Statement"].as_array().unwrap();
            assert_eq!(st.len(), 1, "{trust}");
            assert_eq!(st[0]["Principal"], json!({"Service": "pods.eks.amazonaws.com"}));
            assert_eq!(st[0]["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
            let eq = &st[0]["Condition"]["StringEquals"];
            assert_eq!(eq["aws:SourceAccount"], ACCOUNT);
            assert_eq!(
                eq["aws:RequestTag/eks-cluster-arn"],
                format!("arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{CLUSTER}")
            );
            let tags: Vec<(&str, &str)> = r.tags().iter().map(|t| (t.key(), t.value())).collect();
            assert!(tags.contains(&("managed-by", "irsagen")), "{tags:?}");
            assert!(tags.contains(&("irsagen:preset", preset)), "{tags:?}");
            let attached = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
            let arns: Vec<&str> = attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn())
                .collect();
            assert_eq!(arns, [policy_of(&bundle, preset)]);
        }

        // ---- re-apply: nothing to do, and no write anywhere.
        let (c, http, expects) = clients(eks_converged_plan()).await;
        let again = aws::plan_with(&c, &desired, &bundle, false).await.expect("re-plan");
        assert_sent(&http, &expects);
        assert!(again.is_empty(), "{}", again.to_text());
        assert!(again.calls().is_empty());
        let exec = aws::execute_report(&opts(), &again).await.unwrap();
        assert_eq!(exec.stats.calls, 0);
        assert_eq!(c.log.stats().writes, 0, "{:?}", c.log.actions());
        no_oidc_call(&c);

        // ---- verify: every check passes; there is no OIDC provider check.
        let checks = verify_checks(&bundle, &desired).await;
        assert_failing(&checks, &[]);
        assert!(checks.iter().all(|k| k.name != "oidc-provider"));
        for (preset, name) in [
            (None, "pod-identity-agent"),
            (Some("cluster-autoscaler"), "pod-identity-association"),
            (Some("ebs-csi-driver"), "pod-identity-association"),
            (Some("cluster-autoscaler"), "trust-pod-identity"),
            (Some("ebs-csi-driver"), "trust-pod-identity"),
        ] {
            check(&checks, preset, name);
        }
    });
}

#[test]
fn a_pod_identity_trust_widened_by_hand_fails_verify_and_apply_repairs_it() {
    peer_test(async {
        let bundle = pod_identity_bundle();
        let desired = Desired::from_bundle(&bundle, "apply --aws").unwrap();
        let ca_role = role_of(&bundle, "cluster-autoscaler");
        // Apply the IAM half; EKS already holds what the bundle wants.
        let (c, _h, _e) = clients(eks_converged_plan()).await;
        let plan = aws::plan_with(&c, &desired, &bundle, false).await.unwrap();
        assert!(plan.eks.is_empty(), "{}", plan.to_text());
        aws::execute_report(&opts(), &plan).await.unwrap();
        assert_failing(&verify_checks(&bundle, &desired).await, &[]);

        // By hand: the form eksctl and the console write, any association in the account may
        // use the role (only aws:SourceAccount left).
        let mut unscoped = desired.roles[0].trust.clone();
        let cond = unscoped["Statement"][0]["Condition"]["StringEquals"]
            .as_object_mut()
            .unwrap();
        cond.retain(|k, _| k == "aws:SourceAccount");
        let iam = iam().await;
        iam.update_assume_role_policy()
            .role_name(&ca_role)
            .policy_document(unscoped.to_string())
            .send()
            .await
            .unwrap();
        let checks = verify_checks(&bundle, &desired).await;
        let failed = assert_failing(
            &checks,
            &[
                (Some("cluster-autoscaler"), "trust-pod-identity"),
                (Some("cluster-autoscaler"), "trust-statements"),
            ],
        );
        assert!(
            failed[0].detail.contains("rendered statements missing or changed"),
            "{}",
            failed[0].detail
        );

        // A second statement next to the rendered one widens it too.
        let mut plus = desired.roles[0].trust.clone();
        let extra = unscoped["Statement"][0].clone();
        plus["Statement"].as_array_mut().unwrap().push(extra);
        iam.update_assume_role_policy()
            .role_name(&ca_role)
            .policy_document(plus.to_string())
            .send()
            .await
            .unwrap();
        assert_failing(
            &verify_checks(&bundle, &desired).await,
            &[(Some("cluster-autoscaler"), "trust-statements")],
        );

        // apply puts the rendered trust back with one write; verify passes again.
        let (c, _h, _e) = clients(eks_converged_plan()).await;
        let plan = aws::plan_with(&c, &desired, &bundle, false).await.unwrap();
        assert_eq!(plan.calls(), [format!("iam:UpdateAssumeRolePolicy {ca_role}")]);
        let report = aws::execute_report(&opts(), &plan).await.unwrap();
        assert_eq!(report.stats.writes, 1);
        assert_failing(&verify_checks(&bundle, &desired).await, &[]);
    });
}
