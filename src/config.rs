//! The config file `irsagen.yaml`: the same inputs as the flags, plus per-preset overrides.

use crate::error::{Error, Result};
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
    /// Tags put on every role irsagen manages (the guide's "Tag Resources" practice).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Presets to render, each with optional overrides. An empty map `{}` takes the defaults.
    /// Without this key (and without `--preset`) the guide's three presets are rendered.
    pub presets: Option<BTreeMap<String, PresetOverrides>>,
}

impl ConfigFile {
    /// Reads and parses a config file; errors carry the path, line and column.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "cannot read config file",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
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
