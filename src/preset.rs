//! Presets: one YAML file per component in `presets/` (embedded), plus any `--presets-dir`.
//! A preset holds the facts a component needs (ServiceAccount, policy and its source, addon,
//! chart, controller patch); the variables of a cluster are applied later, in `component`.

use crate::error::{Error, Result};
use crate::overrides::{ChartLayout, SaCreator};
use crate::rules;
use crate::safe_fs::{self, Contents, Kind};
use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/presets");

/// The text of the embedded preset file `<name>.yaml`, for readers of keys this module does not
/// model (`irsagen lint` reads `policy.narrow` from it).
pub fn embedded_text(name: &str) -> Option<&'static str> {
    EMBEDDED
        .get_file(format!("{name}.yaml"))
        .and_then(|f| f.contents_utf8())
}

/// The presets rendered when none is selected: the three the guide sets up.
pub const DEFAULT_PRESETS: [&str; 3] = ["cluster-autoscaler", "ebs-csi-driver", "efs-csi-driver"];

/// One preset, as written in its YAML file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Preset {
    /// Name; must equal the file's stem.
    pub name: String,
    /// One line for `irsagen presets`.
    pub description: String,
    /// The ServiceAccount the role is bound to.
    pub service_account: PresetServiceAccount,
    /// The customer-managed policy attached to the role.
    pub policy: PresetPolicy,
    /// EKS addon installed with this role (`addons[].serviceAccountRoleARN`).
    pub addon: Option<PresetAddon>,
    /// Helm chart whose values irsagen renders.
    pub helm: Option<PresetHelm>,
    /// How the component itself is installed, when the guide installs it with kubectl.
    pub install: Option<PresetInstall>,
    /// A controller whose pod spec must be pointed at the ServiceAccount (the guide's patch).
    pub controller_patch: Option<PresetControllerPatch>,
}

/// ServiceAccount defaults of a preset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetServiceAccount {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Who creates it; defaults to eksctl.
    #[serde(default = "default_creator")]
    pub created_by: SaCreator,
}

fn default_creator() -> SaCreator {
    SaCreator::Eksctl
}

/// Policy of a preset: its name, the document (inline or a file beside the preset) and source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetPolicy {
    /// Default managed policy name.
    pub name: String,
    /// Path of the JSON document, relative to the presets folder.
    pub document_file: Option<String>,
    /// The document inline (alternative to `documentFile`).
    pub document: Option<serde_json::Value>,
    /// Where the document comes from.
    pub source: PolicySource,
    /// One line on what the default document grants, for the output README.
    pub about: Option<String>,
    /// Other documents the user may pick with `policyVariant` (the default is [`GUIDE_VARIANT`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, PresetPolicyVariant>,
}

/// Name of a preset's default policy document (the guide's) in `policyVariant`.
pub const GUIDE_VARIANT: &str = "guide";

/// An alternative policy document of a preset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetPolicyVariant {
    /// Why it exists and what it grants, for the output README.
    pub about: String,
    /// Default managed policy name when this variant is picked.
    pub name: String,
    /// Path of the JSON document, relative to the presets folder.
    pub document_file: String,
    /// Where the document comes from.
    pub source: PolicySource,
    /// A literal in the document that stands for the cluster name (upstream writes
    /// `<my-cluster>`). It is replaced in every string and key at render time, and the document
    /// is then specific to one cluster, so the policy name gets `-<cluster>` appended: a policy
    /// name is account-wide and must not be shared by clusters with different documents.
    pub cluster_placeholder: Option<String>,
}

/// Provenance of a policy document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySource {
    /// The guide section this document replaces.
    pub document: String,
    /// Upstream repository URL.
    pub repository: String,
    /// Path in the repository.
    pub path: String,
    /// Commit the copy was taken from.
    pub commit: String,
    /// Date of that commit (YYYY-MM-DD).
    pub date: String,
    /// Git blob id of the upstream file at that commit, when the preset's file is that file byte
    /// for byte; a test hashes the copy and compares, so an edited copy cannot pass as upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Anything a reviewer should know.
    pub note: Option<String>,
}

/// An EKS addon bound to the role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetAddon {
    /// Addon name, e.g. `aws-ebs-csi-driver`.
    pub name: String,
}

