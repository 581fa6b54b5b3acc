//! Presets: one YAML file per component in `presets/` (embedded), plus any `--presets-dir`.
//! A preset holds the facts a component needs (ServiceAccount, policy and its source, addon,
//! chart, controller patch); the variables of a cluster are applied later, in `component`.

use crate::error::{Error, Result};
use crate::overrides::{ChartLayout, SaCreator};
use crate::parameters::PresetParameter;
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
    /// Identity mechanisms the component supports; absent: IRSA only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanisms: Option<PresetMechanisms>,
    /// Typed parameters (`--set PRESET.PARAM=…`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, PresetParameter>,
}

/// The identity mechanisms a preset's component supports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetMechanisms {
    /// IRSA (`{}`): the component reads web identity credentials.
    pub irsa: Option<IrsaSupport>,
    /// EKS Pod Identity, from a minimum controller (or addon) version.
    pub pod_identity: Option<PodIdentitySupport>,
}

/// IRSA support; nothing to declare (an SDK that predates IRSA is not in any supported release).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrsaSupport {}

/// Pod Identity support of a component.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodIdentitySupport {
    /// First controller (or addon) version whose AWS SDK reads Pod Identity credentials.
    pub min_version: String,
    /// Where that is stated.
    pub source: String,
}

impl Preset {
    /// Whether the component can get its role through `m`, as the preset declares it. Without
    /// `mechanisms`, IRSA only: Pod Identity needs a controller whose SDK reads the agent, and a
    /// preset claims that only with a cited minimum version.
    pub fn supports(&self, m: crate::identity::Mechanism) -> bool {
        use crate::identity::Mechanism;
        match (&self.mechanisms, m) {
            (None, m) => m == Mechanism::Irsa,
            (Some(ms), Mechanism::Irsa) => ms.irsa.is_some(),
            (Some(ms), Mechanism::PodIdentity) => ms.pod_identity.is_some(),
        }
    }
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
    /// Default managed policy name; may be left out when the preset only attaches AWS managed
    /// policies (no document to create).
    #[serde(default)]
    pub name: String,
    /// Path of the JSON document, relative to the presets folder.
    pub document_file: Option<String>,
    /// The document inline (alternative to `documentFile`).
    pub document: Option<serde_json::Value>,
    /// Where the document comes from (with `documentFile`/`document`; each of `versions` has its own).
    pub source: Option<PolicySource>,
    /// One line on what the default document grants, for the output README.
    pub about: Option<String>,
    /// Other documents the user may pick with `policyVariant` (the default is [`GUIDE_VARIANT`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, PresetPolicyVariant>,
    /// What the role gets unless `--set PRESET.policy=` says otherwise (default `document`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<PolicyKind>,
    /// The document per controller version, oldest first (instead of `documentFile`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<PolicyVersion>,
    /// AWS managed policies attached instead of the document with `policy: aws-managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_managed: Option<AwsManagedPolicies>,
    /// Literal text of the upstream document replaced at render time, by a template of
    /// `{partition}`, `{region}`, `{account}`, `{cluster}` and `{<parameter>}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// Wide `Resource` elements replaced when an optional parameter is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub narrow: Vec<PolicyNarrow>,
    /// Statements added to the document when an optional parameter is set (the KMS grants a
    /// customer managed key needs), each from its own upstream document.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extend: Vec<PolicyExtension>,
    /// Further customer managed policies the role gets, after the main document and in this
    /// order (upstream splits a permission set that exceeds one policy's 6,144 characters, e.g.
    /// Karpenter's six). `substitute`, `narrow` and `extend` apply to each document.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<AdditionalPolicy>,
}

/// One further customer managed policy of a preset (`policy.additional`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdditionalPolicy {
    /// Default managed policy name (gets `-<cluster>` like the main one when rendering makes
    /// the document specific to the cluster). Also names the file
    /// `iam/<preset>/policy-<name>.json`.
    pub name: String,
    /// Path of the JSON document, relative to the presets folder.
    pub document_file: String,
    /// Where the document comes from.
    pub source: PolicySource,
}

