//! Per-preset overrides: from the config file's `presets:` map and from `--set PRESET.FIELD=VALUE`.

use crate::error::{Error, Result};
use crate::identity::{IdentityMode, PodIdentityTrust};
use crate::parameters::ParamValue;
use crate::preset::PolicyKind;
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
    /// The EKS addon creates and annotates it (`serviceAccountRoleARN`); eksctl creates only the
    /// role, as in the EKS user guide's EBS CSI page. irsagen still renders the manifest, the
    /// same object the addon writes, for review and `apply --kube` before the addon runs.
    Addon,
}

impl SaCreator {
    /// Every value, as written in presets and `--set`.
    pub const NAMES: [&'static str; 3] = ["eksctl", "helm", "addon"];

    /// As written in presets and `--set`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaCreator::Eksctl => "eksctl",
            SaCreator::Helm => "helm",
            SaCreator::Addon => "addon",
        }
    }

    /// Whether eksctl creates and annotates the ServiceAccount: when false its
    /// `iam.serviceAccounts` entry is `roleOnly: true` (and the script passes `--role-only`).
    pub fn by_eksctl(self) -> bool {
        self == SaCreator::Eksctl
    }

    /// Whether irsagen renders (and `apply --kube` applies) the ServiceAccount manifest: not
    /// when a chart creates it from the values.
    pub fn renders_manifest(self) -> bool {
        self != SaCreator::Helm
    }

    /// The chart's `rbac.serviceAccount.create`.
    pub fn by_chart(self) -> bool {
        self == SaCreator::Helm
    }
}

impl std::fmt::Display for SaCreator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Selected presets with their overrides, in the order given.
pub type Selection = Vec<(String, PresetOverrides)>;

/// How a preset's chart is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChartLayout {
    /// As a subchart of an umbrella chart: values nested under `<chart>:` with `enabled: true`,
    /// as the guide shows for cluster-autoscaler.
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
    /// Who creates the ServiceAccount: `eksctl`, `helm` or `addon`.
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
    /// Which policy document: `guide` (default) or one of the preset's `policy.variants`
    /// (cluster-autoscaler: `least-privilege`).
    pub policy_variant: Option<String>,
    /// Chart presets: your own chart values (chart keys, as for the upstream chart), deep-merged
    /// into the rendered values. They may add keys, not change irsagen's (identity, region, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub helm_values: BTreeMap<String, serde_json::Value>,
    /// `irsa`, `pod-identity` or `both`: this preset's mechanism, over the cluster's
    /// (`--mode` / `identityMode:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_mode: Option<IdentityMode>,
    /// Pod Identity trust: `scoped` (default: this account, cluster, namespace and
    /// ServiceAccount, by the session tags EKS sets) or `unscoped` (any cluster of the account,
    /// for a role shared by clusters; irsagen warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_identity_trust: Option<PodIdentityTrust>,
    /// `true`: the Pod Identity association is created with session tags disabled. Only with
    /// `podIdentityTrust: unscoped`: the scoped trust conditions on those tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_session_tags: Option<bool>,
    /// The controller version whose policy document is rendered (presets with `policy.versions`;
    /// default: the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `document` (a customer managed copy of the preset's document) or `aws-managed` (the AWS
    /// managed policies the preset names, attached; nothing created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
    /// The preset's parameters (`irsagen presets show NAME` lists them): a value, or a list for a
    /// list parameter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, ParamValue>,
    /// Other clusters whose OIDC providers this preset's role trusts too (one role shared by
    /// several clusters): names of clusters of the same config file, or `{name, oidcIssuer}`.
    /// Same account only; each provider gets its own statement ([`crate::shared_trust`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_clusters: Option<Vec<crate::shared_trust::TrustCluster>>,
}

/// The fields `--set` accepts, for error messages.
pub const SET_FIELDS: &str = "namespace, serviceAccount, roleName, policyName, tags.KEY, serviceAccountCreatedBy, chartLayout, \
     releaseNamespace, extraPolicyArns, installSource, policyVariant, helmValues.KEY[.KEY…], identityMode, \
     podIdentityTrust, disableSessionTags, version, policy, trustClusters";

/// The override fields that take a plain value, by their `--set`/config name: a preset
/// parameter may not take one of these names (`--set` could not tell them apart).
const PLAIN_FIELDS: [&str; 18] = [
    "namespace",
    "serviceAccount",
    "roleName",
    "policyName",
    "tags",
    "serviceAccountCreatedBy",
    "chartLayout",
    "releaseNamespace",
    "extraPolicyArns",
    "installSource",
    "policyVariant",
    "helmValues",
    "identityMode",
    "podIdentityTrust",
    "disableSessionTags",
    "version",
    "policy",
    "trustClusters",
];