/// A Helm chart whose values irsagen renders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetHelm {
    /// Chart name; also the umbrella key.
    pub chart: String,
    /// Template id of the values file.
    pub values_template: String,
    /// Default layout.
    #[serde(default = "default_layout")]
    pub layout: ChartLayout,
    /// Image tag for each Kubernetes minor version (`"1.31": v1.31.5`); with a known
    /// `kubernetesVersion` the values set `image.tag` from it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_tags: BTreeMap<String, String>,
    /// Where the image tags come from.
    pub image_tags_source: Option<String>,
}

fn default_layout() -> ChartLayout {
    ChartLayout::Umbrella
}

/// Install step for a component the guide installs with kubectl.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetInstall {
    /// Argument of `kubectl apply -k`: the guide's pinned overlay, the default install source.
    pub kustomize: String,
    /// EKS addon that can install the component instead (`installSource: addon`).
    pub addon: Option<String>,
}

/// A workload whose `serviceAccountName` irsagen patches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetControllerPatch {
    /// Workload kind; only `Deployment` is supported.
    pub kind: String,
    /// Workload name, in the ServiceAccount's namespace.
    pub name: String,
}

/// A preset with its policy document loaded.
#[derive(Debug, Clone)]
pub struct LoadedPreset {
    /// The preset.
    pub preset: Preset,
    /// Its policy document, parsed.
    pub document: serde_json::Value,
    /// The documents of its `policy.variants`, parsed, by variant name.
    pub variant_documents: BTreeMap<String, serde_json::Value>,
    /// Where it was loaded from (`embedded` or a path), for messages and `presets show`.
    pub origin: String,
}

/// Every preset known to this run: the embedded ones, overridden or extended by `--presets-dir`.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    presets: BTreeMap<String, LoadedPreset>,
}

impl Catalog {
    /// The embedded presets only.
    pub fn embedded() -> Result<Self> {
        let mut presets = BTreeMap::new();
        for file in EMBEDDED.files() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let origin = format!("presets/{}", path.display());
            let text = file.contents_utf8().ok_or_else(|| Error::Parse {
                path: origin.clone(),
                message: "is not UTF-8".into(),
            })?;
            let loaded = load_one(&origin, path, text, |rel| {
                EMBEDDED
                    .get_file(rel)
                    .and_then(|f| f.contents_utf8())
                    .map(str::to_string)
                    .ok_or_else(|| format!("embedded file presets/{rel} does not exist"))
            })?;
            presets.insert(loaded.preset.name.clone(), loaded);
        }
        Ok(Catalog { presets })
    }

    /// Embedded presets plus every `*.yaml` in `dir` (same name replaces the embedded one).
    pub fn with_dir(dir: Option<&Path>) -> Result<Self> {
        let mut catalog = Self::embedded()?;
        let Some(dir) = dir else { return Ok(catalog) };
        let io = |source, path: &Path| Error::Io {
            action: "cannot read presets dir",
            path: path.to_path_buf(),
            source,
        };
        // Regular `*.yaml` files only: a symlink, FIFO or folder named `x.yaml` is skipped, so
        // nothing outside the folder is read and nothing can hang the scan.
        let entries = safe_fs::list_dir(dir).map_err(|e| io(e, dir))?;
        for (name, _) in entries
            .iter()
            .filter(|(name, kind)| *kind == Kind::File && name.ends_with(".yaml"))
        {
            let path = dir.join(name);
            let origin = path.display().to_string();
            let Contents::File(bytes) = safe_fs::read_regular(&path, PRESET_LIMIT).map_err(|e| io(e, &path))? else {
                continue;
            };
            let text = String::from_utf8(bytes).map_err(|_| Error::Parse {
                path: origin.clone(),
                message: "is not UTF-8".into(),
            })?;
            let loaded = load_one(&origin, Path::new(name), &text, |rel| read_inside(dir, rel))?;
            catalog.presets.insert(loaded.preset.name.clone(), loaded);
        }
        Ok(catalog)
    }

    /// Looks a preset up by name.
    pub fn get(&self, name: &str) -> Result<&LoadedPreset> {
        self.presets.get(name).ok_or_else(|| Error::UnknownPreset {
            name: name.to_string(),
            known: self.names().join(", "),
        })
    }

    /// All preset names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.presets.keys().cloned().collect()
    }

    /// All presets, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedPreset> {
        self.presets.values()
    }
}

/// Largest preset or policy file read from `--presets-dir`.
const PRESET_LIMIT: u64 = 1 << 20;

