//! Per-preset overrides: from the config file's `presets:` map and from `--set PRESET.FIELD=VALUE`.

use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who creates the Kubernetes ServiceAccount the role is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaCreator {
    /// `eksctl create iamserviceaccount` creates and annotates it (the guide's way); irsagen
    /// also renders the manifest so `apply --kube` or `kubectl apply` can do the same.
    Eksctl,
    /// The Helm chart creates it from the rendered values; eksctl creates only the role.
    Helm,
}

/// How the cluster-autoscaler chart is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChartLayout {
    /// As a subchart of an umbrella chart: values nested under `cluster-autoscaler:` with
    /// `enabled: true`, as the guide shows.
    Umbrella,
    /// The upstream chart installed directly: its keys at the top level.
    Standalone,
}

/// Overrides for one preset. Every field is optional; unknown fields are errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetOverrides {
    /// Namespace of the ServiceAccount (and of the Helm release for chart presets).
    pub namespace: Option<String>,
    /// Name of the ServiceAccount.
    pub service_account: Option<String>,
    /// IAM role name (default: `irsa-<cluster>-<namespace>-<serviceAccount>`, hashed to 64).
    pub role_name: Option<String>,
    /// Customer-managed IAM policy name.
    pub policy_name: Option<String>,
    /// Extra tags on the role (added to irsagen's own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Who creates the ServiceAccount: `eksctl` or `helm`.
    pub service_account_created_by: Option<SaCreator>,
    /// Chart presets: `umbrella` (default) or `standalone`.
    pub chart_layout: Option<ChartLayout>,
    /// Chart presets: namespace the Helm release is installed into. The chart runs the pod
    /// there, so it must be the ServiceAccount's namespace; giving only this sets both.
    pub release_namespace: Option<String>,
    /// Managed policies (ARNs, customer or AWS managed) attached to the role besides the
    /// preset's own: rendered into the eksctl config, attached by `apply --aws` (never
    /// created), accepted by `verify --aws`. An empty list clears the config file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_policy_arns: Option<Vec<String>>,
    /// Presets installed with `kubectl apply -k` (efs-csi-driver): `guide` (default, the
    /// guide's pinned overlay), `ref:<git ref>`, `path:<directory>` or `addon` (the EKS addon).
    pub install_source: Option<String>,
}

/// The fields `--set` accepts, for error messages.
const SET_FIELDS: &str = "namespace, serviceAccount, roleName, policyName, tags.KEY, serviceAccountCreatedBy, chartLayout, \
     releaseNamespace, extraPolicyArns, installSource";

/// Applies one `--set PRESET.FIELD=VALUE` to the map of overrides.
pub fn apply_set(map: &mut BTreeMap<String, PresetOverrides>, spec: &str) -> Result<()> {
    let bad = |rule: &str| Error::invalid("--set", spec, rule);
    let (path, value) = spec
        .split_once('=')
        .ok_or_else(|| bad("must look like PRESET.FIELD=VALUE"))?;
    let (preset, field) = path
        .split_once('.')
        .ok_or_else(|| bad("must look like PRESET.FIELD=VALUE"))?;
    crate::rules::preset_name("--set preset", preset)?;
    let o = map.entry(preset.to_string()).or_default();
    let value = value.to_string();
    match field {
        "namespace" => o.namespace = Some(value),
        "serviceAccount" => o.service_account = Some(value),
        "roleName" => o.role_name = Some(value),
        "policyName" => o.policy_name = Some(value),
        "releaseNamespace" => o.release_namespace = Some(value),
        // Comma-separated; empty means none. IAM names may hold a comma: such an ARN goes in
        // the config file's list. Each ARN is checked when the preset is resolved, against
        // the cluster's partition.
        "extraPolicyArns" => {
            o.extra_policy_arns = Some(value.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect())
        }
        // Validated where the preset is known (component::resolve), like the names above.
        "installSource" => o.install_source = Some(value),
        "serviceAccountCreatedBy" => {
            o.service_account_created_by = Some(match value.as_str() {
                "eksctl" => SaCreator::Eksctl,
                "helm" => SaCreator::Helm,
                _ => {
                    return Err(Error::invalid(
                        format!("--set {path}"),
                        value,
                        "must be `eksctl` or `helm`",
                    ));
                }
            })
        }
        "chartLayout" => {
            o.chart_layout = Some(match value.as_str() {
                "umbrella" => ChartLayout::Umbrella,
                "standalone" => ChartLayout::Standalone,
                _ => {
                    return Err(Error::invalid(
                        format!("--set {path}"),
                        value,
                        "must be `umbrella` or `standalone`",
                    ));
                }
            })
        }
        f => match f.strip_prefix("tags.") {
            Some(key) if !key.is_empty() => {
                o.tags.insert(key.to_string(), value);
            }
            _ => return Err(bad(&format!("unknown field `{f}`; known fields: {SET_FIELDS}"))),
        },
    }
    Ok(())
}