/// Statements of an upstream document appended to a preset's policy when a parameter is set.
/// Upstream publishes such additions as separate documents ("if you use a custom KMS key, also
/// attach ..."); irsagen appends their statements to the one customer managed policy, so the
/// role still has one policy per preset and the addition is reviewed in the same file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyExtension {
    /// The parameter that, when set, adds the statements.
    pub parameter: String,
    /// Path of the JSON document whose statements are added, relative to the presets folder.
    pub document_file: String,
    /// Where that document comes from.
    pub source: PolicySource,
    /// Its literal text replaced at render time, as the policy's own `substitute`; one of them
    /// must use `{<parameter>}` (an addition that does not name the resources the parameter
    /// gives would grant on upstream's example ARN).
    pub substitute: BTreeMap<String, String>,
}

/// What a role gets: the preset's document as a customer managed policy, or AWS managed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// A customer managed copy of the preset's document (irsagen creates and versions it).
    #[default]
    Document,
    /// The AWS managed policies of `policy.awsManaged` (attached; nothing created).
    AwsManaged,
}

impl PolicyKind {
    /// Whether this is [`PolicyKind::Document`].
    pub fn is_document(&self) -> bool {
        *self == PolicyKind::Document
    }

    /// As written in presets and `--set`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Document => "document",
            PolicyKind::AwsManaged => "aws-managed",
        }
    }

    /// Parses a `--set` value.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value {
            "document" => Ok(PolicyKind::Document),
            "aws-managed" => Ok(PolicyKind::AwsManaged),
            _ => Err(Error::invalid(field, value, "must be `document` or `aws-managed`")),
        }
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy document from one controller version on (up to the next entry's `from`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyVersion {
    /// First controller version this document is for (`vMAJOR.MINOR.PATCH`, `v` optional).
    pub from: String,
    /// Path of the JSON document, relative to the presets folder.
    pub document_file: String,
    /// Where the document comes from.
    pub source: PolicySource,
}

/// AWS managed policies a preset may attach instead of its document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsManagedPolicies {
    /// Each ARN after `arn:<partition>:iam::aws:`, e.g. `policy/AmazonEKS_CNI_Policy`.
    pub arns: Vec<String>,
    /// Where AWS documents them.
    pub source: PolicySource,
}

/// The name the chart-engine branch gave [`AwsManagedPolicies`] (same shape).
pub type PresetAwsManaged = AwsManagedPolicies;

/// One narrowing of a wide `Resource` by an optional parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyNarrow {
    /// The parameter that, when set, narrows.
    pub parameter: String,
    /// The `Resource` element replaced, as upstream writes it.
    pub resource: String,
    /// Its replacement, a template (one element per value of a list parameter).
    pub to: String,
    /// Only in statements with these `Sid`s (default: every statement).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sids: Vec<String>,
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

/// A Helm chart whose values irsagen renders. Everything chart-specific is here, as data: Rust
/// knows no chart by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetHelm {
    /// Chart name; also the umbrella key and the release name.
    pub chart: String,
    /// The chart's repository: an `https://` Helm repository or an `oci://` registry.
    pub repository: String,
    /// The alias `helm repo add` gives the repository, for commands; default: the URL's last
    /// path segment, else its host's name ([`crate::chart_schema::repository_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_name: Option<String>,
    /// The pinned chart version whose values.yaml is `valuesReference`.
    pub version: String,
    /// A pinned copy of the chart's values.yaml (`reference/charts/<chart>/values.yaml`, with a
    /// SOURCE.md): rendered and user values may only use its keys. Embedded presets name the
    /// copy irsagen ships; a `--presets-dir` preset names a file in that folder, or one irsagen
    /// ships when the folder has none at that path.
    pub values_reference: String,
    /// Maps whose keys are the user's although values.yaml lists some (the chart turns each key
    /// into something of its own, e.g. an `--arg`); every map empty in values.yaml is free-form too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub free_form_maps: Vec<String>,
    /// Where the chart reads its ServiceAccount settings.
    pub service_account: PresetChartServiceAccount,
    /// Template id of the values BODY: the chart's own keys. irsagen adds the header comments
    /// and, for the umbrella layout, nests it under `<chart>:` with `enabled: true`
    /// ([`crate::helm_values::wrap`]).
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

