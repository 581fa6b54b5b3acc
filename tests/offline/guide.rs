//! The rendered documents are the guide's documents, and the eksctl config is valid for eksctl.

use crate::support::*;
use irsagen::bundle::ArtifactKind;
use serde_json::Value;

fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

fn rendered_json(path: &str) -> Value {
    serde_json::from_str(&guide_bundle().get(path).unwrap().content).unwrap()
}

#[test]
fn cluster_autoscaler_policy_is_the_guides_create_iam_policy_block() {
    let rendered = rendered_json("iam/cluster-autoscaler/policy.json");
    assert_eq!(rendered, fixture_json("guide/cluster-autoscaler-policy.json"));
    let actions: usize = rendered["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Action"].as_array().unwrap().len())
        .sum();
    assert_eq!(actions, 12);
    // The complete example's shorter document is *not* what irsagen uses anywhere.
    assert_ne!(
        rendered,
        fixture_json("guide/setup-irsa-cluster-autoscaler-policy.json")
    );
}

#[test]
fn ebs_policy_is_the_guides_inline_document() {
    assert_eq!(
        rendered_json("iam/ebs-csi-driver/policy.json"),
        fixture_json("guide/ebs-csi-driver-policy.json")
    );
}

#[test]
fn git_blob_id_is_gits() {
    // `printf 'hello\n' | git hash-object --stdin`
    assert_eq!(git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
}

/// A preset file that claims to be an upstream file byte for byte (a `source.blob`, on the
/// preset's document or on any of its `versions`) is that file: its git blob id is the one
/// recorded from upstream, not a comparison with a local copy.
#[test]
fn preset_policy_files_are_the_upstream_blobs_they_name() {
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let mut checked = Vec::new();
    for p in catalog.iter() {
        let pol = &p.preset.policy;
        let document = pol
            .document_file
            .iter()
            .map(|f| (f.clone(), pol.source.as_ref().and_then(|s| s.blob.clone())));
        let versions = pol
            .versions
            .iter()
            .map(|v| (v.document_file.clone(), v.source.blob.clone()));
        for (file, blob) in document.chain(versions) {
            let Some(blob) = blob else { continue };
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("presets")
                .join(&file);
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(git_blob_id(&bytes), blob, "presets/{file} is not upstream blob {blob}");
            checked.push(format!("{}:{file}", p.preset.name));
        }
    }
    assert_eq!(
        checked,
        [
            "aws-load-balancer-controller:policies/aws-load-balancer-controller/v2.13.0.json",
            "ebs-csi-driver:policies/ebs-csi-driver.json",
            "efs-csi-driver:policies/efs-csi-driver.json",
        ]
    );
}

#[test]
fn efs_policy_is_the_upstream_file_the_guide_downloads() {
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let efs = catalog.get("efs-csi-driver").unwrap();
    let src = efs.preset.policy.source.as_ref().unwrap();
    // The guide downloads this repository's file from master; the preset pins it (blob checked above).
    let guide = std::fs::read_to_string(fixture("guide/iam-irsa-guide.md")).unwrap();
    let repo = src.repository.trim_start_matches("https://github.com/");
    let url = format!("https://raw.githubusercontent.com/{repo}/master/{}", src.path);
    assert!(guide.contains(&format!("curl -o efs-iam-policy.json {url}\n")), "{url}");
    // And the rendered policy is that document, unchanged.
    assert_eq!(Some(rendered_json("iam/efs-csi-driver/policy.json")), efs.document);
}

#[test]
fn guide_fixture_blocks_are_still_in_the_guide() {
    // Keeps tests/fixtures/guide honest: each block is taken from the copy of the guide.
    let guide = std::fs::read_to_string(fixture("guide/iam-irsa-guide.md")).unwrap();
    for (f, anchor) in [
        (
            "guide/cluster-autoscaler-policy.json",
            "```json cluster-autoscaler-policy.json\n",
        ),
        (
            "guide/setup-irsa-cluster-autoscaler-policy.json",
            "cat > cluster-autoscaler-policy.json <<EOF\n",
        ),
    ] {
        let block = std::fs::read_to_string(fixture(f)).unwrap();
        assert!(
            guide.contains(&format!("{anchor}{block}")),
            "{f} is not verbatim in the guide"
        );
    }
    // The EBS document is inline in the guide's `aws iam create-policy` call, between quotes.
    let ebs = std::fs::read_to_string(fixture("guide/ebs-csi-driver-policy.json")).unwrap();
    let inline = format!(
        "--policy-name AmazonEKS_EBS_CSI_Driver_Policy \\\n  --policy-document '{}'\n",
        ebs.trim_end_matches('\n')
    );
    assert!(
        guide.contains(&inline),
        "guide/ebs-csi-driver-policy.json is not verbatim in the guide"
    );
}

#[test]
fn one_source_of_truth_for_every_identity() {
    let b = guide_bundle();
    for c in &b.components {
        let trust: Value =
            serde_json::from_str(&b.get(&format!("iam/{}/trust-policy.json", c.preset)).unwrap().content).unwrap();
        let cond = &trust["Statement"][0]["Condition"]["StringEquals"];
        let sub = cond
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with(":sub"))
            .unwrap()
            .1;
        assert_eq!(
            sub,
            &Value::from(format!(
                "system:serviceaccount:{}:{}",
                c.service_account.namespace, c.service_account.name
            ))
        );
        assert!(
            b.get("setup-irsa.sh")
                .unwrap()
                .content
                .contains(&format!("--role-name={}", c.role_name))
        );
        assert!(
            b.get("eksctl/cluster-config.yaml")
                .unwrap()
                .content
                .contains(&format!("roleName: \"{}\"", c.role_name))
        );
        assert!(!b.to_stream().contains("iamserviceaccount-..."));
    }
    let values: Value = serde_saphyr::from_str(&b.get("helm/cluster-autoscaler-values.yaml").unwrap().content).unwrap();
    let sa = &values["cluster-autoscaler"]["rbac"]["serviceAccount"];
    assert_eq!(sa["name"], "cluster-autoscaler");
    assert_eq!(
        sa["create"], false,
        "eksctl creates the ServiceAccount in the guide's flow"
    );
    assert_eq!(
        sa["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/irsa-smallest-cluster-kube-system-cluster-autoscaler"
    );
}

#[test]
fn eksctl_config_validates_against_eksctls_schema() {
    let b = guide_bundle();
    let doc: Value = serde_saphyr::from_str(&b.get("eksctl/cluster-config.yaml").unwrap().content).unwrap();
    let validator = jsonschema::draft7::new(&irsagen::bundle_check::eksctl_schema()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(doc["addons"][0]["name"], "aws-ebs-csi-driver");
    assert_eq!(doc["iam"]["withOIDC"], true);
    // And the schema really checks: a misspelt key is refused.
    let mut bad = doc.clone();
    bad["iam"]["serviceAccounts"][0]["roleNam"] = Value::from("x");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_json_and_yaml_artifact_parses_back() {
    for a in guide_bundle().artifacts {
        match a.kind {
            ArtifactKind::Policy | ArtifactKind::TrustPolicy => {
                serde_json::from_str::<Value>(&a.content).unwrap();
            }
            ArtifactKind::SetupScript | ArtifactKind::Readme => {}
            _ => {
                serde_saphyr::from_str::<Value>(&a.content).unwrap();
            }
        }
    }
}

#[test]
fn same_inputs_same_bytes_whatever_the_preset_order() {
    let a = guide_bundle().to_stream();
    let mut sel = guide_selection();
    sel.reverse();
    let b = render(&guide_inputs(), &sel).unwrap().to_stream();
    assert_eq!(a, b);
}

#[test]
fn partition_reaches_every_arn() {
    let mut inputs = guide_inputs();
    inputs.region = Some("cn-north-1".into());
    inputs.oidc_issuer = Some("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE".into());
    let s = render(&inputs, &guide_selection()).unwrap().to_stream();
    assert!(s.contains("arn:aws-cn:ec2:*:*:volume/*"));
    assert!(s.contains("arn:aws-cn:iam::123456789012:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE"));
    assert!(!s.contains("arn:aws:"), "a commercial ARN leaked into a China render");
}

#[test]
fn without_issuer_no_trust_policy_and_the_readme_says_why() {
    let mut inputs = guide_inputs();
    inputs.oidc_issuer = None;
    let b = render(&inputs, &guide_selection()).unwrap();
    assert_eq!(b.of_kind(ArtifactKind::TrustPolicy).count(), 0);
    assert!(
        b.get("README.md")
            .unwrap()
            .content
            .contains("Trust policies were not rendered")
    );
}

/// The guide's "Tag Resources" tags roles and policies: the user's tags are on both, in the
/// component (read by `apply --aws`) and in the setup script's `ensure_policy` line.
#[test]
fn user_tags_reach_the_policies_too() {
    let mut inputs = guide_inputs();
    inputs.tags = [("Environment".to_string(), "production".to_string())].into();
    let mut sel = guide_selection();
    sel[0].1.tags = [("Team".to_string(), "ml".to_string())].into();
    let b = render(&inputs, &sel).unwrap();
    let ca = b.components.iter().find(|c| c.preset == "cluster-autoscaler").unwrap();
    let want = [
        ("Environment", "production"),
        ("Team", "ml"),
        ("irsagen:preset", "cluster-autoscaler"),
        ("managed-by", "irsagen"),
    ];
    let got: Vec<(&str, &str)> = ca.policy_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
    let ebs = b.components.iter().find(|c| c.preset == "ebs-csi-driver").unwrap();
    assert_eq!(
        ebs.policy_tags.get("Environment").map(String::as_str),
        Some("production")
    );
    assert!(
        !ebs.policy_tags.contains_key("Team"),
        "a preset's own tags stay on that preset"
    );
    let script = &b.get("setup-irsa.sh").unwrap().content;
    let line = script
        .lines()
        .find(|l| l.starts_with("ensure_policy ") && l.contains("AmazonEKSClusterAutoscalerPolicy"))
        .unwrap();
    assert!(line.contains(r#"{"Key":"Team","Value":"ml"}"#), "{line}");
    assert!(line.contains(r#"{"Key":"Environment","Value":"production"}"#), "{line}");
}
