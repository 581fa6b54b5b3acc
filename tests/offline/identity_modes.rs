//! `--mode irsa|pod-identity|both`: the cluster setting, its per-preset override, the Pod
//! Identity trust and the bundle each mode renders for the guide's cluster.

use crate::support::*;
use irsagen::identity::{IdentityMode, Mechanism, PodIdentityTrust};
use irsagen::overrides::PresetOverrides;
use serde_json::{Value, json};

fn mode(m: IdentityMode) -> PresetOverrides {
    PresetOverrides {
        identity_mode: Some(m),
        ..Default::default()
    }
}

fn guide_in(m: IdentityMode) -> irsagen::bundle::Bundle {
    let sel: Vec<(String, PresetOverrides)> = guide_selection().into_iter().map(|(p, _)| (p, mode(m))).collect();
    render(&guide_inputs(), &sel).unwrap()
}

fn yaml(b: &irsagen::bundle::Bundle, path: &str) -> Value {
    serde_saphyr::from_str(&b.get(path).unwrap_or_else(|| panic!("{path}")).content).unwrap()
}

fn trust(b: &irsagen::bundle::Bundle, preset: &str) -> Value {
    serde_json::from_str(&b.get(&format!("iam/{preset}/trust-policy.json")).unwrap().content).unwrap()
}

const CLUSTER_ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/smallest-cluster";

#[test]
fn irsa_is_the_default_and_renders_the_same_bytes() {
    let default = guide_bundle().to_stream();
    assert_eq!(guide_in(IdentityMode::Irsa).to_stream(), default);
    assert!(!default.contains("pods.eks.amazonaws.com"));
    assert!(!default.contains("podIdentityAssociations"));
}

