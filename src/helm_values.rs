//! A chart preset's values file: the body its template renders, wrapped by irsagen for the
//! chart's layout ([`wrap`]), and the user's own chart values (`helmValues` of a preset) merged
//! into it ([`merge`]). irsagen's keys are never changed by a user value: the identity keys
//! (ServiceAccount name, create flag, role annotation) would break the role's trust (the guide's
//! namespace bug again), and the others (region, cluster name, image tag) are what the cluster's
//! inputs say.

use crate::component::{Component, HelmSettings};
use crate::error::{Error, Result};
use crate::overrides::ChartLayout;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Text for a comment line: control characters (newlines) become spaces, so a value can never
/// end the comment and start YAML of its own (the templates' `comment` filter, in Rust).
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The values file of `c` from the body its template rendered: irsagen's header comments, then
/// for the umbrella layout the body nested under `<chart>:` after `enabled: true` (a parent
/// chart enables its subchart so), for the standalone layout the body as it is. `body` is a
/// template's output (LF, one final newline); blank lines stay blank. A component without a
/// chart gets `body` back.
pub fn wrap(c: &Component, body: &str) -> String {
    let Some(h) = &c.helm else {
        return body.to_string();
    };
    let sa = comment(&c.service_account.to_string());
    let role = comment(&c.role_name);
    let ns = comment(&h.release_namespace);
    match h.layout {
        ChartLayout::Umbrella => {
            let indented: String = body
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "\n".to_string()
                    } else {
                        format!("  {l}\n")
                    }
                })
                .collect();
            format!(
                "# Values for the umbrella chart's {chart} subchart, rendered by irsagen.\n\
                 # Install the umbrella release into namespace {ns}: the pod runs as\n\
                 # {sa}, the identity role {role} trusts.\n\
                 {chart}:\n  enabled: true\n{indented}",
                chart = h.chart
            )
        }
        ChartLayout::Standalone => format!(
            "# Values for the {chart} chart, rendered by irsagen.\n\
             # helm upgrade --install {chart} {chart_ref} --namespace {ns} -f <this file>\n\
             # The pod runs as {sa}, the identity role {role} trusts.\n{body}",
            chart = h.chart,
            chart_ref = comment(&h.chart_ref),
        ),
    }
}

/// Chart keys that decide which identity the pod runs as (the preset's `helm.serviceAccount`);
/// the annotation is the binding's own ([`crate::identity::ROLE_ARN_ANNOTATION`]).
fn identity_keys(h: &HelmSettings) -> [String; 3] {
    let sa = &h.service_account;
    [
        h.service_account_key(&sa.name),
        h.service_account_key(&sa.create),
        format!(
            "{}.{}",
            h.service_account_key(&sa.annotations),
            crate::identity::ROLE_ARN_ANNOTATION
        ),
    ]
}

/// Deep-merges `user` (chart keys, as for the upstream chart) into `rendered` (the values file
/// irsagen rendered for chart `h`) and returns the new file. `rendered`'s leading comment lines
/// are kept; the rest is written again from the merged data (sorted keys). A user value that
/// differs from one irsagen set is refused, naming the key.
pub fn merge(preset: &str, h: &HelmSettings, rendered: &str, user: &BTreeMap<String, Value>) -> Result<String> {
    let mut doc: Value = serde_saphyr::from_str(rendered).map_err(|e| Error::RenderedInvalid {
        path: format!("helm values of {preset}"),
        message: format!("is not YAML: {e}"),
    })?;
    let root = match h.layout {
        ChartLayout::Umbrella => &mut doc[h.chart.as_str()],
        ChartLayout::Standalone => &mut doc,
    };
    let Some(root) = root.as_object_mut() else {
        return Err(Error::RenderedInvalid {
            path: format!("helm values of {preset}"),
            message: "is not a mapping".into(),
        });
    };
    merge_into(preset, &identity_keys(h), root, user.iter(), "")?;
    let header: String = rendered
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    // Plain one-line scalars: a folded `>-` role ARN is valid YAML but reads like a wrapped value.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let body = serde_saphyr::to_string_with_options(&doc, options).map_err(|e| Error::RenderedInvalid {
        path: format!("helm values of {preset}"),
        message: format!("cannot be written as YAML: {e}"),
    })?;
    Ok(format!(
        "{header}# Merged with presets.{preset}.helmValues (irsagen's keys unchanged).\n{}\n",
        body.trim_end()
    ))
}

