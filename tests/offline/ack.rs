//! `render --format ack`: the guide's cluster as ACK resources (snapshots in irsa and
//! pod-identity modes), each resource equal to the model and valid against the pinned CRDs,
//! tampering caught before anything is written, and the CLI around it (folder, manifest,
//! `--check`, `--all`, `--kubernetes-only`, `apply --from` refused).

use crate::support::*;
use irsagen::ack::{self, Checker, Format};
use irsagen::bundle::{ArtifactKind, Bundle};
use irsagen::context::Context;
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use serde_json::Value;

fn ack_bundle(mode: IdentityMode) -> irsagen::Result<Bundle> {
    let selection: Vec<(String, PresetOverrides)> = guide_selection()
        .into_iter()
        .map(|(p, o)| {
            (
                p,
                PresetOverrides {
                    identity_mode: Some(mode),
                    ..o
                },
            )
        })
        .collect();
    let ctx = Context::new(&guide_inputs())?;
    Renderer::new(None, None)?
        .with_format(Format::Ack)
        .render(&ctx, &selection)
}

fn yaml(content: &str) -> Value {
    serde_saphyr::from_str(content).unwrap()
}

#[test]
fn the_guide_cluster_as_ack_resources() {
    for mode in [IdentityMode::Irsa, IdentityMode::PodIdentity] {
        let b = ack_bundle(mode).unwrap();
        insta_settings().bind(|| {
            insta::with_settings!({ description => format!("irsagen render <guide inputs> --mode {mode} --format ack") }, {
                insta::assert_snapshot!(format!("ack_guide_{mode}"), b.to_stream());
            });
        });
    }
}

#[test]
fn every_resource_carries_the_models_role_trust_and_documents() {
    let b = ack_bundle(IdentityMode::PodIdentity).unwrap();
    let paths: Vec<&str> = b.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("eksctl/") || p.ends_with(".sh")),
        "{paths:?}"
    );
    for c in &b.components {
        let role = yaml(&b.get(&ack::layout::role(&c.preset)).unwrap().content);
        assert_eq!(role["kind"], "Role");
        assert_eq!(role["spec"]["name"], c.role_name.as_str());
        let trust: Value = serde_json::from_str(role["spec"]["assumeRolePolicyDocument"].as_str().unwrap()).unwrap();
        assert_eq!(Some(&trust), c.trust_policy.as_ref());
        // The same document as the default format's trust policy file.
        let file: Value =
            serde_json::from_str(&b.get(&format!("iam/{}/trust-policy.json", c.preset)).unwrap().content).unwrap();
        assert_eq!(trust, file);
        assert_eq!(role["spec"]["policies"], serde_json::json!([c.policy_arn]));
        let policy = yaml(&b.get(&ack::layout::policy(&c.preset)).unwrap().content);
        let doc: Value = serde_json::from_str(policy["spec"]["policyDocument"].as_str().unwrap()).unwrap();
        assert_eq!(doc, c.policy_document);
        assert_eq!(policy["spec"]["name"], c.policy_name.as_str());
        let assoc = yaml(
            &b.get(&ack::layout::pod_identity_association(&c.preset))
                .unwrap()
                .content,
        );
        assert_eq!(assoc["spec"]["roleARN"], c.role_arn.as_str());
        assert_eq!(assoc["spec"]["clusterName"], "smallest-cluster");
        assert_eq!(assoc["spec"]["serviceAccount"], c.service_account.name.as_str());
    }
    // IRSA only: no association.
    let irsa = ack_bundle(IdentityMode::Irsa).unwrap();
    assert_eq!(
        irsa.artifacts
            .iter()
            .filter(|a| a.path.ends_with("pod-identity-association.yaml"))
            .count(),
        0
    );
}

/// The check is what stops a bad resource: each tampering is refused with the file named.
#[test]
fn a_tampered_resource_is_refused_by_schema_or_model() {
    let b = ack_bundle(IdentityMode::PodIdentity).unwrap();
    let checker = Checker::new();
    checker.check(&b).unwrap();
    let role = ack::layout::role("ebs-csi-driver");
    let cases = [
        (
            role.as_str(),
            "policies:\n  - ",
            "policies:\n  - \"x\"\n  - ",
            "must attach",
        ),
        (
            role.as_str(),
            "spec:\n  name: irsa-",
            "spec:\n  nmae: x\n  name: irsa-",
            "does not match the Role CRD's schema",
        ),
        (
            role.as_str(),
            "policies:\n  - arn:",
            "policies: 7\n  x:\n  - arn:",
            "does not match the Role CRD's schema",
        ),
        (
            role.as_str(),
            "kubernetes-service-account\": \"ebs-csi-controller-sa\"",
            "kubernetes-service-account\": \"other\"",
            "with the rendered trust policy",
        ),
        (
            "ack/ebs-csi-driver/pod-identity-association.yaml",
            "clusterName: smallest-cluster",
            "clusterName: other",
            "must associate kube-system/ebs-csi-controller-sa in cluster smallest-cluster",
        ),
        (
            "ack/ebs-csi-driver/policy.yaml",
            "ec2:CreateSnapshot",
            "ec2:*",
            "must be policy AmazonEKS_EBS_CSI_Driver_Policy",
        ),
    ];
    for (path, from, to, want) in cases {
        let mut bad = b.clone();
        let a = bad.artifacts.iter_mut().find(|a| a.path == path).unwrap();
        assert!(a.content.contains(from), "{path}: {from}");
        a.content = a.content.replacen(from, to, 1);
        let e = checker
            .check(&bad)
            .err()
            .unwrap_or_else(|| panic!("{path}: {to} passed"))
            .to_string();
        assert!(
            e.starts_with(&format!("rendered `{path}` is invalid")) && e.contains(want),
            "{e}\nwanted {want}"
        );
    }
    // A kind irsagen does not render.
    let mut bad = b.clone();
    let a = bad
        .artifacts
        .iter_mut()
        .find(|a| a.kind == ArtifactKind::AckResource)
        .unwrap();
    a.content = a.content.replacen("kind: ", "kind: Other\nx: ", 1);
    assert!(checker.check(&bad).is_err());
}