#[test]
fn pod_identity_renders_a_complete_bundle_without_annotations() {
    let b = guide_in(IdentityMode::PodIdentity);
    for c in &b.components {
        assert!(c.uses(Mechanism::PodIdentity) && !c.uses(Mechanism::Irsa));
        let t = trust(&b, &c.preset);
        let st = t["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1, "{t}");
        assert_eq!(st[0]["Principal"], json!({"Service": "pods.eks.amazonaws.com"}));
        assert_eq!(st[0]["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
        let eq = &st[0]["Condition"]["StringEquals"];
        assert_eq!(eq["aws:SourceAccount"], json!("123456789012"));
        assert_eq!(eq["aws:RequestTag/eks-cluster-arn"], json!(CLUSTER_ARN));
        assert_eq!(
            eq["aws:RequestTag/kubernetes-namespace"],
            json!(c.service_account.namespace)
        );
        assert_eq!(
            eq["aws:RequestTag/kubernetes-service-account"],
            json!(c.service_account.name)
        );
        if let Some(sa) = b.get(&format!("kubernetes/{}/serviceaccount.yaml", c.preset)) {
            assert!(!sa.content.contains("eks.amazonaws.com/role-arn"), "{}", sa.content);
        }
    }
    let cfg = yaml(&b, "eksctl/cluster-config.yaml");
    assert!(cfg["iam"].get("serviceAccounts").is_none(), "{cfg}");
    assert!(cfg["iam"].get("withOIDC").is_none());
    // EBS is addon-managed: its association is the addon's own, not iam.podIdentityAssociations.
    let own: Vec<&str> = cfg["iam"]["podIdentityAssociations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["serviceAccountName"].as_str().unwrap())
        .collect();
    assert_eq!(own, ["cluster-autoscaler", "efs-csi-controller-sa"]);
    let addons = cfg["addons"].as_array().unwrap();
    assert_eq!(addons[0]["name"], json!("eks-pod-identity-agent"));
    let ebs = addons
        .iter()
        .find(|a| a["name"] == json!("aws-ebs-csi-driver"))
        .unwrap();
    assert!(ebs.get("serviceAccountRoleARN").is_none(), "{ebs}");
    assert_eq!(
        ebs["podIdentityAssociations"][0]["serviceAccountName"],
        json!("ebs-csi-controller-sa")
    );
    let values = &b.get("helm/cluster-autoscaler-values.yaml").unwrap().content;
    assert!(!values.contains("eks.amazonaws.com/role-arn"), "{values}");
    let script = &b.get("setup-irsa.sh").unwrap().content;
    for needle in [
        "aws eks create-pod-identity-association",
        "aws eks list-pod-identity-associations",
        "aws eks update-pod-identity-association",
        "aws iam update-assume-role-policy",
        "ensure_agent",
    ] {
        assert!(script.contains(needle), "{needle}");
    }
    assert!(!script.contains("eksctl utils associate-iam-oidc-provider --cluster"));
}

#[test]
fn both_keeps_irsa_and_adds_pod_identity_irsa_first() {
    let b = guide_in(IdentityMode::Both);
    let irsa = guide_bundle();
    for c in &b.components {
        let st = trust(&b, &c.preset)["Statement"].as_array().unwrap().clone();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0], trust(&irsa, &c.preset)["Statement"][0]);
        assert_eq!(st[1]["Principal"]["Service"], json!("pods.eks.amazonaws.com"));
    }
    let cfg = yaml(&b, "eksctl/cluster-config.yaml");
    assert_eq!(cfg["iam"]["serviceAccounts"].as_array().unwrap().len(), 3);
    assert_eq!(cfg["iam"]["podIdentityAssociations"].as_array().unwrap().len(), 2);
    let ebs = cfg["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == json!("aws-ebs-csi-driver"))
        .unwrap()
        .clone();
    assert!(ebs["serviceAccountRoleARN"].is_string());
    assert_eq!(
        ebs["podIdentityAssociations"][0]["roleARN"],
        ebs["serviceAccountRoleARN"]
    );
    let sa = yaml(&b, "kubernetes/efs-csi-driver/serviceaccount.yaml");
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string());
}

#[test]
fn pod_identity_needs_no_issuer_but_both_does() {
    let mut inputs = guide_inputs();
    inputs.oidc_issuer = None;
    let sel = [("cluster-autoscaler".to_string(), mode(IdentityMode::PodIdentity))];
    let b = render(&inputs, &sel).unwrap();
    assert!(b.get("iam/cluster-autoscaler/trust-policy.json").is_some());
    let sel = [("cluster-autoscaler".to_string(), mode(IdentityMode::Both))];
    let b = render(&inputs, &sel).unwrap();
    assert!(b.get("iam/cluster-autoscaler/trust-policy.json").is_none());
}

#[test]
fn unscoped_trust_keeps_only_the_account_and_warns() {
    let o = PresetOverrides {
        identity_mode: Some(IdentityMode::PodIdentity),
        pod_identity_trust: Some(PodIdentityTrust::Unscoped),
        disable_session_tags: Some(true),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &[("cluster-autoscaler".into(), o)]).unwrap();
    let t = trust(&b, "cluster-autoscaler");
    assert_eq!(
        t["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": "123456789012"}})
    );
    assert!(b.components[0].warnings()[0].contains("unscoped"));
    let cfg = yaml(&b, "eksctl/cluster-config.yaml");
    assert_eq!(
        cfg["iam"]["podIdentityAssociations"][0]["disableSessionTags"],
        json!(true)
    );

    let o = irsagen_cli(&[
        "--mode",
        "pod-identity",
        "--preset",
        "cluster-autoscaler",
        "--set",
        "cluster-autoscaler.podIdentityTrust=unscoped",
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning:") && err.contains("unscoped"), "{err}");
    // The warning is on stderr only: stdout stays the files.
    assert!(!String::from_utf8_lossy(&o.stdout).contains("warning:"));
}

fn irsagen_cli(extra: &[&str]) -> std::process::Output {
    render_cmd(extra).output().unwrap()
}

fn refused(extra: &[&str], expect: &[&str]) {
    let o = irsagen_cli(extra);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
    for e in expect {
        assert!(err.contains(e), "{extra:?}: expected `{e}` in {err}");
    }
    assert!(o.stdout.is_empty(), "nothing rendered on bad input");
}

#[test]
fn bad_modes_and_session_tags_are_refused_by_name() {
    refused(
        &["--mode", "pod_identity"],
        &["--mode", "pod_identity", "irsa, pod-identity, both"],
    );
    refused(
        &["--set", "ebs-csi-driver.identityMode=podidentity"],
        &["ebs-csi-driver.identityMode", "podidentity", "irsa, pod-identity, both"],
    );
    refused(
        &["--set", "ebs-csi-driver.podIdentityTrust=open"],
        &["podIdentityTrust", "open", "scoped, unscoped"],
    );
    refused(
        &["--set", "ebs-csi-driver.disableSessionTags=yes"],
        &["disableSessionTags", "yes", "`true` or `false`"],
    );
    refused(
        &[
            "--mode",
            "pod-identity",
            "--set",
            "ebs-csi-driver.disableSessionTags=true",
        ],
        &[
            "presets.ebs-csi-driver.disableSessionTags",
            "aws:RequestTag/eks-cluster-arn",
            "podIdentityTrust: unscoped",
        ],
    );
}

#[test]
fn the_config_file_sets_the_mode_per_cluster_and_a_preset_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        "region: us-east-1\naccount: \"123456789012\"\nidentityMode: both\nclusters:\n  a: {}\n  b:\n    identityMode: pod-identity\npresets:\n  cluster-autoscaler: {}\n  ebs-csi-driver:\n    identityMode: irsa\n",
    )
    .unwrap();
    let modes = |cluster: &str, extra: &[&str]| {
        let o = irsagen()
            .args([
                "render",
                "--config",
                cfg.to_str().unwrap(),
                "--cluster",
                cluster,
                "--oidc-issuer",
                ISSUER,
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = String::from_utf8(o.stdout).unwrap();
        (
            s.contains("sts:AssumeRoleWithWebIdentity"),
            s.contains("pods.eks.amazonaws.com"),
        )
    };
    // a: both (top level) for the autoscaler, irsa for EBS.
    assert_eq!(modes("a", &[]), (true, true));
    // b: pod-identity for the autoscaler; EBS stays irsa (the preset wins).
    assert_eq!(modes("b", &["--preset", "cluster-autoscaler"]), (false, true));
    assert_eq!(modes("b", &["--preset", "ebs-csi-driver"]), (true, false));
    // --mode wins over the file's cluster setting, not over the preset's own.
    assert_eq!(
        modes("b", &["--preset", "cluster-autoscaler", "--mode", "irsa"]),
        (true, false)
    );
    assert_eq!(
        modes("a", &["--preset", "ebs-csi-driver", "--mode", "pod-identity"]),
        (true, false)
    );

    std::fs::write(
        &cfg,
        "region: us-east-1\naccount: \"123456789012\"\nidentityMode: podidentity\n",
    )
    .unwrap();
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap(), "--cluster", "a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("identityMode") && err.contains("podidentity") && err.contains("pod-identity"),
        "{err}"
    );
}

#[test]
fn a_hand_edited_pod_identity_trust_is_caught() {
    let b = guide_in(IdentityMode::PodIdentity);
    let c = &b.components[0];
    let mut t = c.trust_policy.clone().unwrap();
    t["Statement"][0]["Condition"]["StringEquals"]
        .as_object_mut()
        .unwrap()
        .remove("aws:RequestTag/kubernetes-service-account");
    let mut bad = b.clone();
    let path = format!("iam/{}/trust-policy.json", c.preset);
    bad.artifacts.iter_mut().find(|a| a.path == path).unwrap().content = serde_json::to_string_pretty(&t).unwrap();
    let err = irsagen::bundle_check::Checker::new()
        .check(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pods.eks.amazonaws.com") && err.contains(CLUSTER_ARN),
        "{err}"
    );
}

#[test]
fn a_leftover_annotation_or_a_missing_agent_is_caught_in_pod_identity() {
    let b = guide_in(IdentityMode::PodIdentity);
    let edit = |path: &str, f: &dyn Fn(&str) -> String| {
        let mut bad = b.clone();
        let a = bad.artifacts.iter_mut().find(|a| a.path == path).unwrap();
        a.content = f(&a.content);
        irsagen::bundle_check::Checker::new()
            .check(&bad)
            .unwrap_err()
            .to_string()
    };
    let err = edit("kubernetes/efs-csi-driver/serviceaccount.yaml", &|s| {
        format!("{s}  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/x\n")
    });
    assert!(err.contains("must not carry eks.amazonaws.com/role-arn"), "{err}");
    let err = edit("eksctl/cluster-config.yaml", &|s| {
        s.replace("  - name: \"eks-pod-identity-agent\"\n", "")
    });
    assert!(err.contains("eks-pod-identity-agent"), "{err}");
    let err = edit("eksctl/cluster-config.yaml", &|s| {
        s.replacen(
            "serviceAccountName: \"efs-csi-controller-sa\"",
            "serviceAccountName: \"other\"",
            1,
        )
    });
    assert!(
        err.contains("iam.podIdentityAssociations entry for kube-system/efs-csi-controller-sa"),
        "{err}"
    );
}
