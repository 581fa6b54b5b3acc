//! Charts as data: a chart preset added with data files only (a preset, its chart's values.yaml
//! copy and a values body template, under `--presets-dir` / `--templates-dir`) renders, is
//! wrapped for both layouts and is checked against its own chart's keys and ServiceAccount path.

use crate::support::*;
use irsagen::context::Context;
use irsagen::overrides::{ChartLayout, PresetOverrides, SaCreator};
use irsagen::render::Renderer;
use serde_json::{Value, json};
use std::path::Path;

/// A chart whose ServiceAccount settings sit at `serviceAccount` under other key names than the
/// defaults, to show nothing assumes the autoscaler's `rbac.serviceAccount.{create,name}`.
const VALUES: &str = "\
# -- region the controller talks to
region: \"\"
serviceAccount:
  # -- create it
  make: true
  saName: \"\"
  annotations: {}
podLabels: {}
image:
  tag: \"\"
";

const PRESET: &str = r#"
name: demo
description: a chart preset made of data files only
serviceAccount: {namespace: demo-ns, name: demo-sa}
policy:
  name: DemoPolicy
  document: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}
  source: {document: test, repository: https://example.com/r, path: p.json, commit: "0000000", date: "2026-01-01"}
helm:
  chart: demo-chart
  repository: https://example.github.io/demo-charts
  version: 1.2.3
  valuesReference: charts/demo-chart/values.yaml
  serviceAccount: {path: serviceAccount, create: make, name: saName}
  valuesTemplate: helm/demo-chart-values-body.yaml
  layout: standalone
"#;

const BODY: &str = r#"region: {{ ctx.region }}
serviceAccount:
  make: {{ c.chart_creates_service_account }}
  saName: {{ c.service_account.name }}
  annotations:
{% for k, v in c.annotations|items %}
    {{ k|safe }}: {{ v }}
{% endfor %}
"#;

struct Dirs {
    _tmp: tempfile::TempDir,
    presets: std::path::PathBuf,
    templates: std::path::PathBuf,
}

fn dirs(preset: &str, values: Option<&str>, body: &str) -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let presets = tmp.path().join("presets");
    let templates = tmp.path().join("templates");
    std::fs::create_dir_all(presets.join("charts/demo-chart")).unwrap();
    std::fs::create_dir_all(templates.join("helm")).unwrap();
    std::fs::write(presets.join("demo.yaml"), preset).unwrap();
    if let Some(v) = values {
        std::fs::write(presets.join("charts/demo-chart/values.yaml"), v).unwrap();
    }
    std::fs::write(templates.join("helm/demo-chart-values-body.yaml.j2"), body).unwrap();
    Dirs {
        _tmp: tmp,
        presets,
        templates,
    }
}

fn render_in(d: &Dirs, o: PresetOverrides) -> irsagen::Result<irsagen::bundle::Bundle> {
    Renderer::new(Some(&d.presets), Some(&d.templates))?
        .render(&Context::new(&guide_inputs())?, &[("demo".to_string(), o)])
}

fn values_file(b: &irsagen::bundle::Bundle) -> &str {
    &b.get("helm/demo-chart-values.yaml").unwrap().content
}

const ROLE: &str = "arn:aws:iam::123456789012:role/irsa-smallest-cluster-demo-ns-demo-sa";

#[test]
fn a_data_only_chart_renders_standalone_with_irsagens_header() {
    let d = dirs(PRESET, Some(VALUES), BODY);
    let b = render_in(&d, PresetOverrides::default()).unwrap();
    assert_eq!(
        values_file(&b),
        format!(
            "# Values for the demo-chart chart, rendered by irsagen.\n\
             # helm upgrade --install demo-chart demo-charts/demo-chart --namespace demo-ns -f <this file>\n\
             # The pod runs as demo-ns/demo-sa, the identity role irsa-smallest-cluster-demo-ns-demo-sa trusts.\n\
             region: \"us-east-1\"\n\
             serviceAccount:\n  make: false\n  saName: \"demo-sa\"\n  annotations:\n    eks.amazonaws.com/role-arn: \"{ROLE}\"\n"
        )
    );
    let readme = &b.get("README.md").unwrap().content;
    assert!(
        readme.contains("for the upstream demo-chart chart installed directly"),
        "{readme}"
    );
}

