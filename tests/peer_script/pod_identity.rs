//! The script's EKS Pod Identity path (`--mode pod-identity` and `--mode both`) run for real: IAM
//! against moto, kubectl against the kube-apiserver, and the EKS calls moto does not have (the
//! agent addon, the associations) against the EKS stand-in (lib/eks-stand-in, reached through the
//! aws wrapper; eksctl's `create podidentityassociation` through the eksctl stand-in). So the
//! script's control flow is tested (first run, re-run with no writes, drift repaired, a failed read
//! is not "absent"), but the EKS half is NOT tested against a server.

use crate::support::*;
use serde_json::Value;

const SAS: [&str; 3] = ["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"];
const AGENT: &str = "eks-pod-identity-agent";

fn trust_of(s: &Setup, sa: &str) -> Value {
    let doc = s.aws(&[
        "iam",
        "get-role",
        "--role-name",
        &s.role_name(sa),
        "--query",
        "Role.AssumeRolePolicyDocument",
        "--output",
        "json",
    ]);
    serde_json::from_str(&doc).unwrap()
}

fn rendered_trust(s: &Setup, preset: &str) -> Value {
    let text = std::fs::read_to_string(s.out.join(format!("iam/{preset}/trust-policy.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn preset_of(sa: &str) -> &'static str {
    match sa {
        "cluster-autoscaler" => "cluster-autoscaler",
        "ebs-csi-controller-sa" => "ebs-csi-driver",
        _ => "efs-csi-driver",
    }
}

/// What Pod Identity needs, read back after a run: each role trusts exactly as rendered, each
/// ServiceAccount's association gives its role, the agent is installed.
fn assert_pod_identity_set_up(s: &Setup) {
    assert!(s.has_addon(AGENT), "the agent addon is installed");
    for sa in SAS {
        assert_eq!(trust_of(s, sa), rendered_trust(s, preset_of(sa)), "trust of {sa}");
        let a = s.association(sa).unwrap_or_else(|| panic!("no association for {sa}"));
        assert_eq!(a["roleArn"], s.role_arn(sa), "{a}");
    }
}

fn providers(s: &Setup) -> String {
    s.aws(&[
        "iam",
        "list-open-id-connect-providers",
        "--query",
        "OpenIDConnectProviderList[].Arn",
        "--output",
        "text",
    ])
}

/// Writes without `kubectl apply -k` of the local EFS overlay (unchanged, it changes nothing:
/// the resourceVersions say so).
fn writes_but_overlay(calls: &[Call]) -> Vec<String> {
    writes(calls)
        .into_iter()
        .filter(|c| !c.contains("kubectl apply -k"))
        .collect()
}

#[test]
fn pod_identity_first_run_rerun_and_drift_repair() {
    let s = Setup::new("podid", &["--set", LOCAL_OVERLAY, "--mode", "pod-identity"]);

    // First run: the agent, the roles (through eksctl), their rendered trust, the associations.
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    let w = writes(&calls);
    let has = |needle: &str| w.iter().filter(|c| c.contains(needle)).count();
    assert_eq!(
        has(&format!("[script] aws eks create-addon --cluster-name {}", s.cluster)),
        1,
        "{w:#?}"
    );
    assert_eq!(has("[eksctl-stand-in] aws iam create-role"), 3, "{w:#?}");
    assert_eq!(
        has("[eksctl-stand-in] aws eks create-pod-identity-association"),
        3,
        "{w:#?}"
    );
    // eksctl leaves its unscoped trust; the script sets the rendered (scoped) one on each role.
    assert_eq!(has("[script] aws iam update-assume-role-policy"), 3, "{w:#?}");
    // No IRSA: no OIDC provider, no iamserviceaccount, no annotation.
    assert!(
        calls
            .iter()
            .all(|c| !c.args.contains("oidc-provider") && !c.args.contains("iamserviceaccount")),
        "{calls:#?}"
    );
    assert_eq!(providers(&s).trim(), "");
    assert_pod_identity_set_up(&s);
    for sa in SAS {
        assert_eq!(s.annotation(sa), "", "{sa} has no IRSA annotation");
    }
    let ca = s.association("cluster-autoscaler").unwrap();
    assert_eq!(ca["tags"]["irsagen:preset"], "cluster-autoscaler", "{ca}");
    assert_eq!(
        ca["tags"]["alpha.eksctl.io/podidentityassociation-name"],
        format!("{}/cluster-autoscaler", s.namespace)
    );
    // EBS CSI: its SA comes from the rendered manifest, its addon from eksctl.
    assert!(s.has_addon("aws-ebs-csi-driver"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("setup complete and checked"), "{out}");

    // Second run on an unchanged world: no write on any side.
    let before = s.resource_versions();
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "second run: {}", text(&o));
    let w = writes_but_overlay(&calls);
    assert!(w.is_empty(), "an unchanged world takes no writes: {w:#?}");
    assert_eq!(s.resource_versions(), before);

    // Drift: the autoscaler's association repointed at another role, the EFS role's trust
    // widened to eksctl's unscoped form, an IRSA annotation put back on the EBS ServiceAccount.
    let ca_id = ca["associationId"].as_str().unwrap().to_string();
    let stray = format!("arn:aws:iam::{ACCOUNT}:role/stray");
    s.eks(
        "update-pod-identity-association",
        &["--association-id", &ca_id, "--role-arn", &stray],
    );
    let mut unscoped = rendered_trust(&s, "efs-csi-driver");
    unscoped["Statement"][0].as_object_mut().unwrap().remove("Condition");
    s.aws(&[
        "iam",
        "update-assume-role-policy",
        "--role-name",
        &s.role_name("efs-csi-controller-sa"),
        "--policy-document",
        &unscoped.to_string(),
    ]);
    s.kubectl(&[
        "annotate",
        "serviceaccount",
        "ebs-csi-controller-sa",
        "-n",
        &s.namespace,
        &format!("eks.amazonaws.com/role-arn={}", s.role_arn("ebs-csi-controller-sa")),
    ]);

    // --check names the three, exits 1, and writes nothing.
    let (o, calls) = s.script(&["--check"], &[]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for needle in [
        format!(
            "FAIL: the Pod Identity association of {}/cluster-autoscaler names role {stray}, want {}",
            s.namespace,
            s.role_arn("cluster-autoscaler")
        ),
        format!(
            "FAIL: role {}'s trust policy differs from iam/efs-csi-driver/trust-policy.json",
            s.role_name("efs-csi-controller-sa")
        ),
        format!(
            "FAIL: ServiceAccount {}/ebs-csi-controller-sa still has role-arn annotation",
            s.namespace
        ),
        "3 problem(s)".to_string(),
    ] {
        assert!(err.contains(&needle), "{needle}\n{err}");
    }
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));

    // The re-run repairs exactly those three, in the script's order.
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "repair run: {}", text(&o));
    let w = writes_but_overlay(&calls);
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(
        w[0].contains(&format!(
            "aws eks update-pod-identity-association --cluster-name {} --region us-east-1 --association-id {ca_id} --role-arn {}",
            s.cluster,
            s.role_arn("cluster-autoscaler")
        )),
        "{w:#?}"
    );
    assert!(
        w[1].contains("kubectl annotate serviceaccount ebs-csi-controller-sa") && w[1].ends_with("role-arn-"),
        "{w:#?}"
    );
    assert!(
        w[2].contains(&format!(
            "aws iam update-assume-role-policy --role-name {}",
            s.role_name("efs-csi-controller-sa")
        )),
        "{w:#?}"
    );
    assert_pod_identity_set_up(&s);
    assert_eq!(s.annotation("ebs-csi-controller-sa"), "");
    s.cleanup();
}

#[test]
fn both_first_run_keeps_irsa_and_adds_pod_identity_then_rerun_writes_nothing() {
    let s = Setup::new("both", &["--set", LOCAL_OVERLAY, "--mode", "both"]);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    let w = writes(&calls);
    let has = |needle: &str| w.iter().filter(|c| c.contains(needle)).count();
    // IRSA as before: the provider and eksctl's iamserviceaccount roles, annotated.
    assert_eq!(has("aws iam create-open-id-connect-provider"), 1, "{w:#?}");
    assert_eq!(has("[eksctl-stand-in] aws iam create-role"), 3, "{w:#?}");
    // Pod Identity next to it: the agent, the associations made by the script itself.
    assert_eq!(has("[script] aws eks create-addon"), 1, "{w:#?}");
    assert_eq!(has("[script] aws eks create-pod-identity-association"), 3, "{w:#?}");
    assert_eq!(has("[script] aws iam update-assume-role-policy"), 3, "{w:#?}");
    assert_pod_identity_set_up(&s);
    for sa in SAS {
        assert_eq!(
            s.annotation(sa),
            s.role_arn(sa),
            "{sa} keeps its IRSA annotation in both"
        );
        let st = trust_of(&s, sa)["Statement"].clone();
        assert_eq!(
            st.as_array().unwrap().len(),
            2,
            "IRSA's statement, then Pod Identity's: {st}"
        );
        assert!(st[0]["Principal"]["Federated"].is_string() && st[1]["Principal"]["Service"].is_string());
    }
    // The EBS addon is bound to the role for IRSA (its pods get both sets of variables).
    assert!(s.has_addon("aws-ebs-csi-driver"));

    let before = s.resource_versions();
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "second run: {}", text(&o));
    let w = writes_but_overlay(&calls);
    assert!(w.is_empty(), "{w:#?}");
    assert_eq!(s.resource_versions(), before);
    s.cleanup();
}

#[test]
fn a_failed_eks_read_is_an_error_not_absent() {
    let s = Setup::new("podid-denied", &["--set", LOCAL_OVERLAY, "--mode", "pod-identity"]);
    let (o, calls) = s.script(&[], &[("IRSAGEN_FAIL_AWS", "eks describe-addon")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("AccessDenied") && err.contains("describe-addon"), "{err}");
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));

    // Set up, then the association lookup fails: the script stops there with the error and
    // never takes the failure for "no association" (which would make it create one).
    let (o, _) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (o, calls) = s.script(&[], &[("IRSAGEN_FAIL_AWS", "eks list-pod-identity-associations")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("AccessDenied") && err.contains("list-pod-identity-associations"),
        "{err}"
    );
    assert!(
        !calls.iter().any(|c| c.args.contains("create-pod-identity-association")
            || c.args.contains("update-pod-identity-association")),
        "{calls:#?}"
    );
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));
    s.cleanup();
}