fn merge_into<'a>(
    preset: &str,
    identity: &[String],
    ours: &mut Map<String, Value>,
    user: impl Iterator<Item = (&'a String, &'a Value)>,
    prefix: &str,
) -> Result<()> {
    for (k, v) in user {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (ours.get_mut(k), v) {
            (None, _) => {
                ours.insert(k.clone(), v.clone());
            }
            (Some(Value::Object(o)), Value::Object(u)) => merge_into(preset, identity, o, u.iter(), &path)?,
            (Some(mine), _) if mine == v => {}
            (Some(mine), _) => {
                let why = if identity
                    .iter()
                    .any(|i| *i == path || i.starts_with(&format!("{path}.")))
                {
                    format!(
                        "would change the identity irsagen renders (`{path}` is {mine}): the role trusts exactly that ServiceAccount; use the preset's `serviceAccount`/`serviceAccountCreatedBy` fields instead"
                    )
                } else {
                    format!(
                        "would change `{path}`, which irsagen sets to {mine} from the cluster's inputs; helmValues may add keys, not change irsagen's"
                    )
                };
                return Err(Error::invalid(
                    format!("presets.{preset}.helmValues.{path}"),
                    crate::policy_doc::compact(v),
                    why,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart_schema::ChartValues;
    use crate::preset::PresetChartServiceAccount;
    use serde_json::json;

    const RENDERED: &str = "# head\n# two\ncluster-autoscaler:\n  enabled: true\n  awsRegion: us-east-1\n  rbac:\n    serviceAccount:\n      create: false\n      name: ca\n      annotations:\n        eks.amazonaws.com/role-arn: arn:x\n";

    fn user(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    /// Chart settings as a preset gives them; only the chart's name, layout and ServiceAccount
    /// keys matter here.
    fn settings(layout: ChartLayout, path: &str) -> HelmSettings {
        HelmSettings {
            chart: "cluster-autoscaler".into(),
            values_template: "helm/x.yaml".into(),
            layout,
            release_namespace: "kube-system".into(),
            image_tag: None,
            user_values: BTreeMap::new(),
            repository: "https://kubernetes.github.io/autoscaler".into(),
            version: "1.0.0".into(),
            chart_ref: "autoscaler/cluster-autoscaler".into(),
            service_account: PresetChartServiceAccount {
                path: path.into(),
                create: "create".into(),
                name: "name".into(),
                annotations: "annotations".into(),
            },
            values_reference: std::sync::Arc::new(ChartValues::new("t", "{}", Vec::new())),
        }
    }

    #[test]
    fn identity_keys_follow_the_presets_service_account_path() {
        let keys = identity_keys(&settings(ChartLayout::Umbrella, "rbac.serviceAccount"));
        assert_eq!(keys[0], "rbac.serviceAccount.name");
        assert_eq!(keys[1], "rbac.serviceAccount.create");
        assert_eq!(keys[2], "rbac.serviceAccount.annotations.eks.amazonaws.com/role-arn");
        let mut h = settings(ChartLayout::Umbrella, "serviceAccount");
        h.service_account.name = "nameOverride".into();
        assert_eq!(identity_keys(&h)[0], "serviceAccount.nameOverride");
    }

    #[test]
    fn adds_keys_deep_and_keeps_irsagens() {
        let out = merge(
            "cluster-autoscaler",
            &settings(ChartLayout::Umbrella, "rbac.serviceAccount"),
            RENDERED,
            &user(json!({"extraArgs":{"expander":"least-waste"},"rbac":{"serviceAccount":{"annotations":{"x":"y"}}},"awsRegion":"us-east-1"})),
        )
        .unwrap();
        assert!(out.starts_with("# head\n# two\n# Merged with presets.cluster-autoscaler.helmValues"));
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        let ca = &back["cluster-autoscaler"];
        assert_eq!(ca["extraArgs"]["expander"], "least-waste");
        assert_eq!(ca["rbac"]["serviceAccount"]["annotations"]["x"], "y");
        assert_eq!(
            ca["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:x"
        );
        assert_eq!(ca["rbac"]["serviceAccount"]["name"], "ca");
        assert_eq!(ca["enabled"], true);
    }

    #[test]
    fn refuses_changes_to_irsagens_keys() {
        for (u, path, identity) in [
            (
                json!({"rbac":{"serviceAccount":{"name":"other"}}}),
                "rbac.serviceAccount.name",
                true,
            ),
            (
                json!({"rbac":{"serviceAccount":{"create":true}}}),
                "rbac.serviceAccount.create",
                true,
            ),
            (
                json!({"rbac":{"serviceAccount":{"annotations":{"eks.amazonaws.com/role-arn":"arn:y"}}}}),
                "rbac.serviceAccount.annotations.eks.amazonaws.com/role-arn",
                true,
            ),
            (json!({"rbac":{"serviceAccount":"x"}}), "rbac.serviceAccount", true),
            (json!({"awsRegion":"eu-west-1"}), "awsRegion", false),
        ] {
            let e = merge(
                "ca",
                &settings(ChartLayout::Umbrella, "rbac.serviceAccount"),
                RENDERED,
                &user(u.clone()),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("presets.ca.helmValues.{path}")), "{u}: {e}");
            assert_eq!(e.contains("identity"), identity, "{u}: {e}");
        }
        // With another ServiceAccount path, the same keys are ordinary rendered keys.
        let e = merge(
            "ca",
            &settings(ChartLayout::Umbrella, "serviceAccount"),
            RENDERED,
            &user(json!({"rbac":{"serviceAccount":{"name":"other"}}})),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("identity") && e.contains("helmValues may add keys"), "{e}");
    }

    #[test]
    fn standalone_merges_at_the_top() {
        let rendered = "# h\nawsRegion: r\n";
        let out = merge(
            "ca",
            &settings(ChartLayout::Standalone, "rbac.serviceAccount"),
            rendered,
            &user(json!({"podLabels":{"a":"b"}})),
        )
        .unwrap();
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, json!({"awsRegion":"r","podLabels":{"a":"b"}}));
    }

    fn component(layout: ChartLayout) -> Component {
        use crate::context::{ClusterInputs, Context};
        let inputs = ClusterInputs {
            cluster: Some("c1".into()),
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
            ..Default::default()
        };
        let o = crate::overrides::PresetOverrides {
            chart_layout: Some(layout),
            ..Default::default()
        };
        crate::render::Renderer::new(None, None)
            .unwrap()
            .components(&Context::new(&inputs).unwrap(), &[("cluster-autoscaler".into(), o)])
            .unwrap()
            .remove(0)
    }

    /// Umbrella: the body nested two spaces under `<chart>:` after `enabled: true`, blank lines
    /// left blank; standalone: the body as it is. Both start with the header comments.
    #[test]
    fn wraps_the_body_for_the_layout() {
        let body = "a: 1\n\nb:\n  c: \"x\"\n";
        let c = component(ChartLayout::Umbrella);
        let out = wrap(&c, body);
        let (head, rest) = out.split_at(out.find("cluster-autoscaler:\n").unwrap());
        assert!(head.lines().all(|l| l.starts_with("# ")), "{head}");
        assert_eq!(head.lines().count(), 3, "{head}");
        assert!(
            head.contains("namespace kube-system") && head.contains(&c.role_name),
            "{head}"
        );
        assert_eq!(
            rest,
            "cluster-autoscaler:\n  enabled: true\n  a: 1\n\n  b:\n    c: \"x\"\n"
        );
        let v: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v, json!({"cluster-autoscaler":{"enabled":true,"a":1,"b":{"c":"x"}}}));

        let out = wrap(&component(ChartLayout::Standalone), body);
        assert!(out.ends_with(&format!("trusts.\n{body}")), "{out}");
        assert!(
            out.contains("# helm upgrade --install cluster-autoscaler autoscaler/cluster-autoscaler --namespace kube-system -f <this file>\n"),
            "{out}"
        );
    }
}