#[test]
fn the_umbrella_layout_nests_the_body_under_the_chart() {
    let d = dirs(PRESET, Some(VALUES), BODY);
    let o = PresetOverrides {
        chart_layout: Some(ChartLayout::Umbrella),
        service_account_created_by: Some(SaCreator::Helm),
        ..Default::default()
    };
    let b = render_in(&d, o).unwrap();
    let text = values_file(&b);
    assert!(
        text.starts_with("# Values for the umbrella chart's demo-chart subchart, rendered by irsagen.\n"),
        "{text}"
    );
    let v: Value = serde_saphyr::from_str(text).unwrap();
    assert_eq!(
        v,
        json!({"demo-chart": {"enabled": true, "region": "us-east-1", "serviceAccount": {
            "make": true, "saName": "demo-sa", "annotations": {"eks.amazonaws.com/role-arn": ROLE}}}})
    );
    let readme = &b.get("README.md").unwrap().content;
    assert!(
        readme.contains("`helm install … demo-charts/demo-chart -f helm/demo-chart-values.yaml`"),
        "{readme}"
    );
}

#[test]
fn user_values_are_checked_against_this_charts_keys_and_identity() {
    let d = dirs(PRESET, Some(VALUES), BODY);
    let with = |v: Value| PresetOverrides {
        helm_values: serde_json::from_value(v).unwrap(),
        ..Default::default()
    };
    // Below a map empty in values.yaml any key goes; a key the chart lacks does not.
    let b = render_in(&d, with(json!({"podLabels": {"team": "a"}, "image": {"tag": "v1"}}))).unwrap();
    assert!(values_file(&b).contains("team: a"), "{}", values_file(&b));
    let e = render_in(&d, with(json!({"image": {"tagg": "v1"}})))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`image.tagg` is not a key of the demo-chart chart") && e.contains("charts/demo-chart/values.yaml"),
        "{e}"
    );
    // The identity keys are the preset's (serviceAccount.saName), not the autoscaler's.
    let e = render_in(&d, with(json!({"serviceAccount": {"saName": "x"}})))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("presets.demo.helmValues.serviceAccount.saName") && e.contains("would change the identity"),
        "{e}"
    );
}

#[test]
fn a_body_that_misplaces_the_service_account_is_refused() {
    // The chart has no top-level `saName`: caught as an unknown key.
    let flat = "region: {{ ctx.region }}\nsaName: {{ c.service_account.name }}\n";
    let e = render_in(&dirs(PRESET, Some(VALUES), flat), PresetOverrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`saName` is not a key of the demo-chart chart"), "{e}");
    // Known keys, wrong values: the ServiceAccount check at the preset's path.
    let wrong = BODY.replace("{{ c.service_account.name }}", "someone-else");
    let e = render_in(&dirs(PRESET, Some(VALUES), &wrong), PresetOverrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("serviceAccount must name demo-sa with role"), "{e}");
    assert!(e.contains("helm/demo-chart-values.yaml"), "{e}");
}

#[test]
fn a_missing_or_escaping_values_reference_is_refused_at_load() {
    let e = render_in(&dirs(PRESET, None, BODY), PresetOverrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("helm.valuesReference") && e.contains("charts/demo-chart/values.yaml"),
        "{e}"
    );
    let escaping = PRESET.replace("charts/demo-chart/values.yaml", "../values.yaml");
    let e = render_in(&dirs(&escaping, Some(VALUES), BODY), PresetOverrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("helm.valuesReference") && e.contains("../values.yaml"),
        "{e}"
    );
    let broken = dirs(PRESET, Some("serviceAccount: [\n"), BODY);
    let e = render_in(&broken, PresetOverrides::default()).unwrap_err().to_string();
    assert!(
        e.contains("charts/demo-chart/values.yaml") && e.contains("not YAML"),
        "{e}"
    );
}

/// A `--presets-dir` copy of a built-in chart preset may keep naming the reference irsagen ships.
#[test]
fn a_copied_builtin_preset_uses_the_shipped_values_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("presets/cluster-autoscaler.yaml"))
        .unwrap()
        .replace("description: ", "description: my copy of ");
    std::fs::write(tmp.path().join("cluster-autoscaler.yaml"), text).unwrap();
    std::fs::create_dir(tmp.path().join("policies")).unwrap();
    for f in ["cluster-autoscaler.json", "cluster-autoscaler-least-privilege.json"] {
        std::fs::copy(
            root.join("presets/policies").join(f),
            tmp.path().join("policies").join(f),
        )
        .unwrap();
    }
    let r = Renderer::new(Some(tmp.path()), None).unwrap();
    let ours = r.catalog.get("cluster-autoscaler").unwrap();
    assert!(ours.preset.description.starts_with("my copy of"));
    let b = r
        .render(
            &Context::new(&guide_inputs()).unwrap(),
            &[("cluster-autoscaler".to_string(), PresetOverrides::default())],
        )
        .unwrap();
    assert_eq!(
        b.get("helm/cluster-autoscaler-values.yaml").unwrap().content,
        guide_bundle()
            .get("helm/cluster-autoscaler-values.yaml")
            .unwrap()
            .content
    );
}
