//! `.irsagen-manifest.json`: the record of what irsagen wrote into an output folder. `--prune`
//! removes only files it lists, `--check` compares it too (so a folder whose write was cut short
//! is never "up to date"), and `apply --from` can later re-render from its `inputs`.
//!
//! Deterministic on purpose (sorted keys, no timestamps, no absolute paths): the manifest is
//! checked into git with the rendered files, and `--check` must stay clean on an unchanged render.

use crate::bundle::Bundle;
use crate::component::{Component, MANAGED_BY_KEY, TAG_PREFIX};
use crate::overrides::{ChartLayout, SaCreator};
use crate::partition::Partition;
use crate::safe_fs::{self, Contents};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// File name of the manifest in the output folder. Hidden, so no rendered path can collide
/// with it (rendered paths never have a part starting with `.`).
pub const NAME: &str = ".irsagen-manifest.json";

/// What the `about` field says, for someone who opens the file.
const ABOUT: &str = "Written by irsagen: the files it rendered into this folder and their SHA-256. \
`irsagen render --prune` removes only files listed here; `--check` compares this file too; \
`apply --from` and `verify --from` render `inputs` again and refuse the folder unless it matches. Do not edit.";

/// Largest manifest irsagen reads back (a real one is a few KB).
const READ_LIMIT: u64 = 4 << 20;

/// Whether the write that produced the manifest finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Every file listed is in place with the listed hash.
    Complete,
    /// A write was under way: files are a mix of old and new, and the list holds both, so a later
    /// `--prune` still knows every file this or the earlier render put here.
    Writing,
}

/// The manifest, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// One sentence for humans.
    pub about: &'static str,
    /// The irsagen version that wrote the folder.
    pub irsagen: &'static str,
    /// Whether the write finished.
    pub state: State,
    /// The render's inputs in resolved form: the cluster and, per preset, every value a
    /// `--set` could change. Re-rendering with these gives the same files (same presets and
    /// templates assumed).
    pub inputs: Inputs,
    /// Every file irsagen wrote here (relative, `/`-separated) and `sha256:<hex>` of its bytes.
    pub files: BTreeMap<String, String>,
}

/// The render's inputs in resolved form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// EKS cluster name.
    pub cluster: String,
    /// AWS region.
    pub region: String,
    /// AWS account id.
    pub account: String,
    /// ARN partition.
    pub partition: Partition,
    /// OIDC issuer URL, when it was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_issuer: Option<String>,
    /// Tags for every role.
    pub tags: BTreeMap<String, String>,
    /// The cluster's Kubernetes minor version, when it was given (or found by `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Per preset, its resolved values.
    pub presets: BTreeMap<String, PresetInputs>,
    /// The output format, when not the default (`ack`).
    #[serde(skip_serializing_if = "crate::ack::Format::is_default")]
    pub format: crate::ack::Format,
    /// Per selected preset, its overrides as given (config file merged with `--set`; unset
    /// fields left out): with the values above, what `apply --from` renders the folder again from.
    pub overrides: BTreeMap<String, serde_json::Value>,
}

/// One preset's resolved values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresetInputs {
    /// ServiceAccount namespace.
    pub namespace: String,
    /// ServiceAccount name.
    pub service_account: String,
    /// Who creates the ServiceAccount.
    pub service_account_created_by: SaCreator,
    /// IAM role name.
    pub role_name: String,
    /// IAM policy name.
    pub policy_name: String,
    /// The names of the preset's further customer managed policies (`policy.additional`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_policy_names: Vec<String>,
    /// Tags given for this preset (the cluster's tags and irsagen's own not repeated).
    pub tags: BTreeMap<String, String>,
    /// Chart layout, for presets with a chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_layout: Option<ChartLayout>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Inputs {
    /// The inputs of `bundle`, read back from its context and components.
    pub fn of(bundle: &Bundle) -> Self {
        let ctx = &bundle.context;
        Inputs {
            cluster: ctx.cluster.clone(),
            region: ctx.region.clone(),
            account: ctx.account.clone(),
            partition: ctx.partition,
            oidc_issuer: ctx.oidc.as_ref().map(|o| o.issuer_url.clone()),
            tags: ctx.tags.clone(),
            kubernetes_version: ctx.kubernetes_version.clone(),
            format: bundle.format,
            overrides: bundle
                .selection
                .iter()
                .map(|(name, o)| (name.clone(), without_nulls(o)))
                .collect(),
            presets: bundle
                .components
                .iter()
                .map(|c| (c.preset.clone(), PresetInputs::of(c, &ctx.tags)))
                .collect(),
        }
    }
}