/// Merges `over` on top of `base` (flags over the config file), field by field.
pub fn merge(base: &PresetOverrides, over: &PresetOverrides) -> PresetOverrides {
    let mut tags = base.tags.clone();
    tags.extend(over.tags.clone());
    PresetOverrides {
        namespace: over.namespace.clone().or_else(|| base.namespace.clone()),
        service_account: over.service_account.clone().or_else(|| base.service_account.clone()),
        role_name: over.role_name.clone().or_else(|| base.role_name.clone()),
        policy_name: over.policy_name.clone().or_else(|| base.policy_name.clone()),
        tags,
        service_account_created_by: over.service_account_created_by.or(base.service_account_created_by),
        chart_layout: over.chart_layout.or(base.chart_layout),
        release_namespace: over
            .release_namespace
            .clone()
            .or_else(|| base.release_namespace.clone()),
        extra_policy_arns: over
            .extra_policy_arns
            .clone()
            .or_else(|| base.extra_policy_arns.clone()),
        install_source: over.install_source.clone().or_else(|| base.install_source.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set() {
        let mut m = BTreeMap::new();
        apply_set(&mut m, "cluster-autoscaler.namespace=smallest").unwrap();
        apply_set(&mut m, "cluster-autoscaler.tags.Environment=production").unwrap();
        apply_set(&mut m, "cluster-autoscaler.chartLayout=standalone").unwrap();
        let o = &m["cluster-autoscaler"];
        assert_eq!(o.namespace.as_deref(), Some("smallest"));
        assert_eq!(o.tags["Environment"], "production");
        assert_eq!(o.chart_layout, Some(ChartLayout::Standalone));
    }

    #[test]
    fn extra_policy_arns_from_set_replace_the_files_and_empty_clears() {
        let arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
        let mut m = BTreeMap::new();
        apply_set(
            &mut m,
            &format!("ebs-csi-driver.extraPolicyArns={arn},arn:aws:iam::123456789012:policy/p"),
        )
        .unwrap();
        let set = m["ebs-csi-driver"].clone();
        assert_eq!(
            set.extra_policy_arns,
            Some(vec![arn.to_string(), "arn:aws:iam::123456789012:policy/p".to_string()])
        );
        let file = PresetOverrides {
            extra_policy_arns: Some(vec!["arn:aws:iam::aws:policy/x".into()]),
            ..Default::default()
        };
        assert_eq!(merge(&file, &set).extra_policy_arns, set.extra_policy_arns);
        assert_eq!(
            merge(&file, &PresetOverrides::default()).extra_policy_arns,
            file.extra_policy_arns
        );
        apply_set(&mut m, "ebs-csi-driver.extraPolicyArns=").unwrap();
        assert_eq!(merge(&file, &m["ebs-csi-driver"]).extra_policy_arns, Some(vec![]));
    }

    #[test]
    fn refuses_bad_set() {
        let mut m = BTreeMap::new();
        for s in [
            "x",
            "x=1",
            "cluster-autoscaler.bogus=1",
            "cluster-autoscaler.chartLayout=flat",
            "Bad_Preset.namespace=x",
        ] {
            let e = apply_set(&mut m, s).unwrap_err().to_string();
            assert!(e.starts_with("invalid --set"), "{s}: {e}");
        }
    }
}
