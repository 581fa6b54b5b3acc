//! Gathering inputs: flags over the config file, and the preset selection with its overrides.

use crate::config::ConfigFile;
use crate::context::ClusterInputs;
use crate::error::Result;
use crate::identity::IdentityMode;
use crate::overrides::{self, PresetOverrides, Selection};
use crate::preset::DEFAULT_PRESETS;
use std::collections::BTreeMap;

/// What the user asked for, before validation. Flags win over the config file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Values from flags.
    pub flags: ClusterInputs,
    /// `--preset` values, in the order given.
    pub presets: Vec<String>,
    /// `--set PRESET.FIELD=VALUE` values.
    pub sets: Vec<String>,
    /// The config file, if one was given.
    pub config: Option<ConfigFile>,
    /// `--mode`: the cluster's identity mode, over the config file's `identityMode`.
    pub mode: Option<String>,
}

impl Inputs {
    /// Cluster variables: each flag, or else the config file's value.
    pub fn cluster(&self) -> ClusterInputs {
        let file = self.config.clone().unwrap_or_default();
        let f = &self.flags;
        let mut tags = file.tags.clone();
        tags.extend(f.tags.clone());
        ClusterInputs {
            cluster: f.cluster.clone().or(file.cluster),
            region: f.region.clone().or(file.region),
            account: f.account.clone().or(file.account),
            partition: f.partition.clone().or(file.partition),
            oidc_issuer: f.oidc_issuer.clone().or(file.oidc_issuer),
            tags,
            kubernetes_version: f.kubernetes_version.clone().or(file.kubernetes_version),
        }
    }

    /// Presets to render with their merged overrides, sorted by name, duplicates removed:
    /// `--preset` flags, else the config file's `presets:` keys, else the guide's three.
    pub fn selection(&self) -> Result<Selection> {
        let file_map = self.config.as_ref().and_then(|c| c.presets.clone()).unwrap_or_default();
        let mut names: Vec<String> = if !self.presets.is_empty() {
            self.presets.clone()
        } else if self.config.as_ref().is_some_and(|c| c.presets.is_some()) {
            file_map.keys().cloned().collect()
        } else {
            DEFAULT_PRESETS.iter().map(|s| s.to_string()).collect()
        };
        names.sort();
        names.dedup();
        if names.is_empty() {
            // `presets: {}` (or an entry's `replacePresets` with `{}`) selects nothing; an
            // empty bundle is never what was meant.
            return Err(crate::Error::invalid(
                "presets",
                "{}",
                format!(
                    "no presets selected; add one, e.g. `presets: {{{}: {{}}}}` in irsagen.yaml or `--preset {}` (or remove `presets:` for the guide's three)",
                    DEFAULT_PRESETS[0], DEFAULT_PRESETS[0]
                ),
            ));
        }
        // The cluster's mode is each preset's default; a preset's own `identityMode` wins.
        let cluster_mode = match &self.mode {
            Some(m) => Some(IdentityMode::parse("--mode", m)?),
            None => self.config.as_ref().and_then(|c| c.identity_mode),
        };
        let mut sets: BTreeMap<String, PresetOverrides> = BTreeMap::new();
        for s in &self.sets {
            overrides::apply_set(&mut sets, s)?;
        }
        if let Some(name) = sets.keys().find(|k| !names.contains(k)) {
            return Err(crate::Error::invalid(
                "--set",
                name,
                format!("names a preset that is not selected (selected: {})", names.join(", ")),
            ));
        }
        Ok(names
            .into_iter()
            .map(|n| {
                let base = file_map.get(&n).cloned().unwrap_or_default();
                let mut merged = overrides::merge(&base, &sets.get(&n).cloned().unwrap_or_default());
                merged.identity_mode = merged.identity_mode.or(cluster_mode);
                if let (Some(list), Some(c)) = (&mut merged.trust_clusters, &self.config) {
                    let own = self.flags.cluster.as_deref().or(c.cluster.as_deref());
                    crate::shared_trust::resolve_names(list, &c.peers, own);
                }
                (n, merged)
            })
            .collect())
    }
}
