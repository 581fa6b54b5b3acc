//! A subset verify (`verify --preset X`) on a cluster that also runs the other presets: their
//! annotated ServiceAccounts are not "unexpected". Only a ServiceAccount bound to one of this
//! cluster's irsagen role names that no preset accounts for (a left-over) still is.

use crate::bundle::Bundle;
use crate::component::{self, ServiceAccountRef};
use crate::context::Context;
use crate::overrides::PresetOverrides;
use crate::preset::{Catalog, LoadedPreset};
use std::collections::BTreeMap;

/// The presets a verify did not select, each with the overrides the config file gives it.
#[derive(Debug, Clone, Default)]
pub struct Others(pub Vec<(LoadedPreset, PresetOverrides)>);

/// Every preset of `catalog` that `bundle` does not render, with its overrides from `overrides`
/// (the config file's `presets:`; defaults when absent).
pub fn others(catalog: &Catalog, bundle: &Bundle, overrides: &BTreeMap<String, PresetOverrides>) -> Others {
    Others(
        catalog
            .iter()
            .filter(|p| !bundle.components.iter().any(|c| c.preset == p.preset.name))
            .map(|p| (p.clone(), overrides.get(&p.preset.name).cloned().unwrap_or_default()))
            .collect(),
    )
}

/// The unselected preset whose role `arn` is, for the annotated ServiceAccount `sa`: the role the
/// preset resolves to with its overrides, or the role it would have with its ServiceAccount in
/// `sa`'s namespace (a chart installed elsewhere than the config says, which that preset's own
/// verify reports). Resolved through [`component::resolve`], so the names are the render's.
pub fn owner(ctx: &Context, others: &Others, sa: &ServiceAccountRef, arn: &str) -> Option<String> {
    others.0.iter().find_map(|(preset, o)| {
        let moved = PresetOverrides {
            namespace: Some(sa.namespace.clone()),
            release_namespace: None,
            role_name: None,
            ..o.clone()
        };
        [o, &moved]
            .into_iter()
            .filter_map(|o| component::role_arn(ctx, preset, o).ok())
            .any(|role| role == arn)
            .then(|| preset.preset.name.clone())
    })
}
