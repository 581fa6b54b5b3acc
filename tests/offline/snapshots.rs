//! Snapshots in snapshots/: every preset × artifact, the whole guide bundle, and variants.
//! CI never rewrites them (INSTA_UPDATE=no in .ci/run).

use crate::support::*;
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;

#[test]
fn every_preset_every_artifact() {
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let settings = insta_settings();
    settings.bind(|| {
        insta::glob!("../../presets", "*.yaml", |path| {
            let preset = path.file_stem().unwrap().to_str().unwrap().to_string();
            // Required parameters get their declared examples (the guide's presets have none).
            let o = example_overrides(&catalog.get(&preset).unwrap().preset, IdentityMode::Irsa);
            let bundle = render(&guide_inputs(), &[(preset.clone(), o)]).unwrap();
            for a in &bundle.artifacts {
                let name = format!("preset__{preset}__{}", a.path.replace(['/', '.'], "_"));
                insta::with_settings!({ info => &a.path, description => format!("preset {preset}, guide cluster, artifact {}", a.path) }, {
                    insta::assert_snapshot!(name, &a.content);
                });
            }
        });
    });
}

/// Every preset × mode × artifact for the non-default modes the preset supports (the `irsa`
/// ones are [`every_preset_every_artifact`], unchanged); a preset that cites no Pod Identity
/// minimum version has none.
#[test]
fn every_preset_every_mode_every_artifact() {
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let settings = insta_settings();
    settings.bind(|| {
        insta::glob!("../../presets", "*.yaml", |path| {
            let preset = path.file_stem().unwrap().to_str().unwrap().to_string();
            let p = &catalog.get(&preset).unwrap().preset;
            for mode in supported_modes(p).into_iter().filter(|m| *m != IdentityMode::Irsa) {
                let o = example_overrides(p, mode);
                let bundle = render(&guide_inputs(), &[(preset.clone(), o)]).unwrap();
                for a in &bundle.artifacts {
                    let name = format!("mode_{mode}__{preset}__{}", a.path.replace(['/', '.'], "_"));
                    insta::with_settings!({ info => &a.path, description => format!("preset {preset}, guide cluster, --mode {mode}, artifact {}", a.path) }, {
                        insta::assert_snapshot!(name, &a.content);
                    });
                }
            }
        });
    });
}

#[test]
fn the_guide_bundle_as_one_snapshot() {
    insta_settings().bind(|| {
        insta::with_settings!({ description => "irsagen render --cluster smallest-cluster --region us-east-1 --account 123456789012 --oidc-issuer <example>" }, {
            insta::assert_snapshot!("guide_bundle", guide_bundle().to_stream());
        });
    });
}

#[test]
fn chart_in_its_own_namespace_standalone_helm_creates_the_service_account() {
    let o = PresetOverrides {
        release_namespace: Some("smallest".into()),
        chart_layout: Some(irsagen::overrides::ChartLayout::Standalone),
        service_account_created_by: Some(irsagen::overrides::SaCreator::Helm),
        tags: [("Environment".to_string(), "production".to_string())].into(),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &[("cluster-autoscaler".into(), o)]).unwrap();
    insta_settings().bind(|| {
        insta::with_settings!({ description => "cluster-autoscaler: releaseNamespace=smallest, chartLayout=standalone, serviceAccountCreatedBy=helm, tags.Environment=production" }, {
            insta::assert_snapshot!("variant_standalone_helm_smallest", b.to_stream());
        });
    });
    // The identity agrees everywhere: trust, values, eksctl (role only), no SA manifest.
    let s = b.to_stream();
    assert!(s.contains("system:serviceaccount:smallest:cluster-autoscaler"));
    assert!(s.contains("roleOnly: true"));
    assert!(s.contains("--role-only"));
    assert!(b.get("kubernetes/cluster-autoscaler/serviceaccount.yaml").is_none());
}

/// The EBS addon creates and annotates its ServiceAccount: eksctl creates the role only, the
/// manifest is still rendered (the object the addon writes); `eksctl` gives the guide's way back.
#[test]
fn ebs_service_account_is_the_addons_and_eksctl_takes_it_back() {
    let entry = |b: &irsagen::bundle::Bundle| {
        let cfg = &b.get("eksctl/cluster-config.yaml").unwrap().content;
        let at = cfg.find("name: \"ebs-csi-controller-sa\"").expect("ebs entry");
        cfg[at..].split("attachPolicyARNs").next().unwrap().to_string()
    };
    let b = render(
        &guide_inputs(),
        &[("ebs-csi-driver".into(), PresetOverrides::default())],
    )
    .unwrap();
    assert!(entry(&b).contains("roleOnly: true"), "{}", entry(&b));
    assert!(b.get("kubernetes/ebs-csi-driver/serviceaccount.yaml").is_some());
    assert_eq!(
        b.components[0].service_account_created_by,
        irsagen::overrides::SaCreator::Addon
    );
    let o = PresetOverrides {
        service_account_created_by: Some(irsagen::overrides::SaCreator::Eksctl),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &[("ebs-csi-driver".into(), o)]).unwrap();
    assert!(!entry(&b).contains("roleOnly"), "{}", entry(&b));
    assert!(
        b.get("setup-irsa.sh")
            .unwrap()
            .content
            .contains("--override-existing-serviceaccounts")
    );
}

#[test]
fn autoscaler_least_privilege_policy_variant() {
    let o = PresetOverrides {
        policy_variant: Some("least-privilege".into()),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &[("cluster-autoscaler".into(), o)]).unwrap();
    insta_settings().bind(|| {
        insta::with_settings!({ description => "cluster-autoscaler: policyVariant=least-privilege" }, {
            insta::assert_snapshot!("variant_least_privilege", b.to_stream());
        });
    });
}

#[test]
fn autoscaler_with_kubernetes_version_and_helm_values() {
    let o = PresetOverrides {
        helm_values: serde_json::from_value(serde_json::json!({
            "extraArgs": {"expander": "least-waste", "balance-similar-node-groups": true},
            "podAnnotations": {"team": "ml"}
        }))
        .unwrap(),
        ..Default::default()
    };
    let mut inputs = guide_inputs();
    inputs.kubernetes_version = Some("1.31".into());
    let b = render(&inputs, &[("cluster-autoscaler".into(), o)]).unwrap();
    insta_settings().bind(|| {
        insta::with_settings!({ description => "cluster-autoscaler: kubernetesVersion=1.31, helmValues extraArgs + podAnnotations" }, {
            insta::assert_snapshot!("variant_k8s_1_31_helm_values", b.get("helm/cluster-autoscaler-values.yaml").unwrap().content.clone());
        });
    });
}