/// Whether `name` is an override field (so not available as a parameter name).
pub fn is_field(name: &str) -> bool {
    PLAIN_FIELDS.contains(&name) || name == "parameters"
}

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
        "policyVariant" => o.policy_variant = Some(value),
        "serviceAccountCreatedBy" => {
            o.service_account_created_by = Some(match value.as_str() {
                "eksctl" => SaCreator::Eksctl,
                "helm" => SaCreator::Helm,
                "addon" => SaCreator::Addon,
                _ => {
                    return Err(Error::invalid(
                        format!("--set {path}"),
                        value,
                        "must be `eksctl`, `helm` or `addon`",
                    ));
                }
            })
        }
        // Comma-separated cluster names of the config file; empty means none.
        "trustClusters" => {
            o.trust_clusters = Some(
                value
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| crate::shared_trust::TrustCluster::Name(n.to_string()))
                    .collect(),
            )
        }
        "identityMode" => o.identity_mode = Some(IdentityMode::parse(&format!("--set {path}"), &value)?),
        "podIdentityTrust" => o.pod_identity_trust = Some(PodIdentityTrust::parse(&format!("--set {path}"), &value)?),
        "disableSessionTags" => {
            o.disable_session_tags = Some(match value.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(Error::invalid(
                        format!("--set {path}"),
                        value,
                        "must be `true` or `false`",
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
        f if f.starts_with("helmValues.") => {
            let keys: Vec<&str> = f["helmValues.".len()..].split('.').collect();
            if keys.iter().any(|k| k.is_empty()) {
                return Err(bad("helmValues keys must be non-empty, separated by `.`"));
            }
            set_path(&mut o.helm_values, &keys, scalar(&value));
        }
        "version" => o.version = Some(value),
        "policy" => o.policy = Some(PolicyKind::parse(&format!("--set {path}"), &value)?),
        f => match f.strip_prefix("tags.") {
            Some(key) if !key.is_empty() => {
                o.tags.insert(key.to_string(), value);
            }
            // Any other name may be a parameter of the preset: checked (name and value) when the
            // preset is resolved, where its declarations are known. List parameters split the
            // value on commas there.
            _ if crate::parameters::is_param_name(f) => {
                o.parameters.insert(f.to_string(), ParamValue::One(value));
            }
            _ => {
                return Err(bad(&format!(
                    "unknown field `{f}`; known fields: {SET_FIELDS}, or a parameter of the preset (`irsagen presets show PRESET` lists them)"
                )));
            }
        },
    }
    Ok(())
}

/// A `--set` value as Helm's `--set` reads it: `true`/`false`, a number, or else a string.
fn scalar(value: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => v,
        _ => serde_json::Value::String(value.to_string()),
    }
}

/// Sets `keys` (a path of map keys) to `value` in `map`, creating maps on the way and replacing
/// a non-map in the way.
fn set_path(map: &mut BTreeMap<String, serde_json::Value>, keys: &[&str], value: serde_json::Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = map
        .entry(parents.first().unwrap_or(last).to_string())
        .or_insert(serde_json::Value::Null);
    if parents.is_empty() {
        *cur = value;
        return;
    }
    for k in parents[1..].iter().chain(std::iter::once(last)) {
        if !cur.is_object() {
            *cur = serde_json::Value::Object(Default::default());
        }
        cur = cur
            .as_object_mut()
            .map(|o| o.entry(k.to_string()).or_insert(serde_json::Value::Null))
            .unwrap_or_else(|| unreachable!("made an object above"));
    }
    *cur = value;
}

/// `over` deep-merged into `base`: maps merge key by key, anything else in `over` wins.
fn deep_merge(base: &serde_json::Value, over: &serde_json::Value) -> serde_json::Value {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = b.get(k).map_or_else(|| v.clone(), |bv| deep_merge(bv, v));
                out.insert(k.clone(), merged);
            }
            serde_json::Value::Object(out)
        }
        _ => over.clone(),
    }
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
        policy_variant: over.policy_variant.clone().or_else(|| base.policy_variant.clone()),
        helm_values: {
            let mut m = base.helm_values.clone();
            for (k, v) in &over.helm_values {
                let merged = m.get(k).map_or_else(|| v.clone(), |b| deep_merge(b, v));
                m.insert(k.clone(), merged);
            }
            m
        },
        identity_mode: over.identity_mode.or(base.identity_mode),
        pod_identity_trust: over.pod_identity_trust.or(base.pod_identity_trust),
        disable_session_tags: over.disable_session_tags.or(base.disable_session_tags),
        version: over.version.clone().or_else(|| base.version.clone()),
        policy: over.policy.or(base.policy),
        parameters: {
            let mut m = base.parameters.clone();
            m.extend(over.parameters.clone());
            m
        },
        trust_clusters: over.trust_clusters.clone().or_else(|| base.trust_clusters.clone()),
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
    fn sets_helm_values_deep_and_typed() {
        let mut m = BTreeMap::new();
        apply_set(&mut m, "cluster-autoscaler.helmValues.extraArgs.expander=least-waste").unwrap();
        apply_set(&mut m, "cluster-autoscaler.helmValues.extraArgs.v=2").unwrap();
        apply_set(&mut m, "cluster-autoscaler.helmValues.podLabels.on=true").unwrap();
        apply_set(&mut m, "cluster-autoscaler.helmValues.replicaCount=2").unwrap();
        apply_set(&mut m, "cluster-autoscaler.policyVariant=least-privilege").unwrap();
        let o = &m["cluster-autoscaler"];
        assert_eq!(
            serde_json::to_value(&o.helm_values).unwrap(),
            serde_json::json!({"extraArgs":{"expander":"least-waste","v":2},"podLabels":{"on":true},"replicaCount":2})
        );
        assert_eq!(o.policy_variant.as_deref(), Some("least-privilege"));
        // Flags deep-merge over the file: sibling keys of the file survive.
        let file = PresetOverrides {
            helm_values: serde_json::from_value(
                serde_json::json!({"extraArgs":{"expander":"random","scan-interval":"10s"},"x":1}),
            )
            .unwrap(),
            ..Default::default()
        };
        let merged = merge(&file, o);
        assert_eq!(
            serde_json::to_value(&merged.helm_values).unwrap(),
            serde_json::json!({"extraArgs":{"expander":"least-waste","scan-interval":"10s","v":2},"podLabels":{"on":true},"replicaCount":2,"x":1})
        );
        for bad in [
            "cluster-autoscaler.helmValues.=1",
            "cluster-autoscaler.helmValues.a..b=1",
        ] {
            assert!(apply_set(&mut m, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_bad_set() {
        let mut m = BTreeMap::new();
        for s in [
            "x",
            "x=1",
            "cluster-autoscaler.bogus-name=1",
            "cluster-autoscaler.a.b=1",
            "cluster-autoscaler.tags.=1",
            "cluster-autoscaler.chartLayout=flat",
            "cluster-autoscaler.policy=managed",
            "Bad_Preset.namespace=x",
        ] {
            let e = apply_set(&mut m, s).unwrap_err().to_string();
            assert!(e.starts_with("invalid --set"), "{s}: {e}");
        }
    }

    /// A name that is not a field is kept as a parameter; the preset's declarations check it
    /// later (parameters::resolve), where they are known.
    #[test]
    fn other_names_are_parameters_and_merge_by_name() {
        let mut m = BTreeMap::new();
        apply_set(&mut m, "velero.bucketNames=a,b").unwrap();
        apply_set(&mut m, "velero.version=v1.2.3").unwrap();
        apply_set(&mut m, "velero.policy=aws-managed").unwrap();
        let o = &m["velero"];
        assert_eq!(o.parameters["bucketNames"], ParamValue::One("a,b".into()));
        assert_eq!(o.version.as_deref(), Some("v1.2.3"));
        assert_eq!(o.policy, Some(PolicyKind::AwsManaged));
        let file = PresetOverrides {
            parameters: BTreeMap::from([
                ("bucketNames".to_string(), ParamValue::Many(vec!["x".into()])),
                ("prefix".to_string(), ParamValue::One("p".into())),
            ]),
            version: Some("v1.0.0".into()),
            policy: Some(PolicyKind::Document),
            ..Default::default()
        };
        let merged = merge(&file, o);
        assert_eq!(merged.parameters["bucketNames"], ParamValue::One("a,b".into()));
        assert_eq!(merged.parameters["prefix"], ParamValue::One("p".into()));
        assert_eq!(merged.version.as_deref(), Some("v1.2.3"));
        assert_eq!(merged.policy, Some(PolicyKind::AwsManaged));
        assert!(is_field("version") && is_field("parameters") && !is_field("bucketNames"));
    }
}
