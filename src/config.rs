//! The config file `irsagen.yaml`: the same inputs as the flags, plus per-preset overrides.

use crate::error::{Error, Result};
use crate::identity::IdentityMode;
use crate::overrides::PresetOverrides;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Contents of `irsagen.yaml`. Flags override every field; unknown keys are errors.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "irsagen configuration (irsagen.yaml)")]
pub struct ConfigFile {
    /// EKS cluster name.
    pub cluster: Option<String>,
    /// AWS region of the cluster, e.g. `us-east-1`.
    pub region: Option<String>,
    /// AWS account id: 12 digits, quoted so YAML keeps leading zeros, or `auto` (STS).
    pub account: Option<String>,
    /// `aws`, `aws-cn` or `aws-us-gov`; derived from the region when absent.
    pub partition: Option<String>,
    /// The cluster's OIDC issuer URL (`https://…`), or `auto` (EKS DescribeCluster).
    /// Without it the trust policies are not rendered.
    pub oidc_issuer: Option<String>,
    /// The cluster's Kubernetes minor version, e.g. `1.31`: sets the cluster-autoscaler image
    /// to the matching release.
    pub kubernetes_version: Option<String>,
    /// How pods get their roles: `irsa` (default), `pod-identity` or `both` (for a migration).
    /// `--mode` wins; a preset's own `identityMode` wins over both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_mode: Option<IdentityMode>,
    /// Tags put on every role irsagen manages (the guide's "Tag Resources" practice).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Presets to render, each with optional overrides. `{}` or nothing (`ebs-csi-driver:`)
    /// takes the preset's defaults. Without this key (and without `--preset`) the guide's
    /// three presets are rendered; an empty map selects none, which is an error.
    #[serde(default, deserialize_with = "preset_map")]
    #[schemars(with = "Option<BTreeMap<String, Option<PresetOverrides>>>")]
    pub presets: Option<BTreeMap<String, PresetOverrides>>,
    /// Several clusters in one file, by EKS cluster name; `--cluster NAME` (or `cluster:`) picks
    /// one. Each entry's values win over the top-level ones, which act as shared defaults.
    pub clusters: Option<BTreeMap<String, ClusterEntry>>,
    /// Filled by [`ConfigFile::for_cluster`]: the other clusters of the file with an issuer URL,
    /// for `trustClusters` names ([`crate::shared_trust`]). Never read from the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub peers: std::sync::Arc<BTreeMap<String, crate::shared_trust::IssuerEntry>>,
    /// Every cluster's issuer entry, built once for all [`Self::for_cluster`] calls (a fleet of
    /// n clusters would otherwise copy n-1 entries n times).
    #[serde(skip)]
    #[schemars(skip)]
    all_peers: std::sync::OnceLock<std::sync::Arc<BTreeMap<String, crate::shared_trust::IssuerEntry>>>,
}

/// One cluster of a multi-cluster config file. Its fields repeat the top-level ones on purpose:
/// serde cannot `flatten` a shared struct into one that denies unknown fields, and refusing a
/// mistyped key with its line and column matters more than the few repeated lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterEntry {
    /// AWS region of this cluster.
    pub region: Option<String>,
    /// AWS account id (12 digits, quoted) or `auto`.
    pub account: Option<String>,
    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: Option<String>,
    /// OIDC issuer URL or `auto`.
    pub oidc_issuer: Option<String>,
    /// Kubernetes minor version of this cluster, e.g. `1.31`.
    pub kubernetes_version: Option<String>,
    /// `irsa`, `pod-identity` or `both` for this cluster, over the top-level `identityMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_mode: Option<IdentityMode>,
    /// Tags added to the top-level ones for this cluster's roles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Presets for this cluster, added to the top-level ones; a preset in both has this
    /// entry's overrides merged over the top-level ones. Without this key the top-level
    /// selection applies as is.
    #[serde(default, deserialize_with = "preset_map")]
    #[schemars(with = "Option<BTreeMap<String, Option<PresetOverrides>>>")]
    pub presets: Option<BTreeMap<String, PresetOverrides>>,
    /// `true`: this entry's `presets:` is the whole selection for this cluster instead of
    /// being added to the top-level one (the top-level overrides of a preset it keeps still
    /// apply). For a cluster that needs fewer presets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace_presets: bool,
}

/// `presets:` where a preset without overrides may be written `name:` (YAML null) as well as
/// `name: {}`: both mean "the preset's defaults", which is what a newcomer means by either.
fn preset_map<'de, D>(d: D) -> std::result::Result<Option<BTreeMap<String, PresetOverrides>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Option<BTreeMap<String, Option<PresetOverrides>>> = Option::deserialize(d)?;
    Ok(raw.map(|m| m.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect()))
}