/// Where a chart reads its ServiceAccount settings: the map at `path` and the key names in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetChartServiceAccount {
    /// Dotted path of the map (`serviceAccount`; cluster-autoscaler: `rbac.serviceAccount`).
    pub path: String,
    /// Key of the create flag.
    #[serde(default = "default_create_key")]
    pub create: String,
    /// Key of the ServiceAccount name.
    #[serde(default = "default_name_key")]
    pub name: String,
    /// Key of the annotations map.
    #[serde(default = "default_annotations_key")]
    pub annotations: String,
}

fn default_create_key() -> String {
    "create".into()
}

fn default_name_key() -> String {
    "name".into()
}

fn default_annotations_key() -> String {
    "annotations".into()
}

/// Install step for a component the guide installs with kubectl.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetInstall {
    /// Argument of `kubectl apply -k`: the guide's pinned overlay, the default install source.
    pub kustomize: String,
    /// EKS addon that can install the component instead (`installSource: addon`).
    pub addon: Option<String>,
    /// The controller version the pinned overlay installs, compared with
    /// `mechanisms.podIdentity.minVersion` (an overlay at another ref has no known version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize_version: Option<String>,
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
    /// Its policy document (`documentFile` or `document`), parsed; `None` with `versions` or
    /// when the preset only attaches AWS managed policies.
    pub document: Option<serde_json::Value>,
    /// Its `policy.versions`, parsed, oldest first.
    pub versions: Vec<LoadedVersion>,
    /// The documents of its `policy.variants`, parsed, by variant name.
    pub variant_documents: BTreeMap<String, serde_json::Value>,
    /// The documents of its `policy.extend`, parsed, in the same order.
    pub extensions: Vec<serde_json::Value>,
    /// The documents of its `policy.additional`, parsed, in the same order.
    pub additional_documents: Vec<serde_json::Value>,
    /// The names of its `policy.additional`, in the same order (what names their files).
    pub additional_names: Vec<String>,
    /// Where it was loaded from (`embedded` or a path), for messages and `presets show`.
    pub origin: String,
    /// The chart's values reference (`helm.valuesReference`), for chart presets.
    pub chart_values: Option<std::sync::Arc<crate::chart_schema::ChartValues>>,
}

/// One entry of `policy.versions`, loaded.
#[derive(Debug, Clone)]
pub struct LoadedVersion {
    /// As written (`v2.9.0`).
    pub from: String,
    /// As compared.
    pub parsed: crate::preset_policy::Version,
    /// The document, parsed.
    pub document: serde_json::Value,
    /// The document file's text (for `presets diff` and the substitution check).
    pub text: String,
}

