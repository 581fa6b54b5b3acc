//! Snapshots in snapshots/: every preset × artifact, the whole guide bundle, and variants.
//! CI never rewrites them (INSTA_UPDATE=no in .ci/run).

use crate::support::*;
use irsagen::overrides::PresetOverrides;

#[test]
fn every_preset_every_artifact() {
    let settings = insta_settings();
    settings.bind(|| {
        insta::glob!("../../presets", "*.yaml", |path| {
            let preset = path.file_stem().unwrap().to_str().unwrap().to_string();
            let bundle = render(&guide_inputs(), &[(preset.clone(), PresetOverrides::default())]).unwrap();
            for a in &bundle.artifacts {
                let name = format!("preset__{preset}__{}", a.path.replace(['/', '.'], "_"));
                insta::with_settings!({ info => &a.path, description => format!("preset {preset}, guide cluster, artifact {}", a.path) }, {
                    insta::assert_snapshot!(name, &a.content);
                });
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