impl ConfigFile {
    /// The file as it applies to `cluster`: the entry of `clusters:` merged over the top-level
    /// values. Without `clusters:` the file is returned as is. Errors name the known clusters.
    pub fn for_cluster(&self, cluster: Option<&str>) -> Result<ConfigFile> {
        let Some(clusters) = &self.clusters else {
            return Ok(self.clone());
        };
        let known = || clusters.keys().cloned().collect::<Vec<_>>().join(", ");
        let name = cluster.or(self.cluster.as_deref()).ok_or_else(|| Error::Missing {
            field: "--cluster".into(),
            how: format!(
                "the config file holds several clusters ({}); pass --cluster NAME or set `cluster:` in irsagen.yaml",
                known()
            ),
        })?;
        let entry = clusters.get(name).ok_or_else(|| {
            Error::invalid(
                "--cluster",
                name,
                format!("is not in the config file's clusters ({})", known()),
            )
        })?;
        let mut tags = self.tags.clone();
        tags.extend(entry.tags.clone());
        Ok(ConfigFile {
            cluster: Some(name.to_string()),
            region: entry.region.clone().or_else(|| self.region.clone()),
            account: entry.account.clone().or_else(|| self.account.clone()),
            partition: entry.partition.clone().or_else(|| self.partition.clone()),
            oidc_issuer: entry.oidc_issuer.clone().or_else(|| self.oidc_issuer.clone()),
            kubernetes_version: entry
                .kubernetes_version
                .clone()
                .or_else(|| self.kubernetes_version.clone()),
            identity_mode: entry.identity_mode.or(self.identity_mode),
            tags,
            presets: merge_presets(name, self.presets.as_ref(), entry)?,
            clusters: None,
            peers: self.all_peers.get_or_init(|| self.peers_of(clusters)).clone(),
            all_peers: Default::default(),
        })
    }
}

impl ConfigFile {
    /// Every cluster of `clusters` whose issuer is a URL (not `auto`), with its account and
    /// region as [`Self::for_cluster`] would merge them.
    fn peers_of(
        &self,
        clusters: &BTreeMap<String, ClusterEntry>,
    ) -> std::sync::Arc<BTreeMap<String, crate::shared_trust::IssuerEntry>> {
        let map = clusters
            .iter()
            .filter_map(|(n, e)| {
                let issuer = e.oidc_issuer.clone().or_else(|| self.oidc_issuer.clone())?;
                let account = e.account.clone().or_else(|| self.account.clone());
                Some((
                    n.clone(),
                    crate::shared_trust::IssuerEntry {
                        name: n.clone(),
                        oidc_issuer: issuer,
                        // `auto` is this cluster's account found by STS: the same credentials.
                        account: account.filter(|a| a != crate::context::AUTO),
                        region: e.region.clone().or_else(|| self.region.clone()),
                    },
                ))
            })
            .collect();
        std::sync::Arc::new(map)
    }
}

/// An entry's presets over the top-level ones: added to them (or replacing the selection with
/// `replacePresets: true`), each preset's overrides merged over its top-level overrides.
fn merge_presets(
    name: &str,
    base: Option<&BTreeMap<String, PresetOverrides>>,
    entry: &ClusterEntry,
) -> Result<Option<BTreeMap<String, PresetOverrides>>> {
    let Some(own) = &entry.presets else {
        if entry.replace_presets {
            return Err(Error::invalid(
                format!("clusters.{name}.replacePresets"),
                "true",
                "needs this entry's own `presets:` (the presets that replace the top-level ones)",
            ));
        }
        return Ok(base.cloned());
    };
    let mut out = if entry.replace_presets {
        BTreeMap::new()
    } else {
        base.cloned().unwrap_or_default()
    };
    for (k, o) in own {
        let shared = base.and_then(|b| b.get(k)).cloned().unwrap_or_default();
        out.insert(k.clone(), crate::overrides::merge(&shared, o));
    }
    Ok(Some(out))
}

impl ConfigFile {
    /// Reads and parses a config file; errors carry the path, line and column.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            action: "cannot read config file",
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        // A file that is not UTF-8 is bad input (exit 2), not a failing file system.
        let text = String::from_utf8(bytes).map_err(|e| Error::Parse {
            path: origin.clone(),
            message: format!(
                "is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::parse(&origin, &text)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        crate::yaml::parse(origin, text)
    }
}

/// The JSON Schema of `irsagen.yaml`, pretty-printed (what `irsagen schema` prints).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ConfigFile);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    s.push('\n');
    s
}