#[test]
fn what_ack_cannot_express_is_refused_before_writing() {
    let mut inputs = guide_inputs();
    inputs.oidc_issuer = None;
    let ctx = Context::new(&inputs).unwrap();
    let r = Renderer::new(None, None).unwrap().with_format(Format::Ack);
    let e = r.render(&ctx, &guide_selection()).unwrap_err().to_string();
    assert!(e.contains("--oidc-issuer") && e.contains("--format ack"), "{e}");
    let o = PresetOverrides {
        identity_mode: Some(IdentityMode::PodIdentity),
        pod_identity_trust: Some(irsagen::identity::PodIdentityTrust::Unscoped),
        disable_session_tags: Some(true),
        ..Default::default()
    };
    let ctx = Context::new(&guide_inputs()).unwrap();
    let e = r
        .render(&ctx, &[("ebs-csi-driver".to_string(), o)])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid presets.ebs-csi-driver.disableSessionTags `true`"),
        "{e}"
    );
}

#[test]
fn the_cli_writes_checks_and_refuses_apply_from_an_ack_folder() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let out_s = out.to_str().unwrap();
    let o = render_cmd(&["--format", "ack", "--out-dir", out_s]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("ack/ebs-csi-driver/role.yaml").is_file());
    assert!(!out.join("eksctl").exists() && !out.join("setup-irsa.sh").exists());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(".irsagen-manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"]["format"], "ack");
    // Up to date in its format; the default format over it is a difference.
    let o = render_cmd(&["--format", "ack", "--out-dir", out_s, "--check"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = render_cmd(&["--out-dir", out_s, "--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = irsagen()
        .args(["apply", "--from", out_s, "--aws", "--yes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--format ack") && e.contains("ack/ --recursive"), "{e}");
    // The default format's manifest does not name a format (its output is unchanged).
    let plain = t.path().join("plain");
    let o = render_cmd(&["--out-dir", plain.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success());
    let m = std::fs::read_to_string(plain.join(".irsagen-manifest.json")).unwrap();
    assert!(!m.contains("\"format\""), "{m}");
}

#[test]
fn kubernetes_only_streams_service_accounts_and_ack_resources() {
    let o = render_cmd(&["--format", "ack", "--kubernetes-only"]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Role").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "Policy").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "ServiceAccount").count(), 3, "{kinds:?}");
}

#[test]
fn a_fleet_renders_in_ack_format_too() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("irsagen.yaml"),
        "account: \"123456789012\"\nregion: us-east-1\npresets: {ebs-csi-driver: {}}\nclusters:\n  a: {oidcIssuer: \"https://oidc.eks.us-east-1.amazonaws.com/id/AAAA\"}\n  b: {oidcIssuer: \"https://oidc.eks.us-east-1.amazonaws.com/id/BBBB\"}\n",
    )
    .unwrap();
    let o = irsagen()
        .args([
            "render",
            "--config",
            "irsagen.yaml",
            "--all",
            "--out-dir",
            "out",
            "--format",
            "ack",
        ])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for c in ["a", "b"] {
        let role = std::fs::read_to_string(t.path().join(format!("out/{c}/ack/ebs-csi-driver/role.yaml"))).unwrap();
        assert!(
            role.contains(&format!("name: irsa-{c}-kube-system-ebs-csi-controller-sa")),
            "{role}"
        );
    }
}

#[test]
fn an_aws_managed_preset_has_a_role_listing_the_managed_arns_and_no_policy_object() {
    let ctx = Context::new(&guide_inputs()).unwrap();
    let selection = vec![("amazon-vpc-cni".to_string(), PresetOverrides::default())];
    let b = Renderer::new(None, None)
        .unwrap()
        .with_format(Format::Ack)
        .render(&ctx, &selection)
        .unwrap();
    let paths: Vec<String> = b.artifacts.iter().map(|a| a.path.clone()).collect();
    assert!(
        !paths.iter().any(|p| p.ends_with("ack/amazon-vpc-cni/policy.yaml")),
        "{paths:?}"
    );
    let role = b
        .artifacts
        .iter()
        .find(|a| a.path.ends_with("ack/amazon-vpc-cni/role.yaml"))
        .expect("role.yaml");
    assert_eq!(
        yaml(&role.content)["spec"]["policies"],
        serde_json::json!(["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"])
    );
}