/// Reads `rel` (already a plain relative path) below `dir`, through real folders only, and only
/// if it is a regular file: a symlink there could point anywhere on the machine.
fn read_inside(dir: &Path, rel: &str) -> std::result::Result<String, String> {
    let path = dir.join(rel);
    match safe_fs::folders_are_real(dir, rel) {
        Ok(true) => {}
        Ok(false) => return Err(format!("`{rel}` does not exist in {}", dir.display())),
        Err(e) => return Err(e.to_string()),
    }
    match safe_fs::read_regular(&path, PRESET_LIMIT) {
        Ok(Contents::File(bytes)) => String::from_utf8(bytes).map_err(|_| format!("`{rel}` is not UTF-8")),
        Ok(Contents::Missing) => Err(format!("`{rel}` does not exist in {}", dir.display())),
        Ok(Contents::NotRegular(what)) => Err(format!(
            "`{rel}` is a {what}, not a regular file; irsagen reads only regular files inside the presets folder"
        )),
        Err(e) => Err(format!("cannot read `{rel}`: {e}")),
    }
}

/// At most `MAX` characters of a parser's message, on one line: a preset file may hold
/// anything (a pasted token), and serde quotes the offending value whole.
fn short(message: &str) -> String {
    const MAX: usize = 200;
    let one_line: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match one_line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… (cut)", &one_line[..cut]),
        None => one_line,
    }
}

/// Parses and validates one preset file; `read` fetches `documentFile` relative to its folder.
fn load_one(
    origin: &str,
    file_name: &Path,
    text: &str,
    read: impl Fn(&str) -> std::result::Result<String, String>,
) -> Result<LoadedPreset> {
    let preset: Preset = crate::yaml::parse(origin, text).map_err(|e| match e {
        Error::Parse { path, message } => Error::Parse {
            path,
            message: short(&message),
        },
        other => other,
    })?;
    let bad = |message: String| Error::Parse {
        path: origin.to_string(),
        message,
    };
    let stem = file_name.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if preset.name != stem {
        return Err(bad(format!("name `{}` must equal the file name `{stem}`", preset.name)));
    }
    rules::preset_name(&format!("{origin}: name"), &preset.name)?;
    rules::namespace(
        &format!("{origin}: serviceAccount.namespace"),
        &preset.service_account.namespace,
    )?;
    rules::object_name(&format!("{origin}: serviceAccount.name"), &preset.service_account.name)?;
    rules::policy_name(&format!("{origin}: policy.name"), &preset.policy.name)?;
    if let Some(p) = &preset.controller_patch {
        if p.kind != "Deployment" {
            return Err(bad(format!(
                "controllerPatch.kind `{}` is not supported; only `Deployment` is",
                p.kind
            )));
        }
        rules::object_name(&format!("{origin}: controllerPatch.name"), &p.name)?;
    }
    if let Some(h) = &preset.helm {
        // The chart name becomes a path (`helm/<chart>-values.yaml`).
        rules::preset_name(&format!("{origin}: helm.chart"), &h.chart)?;
    }
    if let Some(a) = &preset.addon {
        rules::namespace(&format!("{origin}: addon.name"), &a.name)?;
    }
    let document = match (&preset.policy.document_file, &preset.policy.document) {
        (Some(rel), None) => {
            if let Some(rule) = safe_fs::plain_relative_path(rel) {
                return Err(Error::invalid(
                    format!("{origin}: policy.documentFile"),
                    rel,
                    format!("{rule}; it must name a file inside the presets folder"),
                ));
            }
            let text = read(rel).map_err(|m| bad(format!("policy.documentFile: {m}")))?;
            serde_json::from_str(&text).map_err(|e| {
                bad(format!(
                    "policy.documentFile `{rel}` is not JSON: {}",
                    short(&e.to_string())
                ))
            })?
        }
        (None, Some(doc)) => doc.clone(),
        _ => {
            return Err(bad(
                "policy must have exactly one of `documentFile` and `document`".into()
            ));
        }
    };
    crate::policy_doc::check(&format!("{origin}: policy"), &document)?;
    let mut variant_documents = BTreeMap::new();
    for (name, v) in &preset.policy.variants {
        let field = format!("{origin}: policy.variants.{name}");
        rules::preset_name(&field, name)?;
        if name == GUIDE_VARIANT {
            return Err(bad(format!(
                "policy.variants may not be named `{GUIDE_VARIANT}`: that is the preset's own document"
            )));
        }
        rules::policy_name(&format!("{field}.name"), &v.name)?;
        let text = read(&v.document_file).map_err(|m| bad(format!("{field}.documentFile: {m}")))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{field}.documentFile `{}` is not JSON: {e}", v.document_file)))?;
        crate::policy_doc::check(&field, &doc)?;
        if let Some(ph) = &v.cluster_placeholder {
            // A placeholder the document does not contain would leave a cluster-neutral document
            // under a per-cluster name: refuse the mismatch instead.
            if ph.is_empty() || !text.contains(ph.as_str()) {
                return Err(bad(format!(
                    "{field}.clusterPlaceholder `{ph}` does not occur in `{}`",
                    v.document_file
                )));
            }
        }
        variant_documents.insert(name.clone(), doc);
    }
    let origin = if origin.starts_with("presets/") {
        "embedded".to_string()
    } else {
        origin.to_string()
    };
    Ok(LoadedPreset {
        preset,
        document,
        variant_documents,
        origin,
    })
}

