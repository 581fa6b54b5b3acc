//! The user's own chart values (`helmValues` of a preset) merged into the values irsagen renders.
//! irsagen's keys are never changed by a user value: the identity keys (ServiceAccount name,
//! create flag, role annotation) would break the role's trust (the guide's namespace bug again),
//! and the others (region, cluster name, image tag) are what the cluster's inputs say.

use crate::error::{Error, Result};
use crate::overrides::ChartLayout;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Chart keys that decide which identity the pod runs as; the annotation is the binding's own
/// ([`crate::identity::ROLE_ARN_ANNOTATION`]).
fn identity_keys() -> [String; 3] {
    [
        "rbac.serviceAccount.name".into(),
        "rbac.serviceAccount.create".into(),
        format!(
            "rbac.serviceAccount.annotations.{}",
            crate::identity::ROLE_ARN_ANNOTATION
        ),
    ]
}

/// Deep-merges `user` (chart keys, as for the upstream chart) into `rendered` (the values file
/// irsagen rendered) and returns the new file. `rendered`'s leading comment lines are kept; the
/// rest is written again from the merged data (sorted keys). A user value that differs from one
/// irsagen set is refused, naming the key.
pub fn merge(
    preset: &str,
    chart: &str,
    layout: ChartLayout,
    rendered: &str,
    user: &BTreeMap<String, Value>,
) -> Result<String> {
    let mut doc: Value = serde_saphyr::from_str(rendered).map_err(|e| Error::RenderedInvalid {
        path: format!("helm values of {preset}"),
        message: format!("is not YAML: {e}"),
    })?;
    let root = match layout {
        ChartLayout::Umbrella => &mut doc[chart],
        ChartLayout::Standalone => &mut doc,
    };
    let Some(root) = root.as_object_mut() else {
        return Err(Error::RenderedInvalid {
            path: format!("helm values of {preset}"),
            message: "is not a mapping".into(),
        });
    };
    merge_into(preset, root, user.iter(), "")?;
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
            (Some(Value::Object(o)), Value::Object(u)) => merge_into(preset, o, u.iter(), &path)?,
            (Some(mine), _) if mine == v => {}
            (Some(mine), _) => {
                let why = if identity_keys()
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
    use serde_json::json;

    const RENDERED: &str = "# head\n# two\ncluster-autoscaler:\n  enabled: true\n  awsRegion: us-east-1\n  rbac:\n    serviceAccount:\n      create: false\n      name: ca\n      annotations:\n        eks.amazonaws.com/role-arn: arn:x\n";

    fn user(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn identity_keys_name_the_bindings_annotation() {
        assert_eq!(
            identity_keys()[2],
            "rbac.serviceAccount.annotations.eks.amazonaws.com/role-arn"
        );
    }

    #[test]
    fn adds_keys_deep_and_keeps_irsagens() {
        let out = merge(
            "cluster-autoscaler",
            "cluster-autoscaler",
            ChartLayout::Umbrella,
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
                "cluster-autoscaler",
                ChartLayout::Umbrella,
                RENDERED,
                &user(u.clone()),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("presets.ca.helmValues.{path}")), "{u}: {e}");
            assert_eq!(e.contains("identity"), identity, "{u}: {e}");
        }
    }

    #[test]
    fn standalone_merges_at_the_top() {
        let rendered = "# h\nawsRegion: r\n";
        let out = merge(
            "ca",
            "cluster-autoscaler",
            ChartLayout::Standalone,
            rendered,
            &user(json!({"podLabels":{"a":"b"}})),
        )
        .unwrap();
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, json!({"awsRegion":"r","podLabels":{"a":"b"}}));
    }
}