impl LoadedPreset {
    /// The document rendered by default: `documentFile`'s, else the newest version's.
    pub fn default_document(&self) -> Option<&serde_json::Value> {
        self.document
            .as_ref()
            .or_else(|| self.versions.last().map(|v| &v.document))
    }
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
    // Checked below, once it is known whether the preset has a document to create.
    if let Some(p) = &preset.controller_patch {
        if p.kind != "Deployment" {
            return Err(bad(format!(
                "controllerPatch.kind `{}` is not supported; only `Deployment` is",
                p.kind
            )));
        }
        rules::object_name(&format!("{origin}: controllerPatch.name"), &p.name)?;
    }
    let chart_values = match &preset.helm {
        None => None,
        Some(h) => {
            // The chart name becomes a path (`helm/<chart>-values.yaml`).
            rules::preset_name(&format!("{origin}: helm.chart"), &h.chart)?;
            crate::chart_schema::check_helm(origin, h)?;
            Some(std::sync::Arc::new(chart_values(origin, h, &read)?))
        }
    };
    if let Some(a) = &preset.addon {
        rules::namespace(&format!("{origin}: addon.name"), &a.name)?;
    }
    if let Some(v) = preset.install.as_ref().and_then(|i| i.kustomize_version.as_ref()) {
        if crate::preset_policy::parse_version(v).is_none() {
            return Err(Error::invalid(
                format!("{origin}: install.kustomizeVersion"),
                v,
                "must be a version `vMAJOR.MINOR.PATCH` (the `v` is optional), e.g. `v1.7.0`",
            ));
        }
    }
    let parse_doc = |field: &str, rel: &str| -> Result<(String, serde_json::Value)> {
        if let Some(rule) = safe_fs::plain_relative_path(rel) {
            return Err(Error::invalid(
                format!("{origin}: {field}"),
                rel,
                format!("{rule}; it must name a file inside the presets folder"),
            ));
        }
        let text = read(rel).map_err(|m| bad(format!("{field}: {m}")))?;
        let doc = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{field} `{rel}` is not JSON: {}", short(&e.to_string()))))?;
        crate::policy_doc::check(&format!("{origin}: {field}"), &doc)?;
        Ok((text, doc))
    };
    let pol = &preset.policy;
    let document = match (&pol.document_file, &pol.document, pol.versions.is_empty()) {
        (Some(rel), None, true) => Some(parse_doc("policy.documentFile", rel)?),
        (None, Some(doc), true) => {
            crate::policy_doc::check(&format!("{origin}: policy"), doc)?;
            Some((crate::policy_doc::compact(doc), doc.clone()))
        }
        (None, None, _) => None,
        _ => {
            return Err(bad(
                "policy must have at most one of `documentFile`, `document` and `versions`".into(),
            ));
        }
    };
    match (&document, &pol.source) {
        (Some(_), None) => return Err(bad("policy.source is required with `documentFile` or `document`".into())),
        (None, Some(_)) => {
            return Err(bad(
                "policy.source goes with `documentFile` or `document`; each of `versions` has its own `source`".into(),
            ));
        }
        _ => {}
    }
    let mut versions = Vec::new();
    for (i, v) in pol.versions.iter().enumerate() {
        let field = format!("policy.versions[{i}]");
        let Some(parsed) = crate::preset_policy::parse_version(&v.from) else {
            return Err(Error::invalid(
                format!("{origin}: {field}.from"),
                &v.from,
                "must be a version `vMAJOR.MINOR.PATCH` (the `v` is optional), e.g. `v2.9.0`",
            ));
        };
        if let Some(prev) = versions.last().map(|p: &LoadedVersion| p.parsed) {
            if parsed <= prev {
                return Err(Error::invalid(
                    format!("{origin}: {field}.from"),
                    &v.from,
                    format!(
                        "must be newer than the entry before it (`{}`): versions are listed oldest first, each once",
                        pol.versions[i - 1].from
                    ),
                ));
            }
        }
        let (text, doc) = parse_doc(&format!("{field}.documentFile"), &v.document_file)?;
        versions.push(LoadedVersion {
            from: v.from.clone(),
            parsed,
            document: doc,
            text,
        });
    }
    if let Some(m) = &pol.aws_managed {
        let field = format!("{origin}: policy.awsManaged.arns");
        if m.arns.is_empty() || m.arns.len() > 20 {
            return Err(Error::invalid(
                &field,
                m.arns.len().to_string(),
                "ARNs listed; give 1-20 (IAM attaches at most 20 managed policies to a role)",
            ));
        }
        for (i, a) in m.arns.iter().enumerate() {
            let full = format!("arn:aws:iam::aws:{a}");
            if !a.starts_with("policy/") || rules::managed_policy_arn("", &full, "aws").is_err() {
                return Err(Error::invalid(
                    &field,
                    a,
                    "must be the part of an AWS managed policy ARN after `arn:<partition>:iam::aws:`: `policy/[path/]name`, path parts and name of letters, digits and `_+=,.@-` (name 1-128 characters)",
                ));
            }
            if m.arns[..i].contains(a) {
                return Err(Error::invalid(&field, a, "is listed twice; list each policy once"));
            }
        }
    }
    if document.is_none() && versions.is_empty() && pol.aws_managed.is_none() {
        return Err(bad(
            "policy needs a document (`documentFile`, `document` or `versions`) or `awsManaged`".into(),
        ));
    }
    if document.is_some() || !versions.is_empty() || !pol.name.is_empty() {
        rules::policy_name(&format!("{origin}: policy.name"), &pol.name)?;
    }
    let mut additional = Vec::new();
    if !pol.additional.is_empty() {
        if document.is_none() {
            return Err(bad(
                "policy.additional goes with `documentFile` or `document` (the first policy); not with `versions` or AWS managed policies alone".into(),
            ));
        }
        if !pol.variants.is_empty() {
            return Err(bad(
                "policy.additional and policy.variants cannot be combined: a variant replaces one document, not a set"
                    .into(),
            ));
        }
        if pol.additional.len() + 1 > crate::managed_policy::MAX_ATTACHED {
            return Err(Error::invalid(
                format!("{origin}: policy.additional"),
                pol.additional.len().to_string(),
                format!(
                    "policies listed; IAM attaches at most {} managed policies to a role, the first document included",
                    crate::managed_policy::MAX_ATTACHED
                ),
            ));
        }
    }
    for (i, a) in pol.additional.iter().enumerate() {
        let field = format!("policy.additional[{i}]");
        rules::policy_name(&format!("{origin}: {field}.name"), &a.name)?;
        if a.name == pol.name || pol.additional[..i].iter().any(|b| b.name == a.name) {
            return Err(Error::invalid(
                format!("{origin}: {field}.name"),
                &a.name,
                "is used twice; each policy of a preset needs its own name",
            ));
        }
        additional.push(parse_doc(&format!("{field}.documentFile"), &a.document_file)?);
    }
    if pol.default == Some(PolicyKind::AwsManaged) && pol.aws_managed.is_none() {
        return Err(Error::invalid(
            format!("{origin}: policy.default"),
            "aws-managed",
            "needs `policy.awsManaged` (the ARNs to attach)",
        ));
    }
    if pol.default != Some(PolicyKind::AwsManaged) && document.is_none() && versions.is_empty() {
        return Err(Error::invalid(
            format!("{origin}: policy.default"),
            pol.default.unwrap_or_default().as_str(),
            "is `document` (the default) but the preset has no document; set `default: aws-managed`",
        ));
    }
    if let Some(m) = &preset.mechanisms {
        if m.irsa.is_none() && m.pod_identity.is_none() {
            return Err(bad(
                "mechanisms must list `irsa`, `podIdentity` or both (leave it out for IRSA only)".into(),
            ));
        }
        if let Some(pi) = &m.pod_identity {
            if crate::preset_policy::parse_version(&pi.min_version).is_none() {
                return Err(Error::invalid(
                    format!("{origin}: mechanisms.podIdentity.minVersion"),
                    &pi.min_version,
                    "must be a version `vMAJOR.MINOR.PATCH` (the `v` is optional), e.g. `v0.14.0`",
                ));
            }
            if pi.source.trim().is_empty() {
                return Err(bad(
                    "mechanisms.podIdentity.source must say where the minimum version is stated".into(),
                ));
            }
        }
    }
    for (name, decl) in &preset.parameters {
        let field = format!("{origin}: parameters.{name}");
        if !crate::parameters::is_param_name(name) {
            return Err(Error::invalid(
                &field,
                name,
                "must be a letter, then letters and digits (camelCase), at most 64",
            ));
        }
        if crate::overrides::is_field(name) {
            return Err(Error::invalid(
                &field,
                name,
                "is the name of an override field; a parameter needs a name of its own",
            ));
        }
        let example = match decl.kind {
            crate::parameters::ParamType::List => decl.example.split(',').collect(),
            crate::parameters::ParamType::String => vec![decl.example.as_str()],
        };
        for e in example {
            crate::parameters::check_value(&format!("{field}.example"), decl, e, "aws")?;
        }
        if decl.about.trim().is_empty() {
            return Err(bad(format!(
                "parameters.{name}.about must say what the parameter is for"
            )));
        }
    }
    // Every text a substitution or narrowing could apply to: a key or resource found in none is a
    // typo that would silently leave the document as upstream wrote it.
    let texts: Vec<&str> = document
        .iter()
        .chain(additional.iter())
        .map(|(t, _)| t.as_str())
        .chain(versions.iter().map(|v| v.text.as_str()))
        .collect();
    let docs: Vec<&serde_json::Value> = document
        .iter()
        .chain(additional.iter())
        .map(|(_, d)| d)
        .chain(versions.iter().map(|v| &v.document))
        .collect();
    let declared = |field: String, template: &str| -> Result<()> {
        for ph in crate::preset_policy::placeholders(template) {
            if !crate::preset_policy::BUILTINS.contains(&ph) && !preset.parameters.contains_key(ph) {
                return Err(Error::invalid(
                    field,
                    template,
                    format!(
                        "uses `{{{ph}}}`, which is neither one of {} nor a declared parameter ({})",
                        crate::preset_policy::BUILTINS.map(|b| format!("{{{b}}}")).join(", "),
                        if preset.parameters.is_empty() {
                            "none declared".to_string()
                        } else {
                            preset.parameters.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    };
    for (from, to) in &pol.substitute {
        let field = format!("{origin}: policy.substitute.{from}");
        if from.is_empty() || !texts.iter().any(|t| t.contains(from.as_str())) {
            return Err(Error::invalid(
                &field,
                from,
                "does not occur in the preset's policy documents; substitute replaces literal text of the document",
            ));
        }
        declared(field, to)?;
    }
    for (i, n) in pol.narrow.iter().enumerate() {
        let field = format!("{origin}: policy.narrow[{i}]");
        if !preset.parameters.contains_key(&n.parameter) {
            return Err(Error::invalid(
                format!("{field}.parameter"),
                &n.parameter,
                "is not a declared parameter",
            ));
        }
        if !crate::preset_policy::placeholders(&n.to).contains(&n.parameter.as_str()) {
            return Err(Error::invalid(
                format!("{field}.to"),
                &n.to,
                format!("must use `{{{}}}`, the parameter that narrows", n.parameter),
            ));
        }
        declared(format!("{field}.to"), &n.to)?;
        if !docs
            .iter()
            .any(|d| crate::preset_policy::has_resource(d, &n.resource, &n.sids))
        {
            return Err(Error::invalid(
                format!("{field}.resource"),
                &n.resource,
                "is not a `Resource` element of any of the preset's documents (in the statements `sids` names, if given)",
            ));
        }
    }
    let mut extensions = Vec::new();
    for (i, x) in pol.extend.iter().enumerate() {
        let field = format!("{origin}: policy.extend[{i}]");
        match preset.parameters.get(&x.parameter) {
            None => {
                return Err(Error::invalid(
                    format!("{field}.parameter"),
                    &x.parameter,
                    "is not a declared parameter",
                ));
            }
            Some(d) if d.required => {
                return Err(Error::invalid(
                    format!("{field}.parameter"),
                    &x.parameter,
                    "is a required parameter; statements every component gets belong in the policy document itself",
                ));
            }
            Some(_) => {}
        }
        let (text, doc) = parse_doc(&format!("policy.extend[{i}].documentFile"), &x.document_file)?;
        for (from, to) in &x.substitute {
            let f = format!("{field}.substitute.{from}");
            if from.is_empty() || !text.contains(from.as_str()) {
                return Err(Error::invalid(
                    &f,
                    from,
                    format!(
                        "does not occur in `{}`; substitute replaces literal text of the document",
                        x.document_file
                    ),
                ));
            }
            declared(f, to)?;
        }
        let placeholder = format!("{{{}}}", x.parameter);
        if !x.substitute.values().any(|to| to.contains(&placeholder)) {
            return Err(Error::invalid(
                format!("{field}.substitute"),
                x.substitute.values().cloned().collect::<Vec<_>>().join(", "),
                format!(
                    "must use `{placeholder}` in one replacement, so the added statements name the resources the parameter gives"
                ),
            ));
        }
        extensions.push(doc);
    }
    let document = document.map(|(_, d)| d);
    let additional_names: Vec<String> = pol.additional.iter().map(|a| a.name.clone()).collect();
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
        versions,
        variant_documents,
        extensions,
        additional_documents: additional.into_iter().map(|(_, d)| d).collect(),
        additional_names,
        origin,
        chart_values,
    })
}

/// `irsa`, `pod-identity (from vX: source)` as the preset declares them.
pub fn mechanisms_line(pr: &Preset) -> String {
    let Some(m) = &pr.mechanisms else {
        return "irsa (not declared: IRSA only)".to_string();
    };
    let mut out = Vec::new();
    if m.irsa.is_some() {
        out.push("irsa".to_string());
    }
    if let Some(pi) = &m.pod_identity {
        out.push(format!("pod-identity (from {}: {})", pi.min_version, pi.source));
    }
    out.join("; ")
}

/// The chart's values reference: the file beside the preset when there is one (`read`), else the
/// copy irsagen ships under that path.
fn chart_values(
    origin: &str,
    h: &PresetHelm,
    read: &impl Fn(&str) -> std::result::Result<String, String>,
) -> Result<crate::chart_schema::ChartValues> {
    let rel = &h.values_reference;
    let field = format!("{origin}: helm.valuesReference");
    if let Some(rule) = safe_fs::plain_relative_path(rel) {
        return Err(Error::invalid(
            field,
            rel,
            format!("{rule}; it must name a chart's values.yaml"),
        ));
    }
    let text = match (read(rel), crate::chart_schema::embedded(rel)) {
        (Ok(text), _) => text,
        (Err(_), Some(text)) => text.to_string(),
        (Err(m), None) => {
            return Err(Error::invalid(
                field,
                rel,
                format!(
                    "names no file: {m}, and irsagen ships no chart values reference there (it ships {}<chart>/values.yaml for its presets' charts)",
                    crate::chart_schema::EMBEDDED_PREFIX
                ),
            ));
        }
    };
    Ok(crate::chart_schema::ChartValues::new(
        rel.clone(),
        text,
        h.free_form_maps.clone(),
    ))
}

/// Text for `irsagen presets show NAME`.
pub fn describe(p: &LoadedPreset) -> String {
    use crate::bundle::ArtifactKind as K;
    let pr = &p.preset;
    let mut s = format!("{}: {}\n(from {})\n\n", pr.name, pr.description, p.origin);
    s.push_str(&format!(
        "ServiceAccount  {}/{} (created by {})\n",
        pr.service_account.namespace, pr.service_account.name, pr.service_account.created_by
    ));
    s.push_str(&format!("Mechanisms      {}\n", mechanisms_line(pr)));
    let modes: Vec<&str> = crate::identity::IdentityMode::NAMES
        .into_iter()
        .filter(|m| {
            crate::identity::IdentityMode::parse("", m)
                .is_ok_and(|mode| mode.mechanisms().iter().all(|mech| pr.supports(*mech)))
        })
        .collect();
    s.push_str(&format!(
        "Identity modes  {} (--mode, or --set PRESET.identityMode=)\n",
        modes.join(", ")
    ));
    let default_kind = pr.policy.default.unwrap_or_default();
    let stats = |doc: &serde_json::Value| {
        let actions: usize = crate::policy_doc::statements(doc)
            .iter()
            .map(|st| {
                st.get("Action")
                    .and_then(crate::policy_doc::strings)
                    .map_or(0, |a| a.len())
            })
            .sum();
        format!(
            "{} statements, {} actions, {} characters without whitespace",
            crate::policy_doc::statements(doc).len(),
            actions,
            crate::policy_doc::iam_length(doc)
        )
    };
    if let Some(doc) = p.default_document() {
        s.push_str(&format!(
            "Policy          {} ({}){}\n",
            pr.policy.name,
            stats(doc),
            if p.versions.is_empty() { "" } else { ", newest version" }
        ));
    }
    // The further customer managed policies (`policy.additional`), each with its own stats.
    for ((name, doc), decl) in p
        .additional_names
        .iter()
        .zip(&p.additional_documents)
        .zip(&pr.policy.additional)
    {
        s.push_str(&format!("  and {} ({}), {}\n", name, stats(doc), decl.document_file));
    }
    let src = pr
        .policy
        .source
        .as_ref()
        .or_else(|| pr.policy.versions.last().map(|v| &v.source));
    if let Some(src) = src {
        s.push_str(&format!(
            "Source          {}\n                {} {}\n                commit {} ({})\n",
            src.document, src.repository, src.path, src.commit, src.date
        ));
        if let Some(n) = &src.note {
            s.push_str(&format!("                {n}\n"));
        }
    }
    if !p.versions.is_empty() {
        s.push_str("Versions        (--set PRESET.version=vX.Y.Z picks the newest entry not after it)\n");
        for (i, (v, decl)) in p.versions.iter().zip(&pr.policy.versions).enumerate() {
            let newest = i + 1 == p.versions.len();
            s.push_str(&format!(
                "  {}{}  {} (commit {}, {})\n",
                v.from,
                if newest { " (default)" } else { "" },
                decl.document_file,
                decl.source.commit,
                decl.source.date
            ));
        }
    }
    if let Some(m) = &pr.policy.aws_managed {
        s.push_str("Policy choices  (--set PRESET.policy=document|aws-managed)\n");
        let has_doc = p.default_document().is_some();
        if has_doc {
            s.push_str(&format!(
                "  document{}     customer managed policy {} from the document above\n",
                if default_kind == PolicyKind::Document {
                    " (default)"
                } else {
                    ""
                },
                pr.policy.name
            ));
        }
        s.push_str(&format!(
            "  aws-managed{}  attach {}\n",
            if default_kind == PolicyKind::AwsManaged {
                " (default)"
            } else {
                ""
            },
            m.arns
                .iter()
                .map(|a| format!("arn:<partition>:iam::aws:{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s.push_str(&format!(
            "                {} {} ({})\n",
            m.source.document, m.source.repository, m.source.date
        ));
    }
    if !pr.parameters.is_empty() {
        s.push_str("Parameters      (--set PRESET.NAME=VALUE, lists comma-separated; or presets.PRESET.parameters in irsagen.yaml)\n");
        for (name, d) in &pr.parameters {
            s.push_str(&format!(
                "  {name}  {} of {}, {}, e.g. {}\n      {}\n",
                d.kind.as_str(),
                d.format.as_str(),
                if d.required { "required" } else { "optional" },
                d.example,
                d.about
            ));
            for n in pr.policy.narrow.iter().filter(|n| n.parameter == *name) {
                s.push_str(&format!("      narrows Resource {} to {}\n", n.resource, n.to));
            }
            for x in pr.policy.extend.iter().filter(|x| x.parameter == *name) {
                s.push_str(&format!(
                    "      adds the statements of {} ({} {} {}, commit {})\n",
                    x.document_file, x.source.document, x.source.repository, x.source.path, x.source.commit
                ));
            }
        }
    }
    if let Some(a) = &pr.addon {
        s.push_str(&format!(
            "EKS addon       {} (serviceAccountRoleARN = the role)\n",
            a.name
        ));
    }
    if let Some(h) = &pr.helm {
        s.push_str(&format!(
            "Helm chart      {} {} from {} (layout {}, values template {})\n",
            h.chart,
            h.version,
            h.repository,
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
        policy: pr.policy.default.unwrap_or_default() == PolicyKind::Document,
        additional: p.additional_names.iter().map(String::as_str).collect(),
        trust_policy: true,
        service_account_created_by: pr.service_account.created_by,
        controller_patch: pr.controller_patch.as_ref().map(|c| c.name.as_str()),
        chart: pr.helm.as_ref().map(|h| h.chart.as_str()),
    };
    let mut rows: Vec<(String, K)> = files
        .artifacts()
        .into_iter()
        .map(|(path, kind)| match kind {
            // IRSA's trust names the cluster's OIDC provider; Pod Identity's needs no issuer.
            K::TrustPolicy if pr.supports(crate::identity::Mechanism::PodIdentity) => {
                (format!("{path} (IRSA: with --oidc-issuer; pod-identity: always)"), kind)
            }
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