/// Text for `irsagen presets show NAME`.
pub fn describe(p: &LoadedPreset) -> String {
    use crate::bundle::ArtifactKind as K;
    let pr = &p.preset;
    let src = &pr.policy.source;
    let actions: usize = p.document["Statement"]
        .as_array()
        .map(|s| s.iter().map(|st| st["Action"].as_array().map_or(1, Vec::len)).sum())
        .unwrap_or(0);
    let mut s = format!("{}: {}\n(from {})\n\n", pr.name, pr.description, p.origin);
    s.push_str(&format!(
        "ServiceAccount  {}/{} (created by {})\n",
        pr.service_account.namespace, pr.service_account.name, pr.service_account.created_by
    ));
    s.push_str(&format!(
        "Policy          {} ({} statements, {} actions, {} characters without whitespace)\n",
        pr.policy.name,
        p.document["Statement"].as_array().map_or(0, Vec::len),
        actions,
        crate::policy_doc::iam_length(&p.document)
    ));
    s.push_str(&format!(
        "Source          {}\n                {} {}\n                commit {} ({})\n",
        src.document, src.repository, src.path, src.commit, src.date
    ));
    if let Some(n) = &src.note {
        s.push_str(&format!("                {n}\n"));
    }
    if let Some(a) = &pr.addon {
        s.push_str(&format!(
            "EKS addon       {} (serviceAccountRoleARN = the role)\n",
            a.name
        ));
    }
    if let Some(h) = &pr.helm {
        s.push_str(&format!(
            "Helm chart      {} (layout {}, values template {})\n",
            h.chart,
            format!("{:?}", h.layout).to_lowercase(),
            h.values_template
        ));
    }
    if let Some(i) = &pr.install {
        s.push_str(&format!("Install         kubectl apply -k {}\n", i.kustomize));
        s.push_str(&format!(
            "                (installSource: {}; `guide` is the default)\n",
            crate::install_source::FORMS
        ));
    }
    if let Some(c) = &pr.controller_patch {
        s.push_str(&format!("Patch           {} {} serviceAccountName\n", c.kind, c.name));
    }
    s.push_str("\nArtifacts\n");
    let files = crate::bundle::ComponentFiles {
        preset: &pr.name,
        trust_policy: true,
        service_account_created_by: pr.service_account.created_by,
        controller_patch: pr.controller_patch.as_ref().map(|c| c.name.as_str()),
        chart: pr.helm.as_ref().map(|h| h.chart.as_str()),
    };
    let mut rows: Vec<(String, K)> = files
        .artifacts()
        .into_iter()
        .map(|(path, kind)| match kind {
            K::TrustPolicy => (format!("{path} (with --oidc-issuer)"), kind),
            _ => (path, kind),
        })
        .collect();
    rows.push((
        format!(
            "{} (an iam.serviceAccounts entry)",
            crate::bundle::layout::EKSCTL_CONFIG
        ),
        K::EksctlConfig,
    ));
    rows.push((
        format!("{} (its steps)", crate::bundle::layout::SETUP_SCRIPT),
        K::SetupScript,
    ));
    for (path, kind) in rows {
        s.push_str(&format!("  {path}\n      {}\n", kind.about()));
    }
    s
}