/// `o` as JSON without the fields it leaves unset: shorter, and only what the user gave.
fn without_nulls(o: &crate::overrides::PresetOverrides) -> serde_json::Value {
    let mut v = serde_json::to_value(o).expect("overrides are plain data");
    if let serde_json::Value::Object(map) = &mut v {
        map.retain(|_, v| !v.is_null());
    }
    v
}

impl PresetInputs {
    fn of(c: &Component, cluster_tags: &BTreeMap<String, String>) -> Self {
        let own = |k: &String, v: &String| {
            k != MANAGED_BY_KEY && !k.starts_with(TAG_PREFIX) && cluster_tags.get(k) != Some(v)
        };
        PresetInputs {
            namespace: c.service_account.namespace.clone(),
            service_account: c.service_account.name.clone(),
            service_account_created_by: c.service_account_created_by,
            role_name: c.role_name.clone(),
            policy_name: c.policy_name.clone(),
            additional_policy_names: c.additional_policies.iter().map(|a| a.name.clone()).collect(),
            tags: c
                .tags
                .iter()
                .filter(|(k, v)| own(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            chart_layout: c.helm.as_ref().map(|h| h.layout),
        }
    }
}

impl Manifest {
    /// The manifest of a finished write of `bundle` (and nothing else).
    pub fn complete(bundle: &Bundle) -> Self {
        Manifest {
            about: ABOUT,
            irsagen: env!("CARGO_PKG_VERSION"),
            state: State::Complete,
            inputs: Inputs::of(bundle),
            files: bundle
                .artifacts
                .iter()
                .map(|a| (a.path.clone(), digest(a.content.as_bytes())))
                .collect(),
        }
    }

    /// Pretty JSON with one final newline, parsed back before it is returned (the rule for
    /// every file irsagen writes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest is plain data");
        s.push('\n');
        let back = parse(s.as_bytes()).expect("a manifest irsagen wrote parses back");
        assert_eq!(back, self.files, "the manifest's file list survives a round trip");
        s.into_bytes()
    }
}

/// The file list of the manifest in `dir`: `None` when there is none or it is not a manifest
/// (not a regular file, not JSON, no `files` map). Entries whose path could leave the folder
/// are dropped, so nothing a hand-edited manifest says can make prune touch them.
pub fn read(dir: &Path) -> std::io::Result<Option<BTreeMap<String, String>>> {
    match safe_fs::read_regular(&dir.join(NAME), READ_LIMIT) {
        Ok(Contents::File(bytes)) => Ok(parse(&bytes)),
        Ok(Contents::Missing | Contents::NotRegular(_)) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e),
    }
}

fn parse(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct OnDisk {
        files: BTreeMap<String, String>,
    }
    let on_disk: OnDisk = serde_json::from_slice(bytes).ok()?;
    Some(
        on_disk
            .files
            .into_iter()
            .filter(|(p, _)| safe_fs::plain_relative_path(p).is_none())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn unsafe_entries_of_a_hand_edited_manifest_are_dropped() {
        let text = r#"{"files": {"ok/a.json": "x", "../up": "x", "/abs": "x", ".hidden": "x", "a//b": "x"}}"#;
        let files = parse(text.as_bytes()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["ok/a.json"]);
        assert_eq!(parse(b"not json"), None);
        assert_eq!(parse(br#"{"about": "no files"}"#), None);
    }

    #[test]
    fn a_missing_oversized_or_non_regular_manifest_reads_as_none() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read(t.path()).unwrap(), None);
        let mut big = br#"{"files": {"a": "x"}}"#.to_vec();
        std::fs::write(t.path().join(NAME), &big).unwrap();
        assert_eq!(read(t.path()).unwrap().unwrap().len(), 1);
        big.resize(READ_LIMIT as usize + 1, b' ');
        std::fs::write(t.path().join(NAME), &big).unwrap();
        assert_eq!(read(t.path()).unwrap(), None, "too large to be ours");
        std::fs::remove_file(t.path().join(NAME)).unwrap();
        std::fs::create_dir(t.path().join(NAME)).unwrap();
        assert_eq!(read(t.path()).unwrap(), None);
    }

    /// Only "not ours" reads as no manifest: any other failure to read it (here the folder is a
    /// file, ENOTDIR) is an error, so a prune never runs on a manifest it could not read.
    #[test]
    fn an_unreadable_manifest_is_an_error_not_none() {
        let t = tempfile::tempdir().unwrap();
        let not_a_dir = t.path().join("file");
        std::fs::write(&not_a_dir, "x").unwrap();
        let e = read(&not_a_dir).unwrap_err();
        assert_ne!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        assert_ne!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    }
}
