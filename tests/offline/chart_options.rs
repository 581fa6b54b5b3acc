//! The chart preset's options: policy variants, the image for the cluster's Kubernetes version,
//! the user's own chart values, and what the output README says about them.

use crate::support::*;
use irsagen::overrides::{ChartLayout, PresetOverrides};
use serde_json::{Value, json};

fn autoscaler(o: PresetOverrides) -> Vec<(String, PresetOverrides)> {
    vec![("cluster-autoscaler".to_string(), o)]
}

fn values(b: &irsagen::bundle::Bundle) -> Value {
    serde_saphyr::from_str(&b.get("helm/cluster-autoscaler-values.yaml").unwrap().content).unwrap()
}

fn readme(b: &irsagen::bundle::Bundle) -> String {
    b.get("README.md").unwrap().content.clone()
}

#[test]
fn least_privilege_policy_is_tag_conditioned_on_this_cluster() {
    let o = PresetOverrides {
        policy_variant: Some("least-privilege".into()),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &autoscaler(o)).unwrap();
    let c = &b.components[0];
    assert_eq!(c.policy_variant, "least-privilege");
    // The document is per cluster, so is its name (a policy name is account-wide).
    assert_eq!(
        c.policy_name,
        "AmazonEKSClusterAutoscalerLeastPrivilegePolicy-smallest-cluster"
    );
    let doc: Value = serde_json::from_str(&b.get("iam/cluster-autoscaler/policy.json").unwrap().content).unwrap();
    assert_eq!(
        doc["Statement"][0]["Condition"]["StringEquals"],
        json!({
            "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
            "aws:ResourceTag/k8s.io/cluster-autoscaler/smallest-cluster": "owned"
        })
    );
    assert_eq!(
        doc["Statement"][0]["Action"],
        json!([
            "autoscaling:SetDesiredCapacity",
            "autoscaling:TerminateInstanceInAutoScalingGroup"
        ])
    );
    assert!(!b.to_stream().contains("<my-cluster>"));
    let r = readme(&b);
    assert!(
        r.contains("is the `least-privilege` document: the EKS Best Practices Guide's tag-conditioned"),
        "{r}"
    );
    assert!(
        r.contains("The `guide` variant also exists (the autoscaler may set the size of"),
        "{r}"
    );
    assert!(r.contains("--set cluster-autoscaler.policyVariant=guide"), "{r}");
    // The default stays the guide's, and its README names the other one.
    let g = guide_bundle();
    let r = readme(&g);
    assert!(r.contains("is the `guide` document"), "{r}");
    assert!(
        r.contains("--set cluster-autoscaler.policyVariant=least-privilege"),
        "{r}"
    );
    // Every cluster gets its own least-privilege policy, named after it.
    let mut other = guide_inputs();
    other.cluster = Some("other".into());
    let o = PresetOverrides {
        policy_variant: Some("least-privilege".into()),
        ..Default::default()
    };
    let b2 = render(&other, &autoscaler(o)).unwrap();
    assert_ne!(b2.components[0].policy_name, c.policy_name);
}

#[test]
fn unknown_policy_variant_is_refused_with_the_known_ones() {
    let o = PresetOverrides {
        policy_variant: Some("tiny".into()),
        ..Default::default()
    };
    let e = render(&guide_inputs(), &autoscaler(o)).unwrap_err().to_string();
    assert!(e.contains("presets.cluster-autoscaler.policyVariant `tiny`"), "{e}");
    assert!(e.contains("known: guide, least-privilege"), "{e}");
}

#[test]
fn kubernetes_version_sets_the_matching_autoscaler_image() {
    let mut i = guide_inputs();
    i.kubernetes_version = Some("1.31".into());
    let b = render(&i, &autoscaler(Default::default())).unwrap();
    assert_eq!(values(&b)["cluster-autoscaler"]["image"], json!({"tag": "v1.31.5"}));
    // Every minor of the table gives an image of that minor.
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let tags = &catalog
        .get("cluster-autoscaler")
        .unwrap()
        .preset
        .helm
        .as_ref()
        .unwrap()
        .image_tags;
    assert!(tags.len() >= 9);
    for (minor, tag) in tags {
        assert!(tag.starts_with(&format!("v{minor}.")), "{minor} -> {tag}");
    }
    // Without a version the chart's default image stays.
    assert!(values(&guide_bundle())["cluster-autoscaler"].get("image").is_none());
    // A version the table does not know is refused, naming the known ones.
    i.kubernetes_version = Some("1.26".into());
    let e = render(&i, &autoscaler(Default::default())).unwrap_err().to_string();
    assert!(
        e.contains("--kubernetes-version `1.26`") && e.contains("1.27, 1.28"),
        "{e}"
    );
    i.kubernetes_version = Some("latest".into());
    assert!(render(&i, &autoscaler(Default::default())).is_err());
}

#[test]
fn kubernetes_version_flag_and_config_key() {
    let o = render_cmd(&["--preset", "cluster-autoscaler", "--kubernetes-version", "1.35"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("tag: \"v1.35.0\""));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        "cluster: smallest-cluster\nregion: us-east-1\naccount: \"123456789012\"\nkubernetesVersion: \"1.30\"\npresets: {cluster-autoscaler: {}}\n",
    )
    .unwrap();
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("tag: \"v1.30.7\""));
}

fn with_values(v: Value) -> PresetOverrides {
    PresetOverrides {
        helm_values: serde_json::from_value(v).unwrap(),
        ..Default::default()
    }
}

#[test]
fn helm_values_are_merged_under_irsagens_keys() {
    let o = with_values(json!({
        "extraArgs": {"expander": "least-waste"},
        "podAnnotations": {"team": "ml"},
        "rbac": {"serviceAccount": {"annotations": {"extra": "yes"}}}
    }));
    let b = render(&guide_inputs(), &autoscaler(o.clone())).unwrap();
    let v = &values(&b)["cluster-autoscaler"];
    assert_eq!(v["extraArgs"]["expander"], "least-waste");
    assert_eq!(v["podAnnotations"]["team"], "ml");
    assert_eq!(v["rbac"]["serviceAccount"]["annotations"]["extra"], "yes");
    assert_eq!(v["enabled"], true);
    let c = &b.components[0];
    assert_eq!(
        v["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        json!(c.role_arn)
    );
    assert_eq!(v["rbac"]["serviceAccount"]["name"], "cluster-autoscaler");
    // Standalone: the same keys at the top level.
    let s = PresetOverrides {
        chart_layout: Some(ChartLayout::Standalone),
        ..o
    };
    let b = render(&guide_inputs(), &autoscaler(s)).unwrap();
    assert_eq!(values(&b)["extraArgs"]["expander"], "least-waste");
}

#[test]
fn helm_values_that_change_the_identity_or_are_not_chart_keys_are_refused() {
    for (v, want) in [
        (
            json!({"rbac": {"serviceAccount": {"name": "other"}}}),
            "would change the identity",
        ),
        (
            json!({"rbac": {"serviceAccount": {"create": true}}}),
            "would change the identity",
        ),
        (
            json!({"rbac": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}}}}),
            "would change the identity",
        ),
        (
            json!({"awsRegion": "eu-west-1"}),
            "helmValues may add keys, not change irsagen's",
        ),
        (
            json!({"imagee": {"tag": "x"}}),
            "`imagee` is not a key of the cluster-autoscaler chart",
        ),
    ] {
        let e = render(&guide_inputs(), &autoscaler(with_values(v.clone())))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{v}: {e}");
    }
    // A preset without a chart takes no helmValues.
    let e = render(
        &guide_inputs(),
        &[("ebs-csi-driver".to_string(), with_values(json!({"a": 1})))],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("presets.ebs-csi-driver.helmValues") && e.contains("Helm chart"),
        "{e}"
    );
}

#[test]
fn helm_values_from_the_cli_and_exit_2_on_identity() {
    let o = render_cmd(&[
        "--preset",
        "cluster-autoscaler",
        "--set",
        "cluster-autoscaler.helmValues.extraArgs.expander=least-waste",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("expander: least-waste"));
    let o = render_cmd(&[
        "--preset",
        "cluster-autoscaler",
        "--set",
        "cluster-autoscaler.helmValues.rbac.serviceAccount.name=x",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("presets.cluster-autoscaler.helmValues.rbac.serviceAccount.name")
    );
}

#[test]
fn the_readme_says_which_chart_the_values_are_for() {
    let r = readme(&guide_bundle());
    assert!(r.contains("is for an umbrella chart"), "{r}");
    assert!(
        r.contains("silently ignores everything under `cluster-autoscaler:`"),
        "{r}"
    );
    assert!(r.contains("--set cluster-autoscaler.chartLayout=standalone"), "{r}");
    let s = PresetOverrides {
        chart_layout: Some(ChartLayout::Standalone),
        ..Default::default()
    };
    let r = readme(&render(&guide_inputs(), &autoscaler(s)).unwrap());
    assert!(
        r.contains("installed directly") && !r.contains("is for an umbrella chart"),
        "{r}"
    );
}

/// The project README lists every free-form map of the chart (computed from its values.yaml).
#[test]
fn the_readme_documents_the_free_form_chart_maps() {
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let chart = catalog.get("cluster-autoscaler").unwrap().chart_values.clone().unwrap();
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for m in chart.free_form_maps().unwrap() {
        assert!(
            readme.contains(&format!("`{m}`")),
            "README.md does not list free-form map `{m}`"
        );
    }
}
