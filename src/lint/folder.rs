//! Where `irsagen lint` gets its documents: a folder `irsagen render --out-dir` wrote (its
//! manifest says which files are policies, for which preset, and the account and partition), a
//! fleet folder of such folders (`render --all`), or policy files named on the command line.
//!
//! Bad input (no such folder, no manifest, a listed file missing, a file that is not JSON) is an
//! error (exit 2), never a finding: lint cannot say anything true about a document it cannot read.

use super::narrow::Narrowing;
use super::{Context, Document, Finding, Input, Kind, Severity};
use crate::bundle::layout;
use crate::emit::{LockWait, lock, manifest};
use crate::error::{Error, Result};
use crate::safe_fs::{self, Contents};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest policy document read (IAM's limits are a few KB; the manifest's own limit is larger).
const DOC_LIMIT: u64 = 1 << 20;
/// Largest manifest read (as the manifest module allows).
const MANIFEST_LIMIT: u64 = 4 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDisk {
    state: manifest::State,
    inputs: Recorded,
    files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    account: String,
    partition: String,
    #[serde(default)]
    presets: BTreeMap<String, RecordedPreset>,
    #[serde(default)]
    overrides: BTreeMap<String, serde_json::Value>,
}

/// What `irsagen lint` was asked to read.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// One bundle folder, or policy files; none: the current folder.
    pub paths: &'a [PathBuf],
    /// Files that are trust policies (`--trust`).
    pub trust: &'a [PathBuf],
    /// `--presets-dir` (bundle folders only).
    pub presets_dir: Option<&'a Path>,
    /// `--account` (loose files only: a bundle's manifest names its own).
    pub account: Option<&'a str>,
    /// `--partition` (loose files only).
    pub partition: Option<&'a str>,
}

/// The inputs of a request: a bundle (or fleet) folder, or loose files.
pub fn read(req: &Request<'_>) -> Result<Vec<Input>> {
    let dirs: Vec<&PathBuf> = req.paths.iter().filter(|p| p.is_dir()).collect();
    let folder = match (req.paths, dirs.as_slice()) {
        ([], _) if req.trust.is_empty() => Some(Path::new(".")),
        ([one], [_]) if req.trust.is_empty() => Some(one.as_path()),
        (_, [dir, ..]) => {
            return Err(Error::invalid(
                "DIR",
                dir.display().to_string(),
                "give one folder `irsagen render --out-dir` wrote, or policy files, not both or several folders",
            ));
        }
        _ => None,
    };
    match folder {
        Some(dir) => {
            for (flag, given) in [("--account", req.account), ("--partition", req.partition)] {
                if let Some(v) = given {
                    return Err(Error::invalid(
                        flag,
                        v,
                        "is for policy files given one by one; a folder's manifest names its own account and partition",
                    ));
                }
            }
            read_dir(dir, req.presets_dir)
        }
        None => {
            if let Some(d) = req.presets_dir {
                return Err(Error::invalid(
                    "--presets-dir",
                    d.display().to_string(),
                    "is for a rendered folder (its presets' narrowing rules); loose files name no preset",
                ));
            }
            Ok(vec![read_files(req.paths, req.trust, req.account, req.partition)?])
        }
    }
}

/// A preset's resolved values in the manifest: its ServiceAccount (only used in messages, so a
/// manifest without it is still linted).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordedPreset {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
}

/// The inputs of `dir`: one for a bundle folder, one per cluster for a fleet folder.
/// `presets_dir`: where presets other than the built-in ones were rendered from.
pub fn read_dir(dir: &Path, presets_dir: Option<&Path>) -> Result<Vec<Input>> {
    let not_a_bundle = |rule: String| Error::invalid("DIR", dir.display().to_string(), rule);
    match safe_fs::kind(dir).map_err(|source| io("cannot read", dir, source))? {
        Some(safe_fs::Kind::Dir) => {}
        None => {
            return Err(not_a_bundle(
                "does not exist; give a folder `irsagen render --out-dir` wrote, or policy files".into(),
            ));
        }
        Some(_) => {
            return Err(not_a_bundle(
                "is not a folder; give a folder `irsagen render --out-dir` wrote, or policy files (a file is linted as one)".into(),
            ));
        }
    }
    if safe_fs::kind(&dir.join(manifest::NAME)).map_err(|s| io("cannot read", dir, s))? == Some(safe_fs::Kind::File) {
        return Ok(vec![read_bundle(dir, "", presets_dir)?]);
    }
    let clusters = crate::reviewed::fleet_folders(dir).map_err(|_| {
        not_a_bundle(format!(
            "has no {} (nor sub-folders with one), so it is not a folder `irsagen render --out-dir` wrote; render it first, or give policy files",
            manifest::NAME
        ))
    })?;
    clusters
        .iter()
        .map(|c| read_bundle(&dir.join(c), &format!("{c}/"), presets_dir))
        .collect()
}

/// One bundle folder; `prefix` goes before each file name in findings (`<cluster>/` in a fleet).
fn read_bundle(dir: &Path, prefix: &str, presets_dir: Option<&Path>) -> Result<Input> {
    // A render writing into the folder is waited for, never read half-way (as `render --check`).
    let _lock = lock::acquire(dir, lock::Mode::Shared, LockWait::default())?;
    let path = dir.join(manifest::NAME);
    let bytes = match safe_fs::read_regular(&path, MANIFEST_LIMIT) {
        Ok(Contents::File(b)) => b,
        Ok(_) => {
            return Err(Error::invalid(
                "DIR",
                dir.display().to_string(),
                format!("its {} is not a regular file", manifest::NAME),
            ));
        }
        Err(e) => return Err(io("cannot read", &path, e)),
    };
    let disk: OnDisk = serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        path: path.display().to_string(),
        message: format!("is not an irsagen manifest ({e}); render the folder again"),
    })?;
    let mut notes = Vec::new();
    if disk.state != manifest::State::Complete {
        notes.push(Finding {
            file: format!("{prefix}{}", manifest::NAME),
            statement: None,
            rule: "bundle-incomplete",
            severity: Severity::Warning,
            sid: None,
            message: "a write into this folder was cut short (the manifest says `writing`): the files may mix two renders; run the render again".into(),
        });
    }
    let mut docs = Vec::new();
    for rel in disk.files.keys() {
        let Some((preset, kind)) = policy_file(rel) else {
            continue;
        };
        let bad = |rule: String| Error::invalid("DIR", dir.display().to_string(), rule);
        // The manifest module drops unsafe paths when it reads; lint reads only plain ones too,
        // through real folders only (a symlinked `iam/x` could point anywhere).
        if let Some(rule) = safe_fs::plain_relative_path(rel) {
            return Err(bad(format!(
                "its manifest lists `{rel}`, which {rule}; render the folder again"
            )));
        }
        let read = match safe_fs::folders_are_real(dir, rel) {
            Ok(true) => read_json(&dir.join(rel)),
            Ok(false) => Err(Missing),
            Err(e) => Err(Failed(bad(format!("cannot read `{rel}`: {e}")))),
        };
        let doc = read.map_err(|e| match e {
            Missing => bad(format!(
                "its manifest lists `{rel}` but the file is missing; render the folder again"
            )),
            Failed(e) => e,
        })?;
        docs.push(Document {
            file: format!("{prefix}{rel}"),
            kind,
            doc,
            preset: Some(preset.to_string()),
        });
    }
    let mut ctx = Context {
        account: Some(disk.inputs.account),
        partition: Some(disk.inputs.partition),
        ..Context::default()
    };
    for (preset, p) in &disk.inputs.presets {
        if let (Some(ns), Some(sa)) = (&p.namespace, &p.service_account) {
            ctx.subjects
                .insert(preset.clone(), format!("system:serviceaccount:{ns}:{sa}"));
        }
    }
    for (preset, o) in &disk.inputs.overrides {
        if o.get("podIdentityTrust").and_then(serde_json::Value::as_str) == Some("unscoped") {
            ctx.unscoped_pod_identity.insert(preset.clone());
        }
    }
    // Narrowing rules apply to permission policies; one lookup per preset that has one.
    let mut looked_up = std::collections::BTreeSet::new();
    for d in docs.iter().filter(|d| d.kind == Kind::Permission) {
        let Some(p) = &d.preset else { continue };
        if !looked_up.insert(p.clone()) {
            continue;
        }
        match narrowing(p, presets_dir)? {
            Some(n) => {
                ctx.narrowing.insert(p.clone(), n);
            }
            None => notes.push(Finding {
                file: d.file.clone(),
                statement: None,
                rule: "preset-unknown",
                severity: Severity::Info,
                sid: None,
                message: format!(
                    "preset `{p}` is not built in and not in --presets-dir, so its narrowing rules were not checked; pass the --presets-dir it was rendered with"
                ),
            }),
        }
    }
    Ok(Input { docs, ctx, notes })
}

/// `(preset, kind)` of a bundle path `iam/<preset>/policy.json` or `iam/<preset>/trust-policy.json`.
fn policy_file(rel: &str) -> Option<(&str, Kind)> {
    let rest = rel.strip_prefix("iam/")?;
    let (preset, file) = rest.split_once('/')?;
    let kind = match file {
        "policy.json" => Kind::Permission,
        "trust-policy.json" => Kind::Trust,
        // A further customer managed policy (`policy.additional`).
        f if f.starts_with("policy-") && f.ends_with(".json") && f.len() > "policy-.json".len() => {
            debug_assert_eq!(
                rel,
                layout::additional_policy(preset, layout::additional_policy_key(rel))
            );
            return Some((preset, Kind::Permission));
        }
        _ => return None,
    };
    debug_assert_eq!(
        rel,
        match kind {
            Kind::Permission => layout::policy(preset),
            Kind::Trust => layout::trust_policy(preset),
        }
    );
    Some((preset, kind))
}

/// The narrowing rules of preset `name`: its file in `presets_dir` (which replaces a built-in
/// one of the same name, as for render), else the built-in one; `None` when neither exists.
fn narrowing(name: &str, presets_dir: Option<&Path>) -> Result<Option<Narrowing>> {
    if let Some(dir) = presets_dir {
        let path = dir.join(format!("{name}.yaml"));
        match safe_fs::read_regular(&path, DOC_LIMIT) {
            Ok(Contents::File(bytes)) => {
                let origin = path.display().to_string();
                let text = String::from_utf8(bytes).map_err(|_| Error::Parse {
                    path: origin.clone(),
                    message: "is not UTF-8".into(),
                })?;
                return Narrowing::from_preset_yaml(&origin, &text).map(Some);
            }
            Ok(_) => {}
            Err(e) => return Err(io("cannot read", &path, e)),
        }
    }
    match crate::preset::embedded_text(name) {
        Some(text) => Narrowing::from_preset_yaml(&format!("presets/{name}.yaml"), text).map(Some),
        None => Ok(None),
    }
}

/// The loose files of the command line: each a policy document, `trust` ones trust policies,
/// the others told by their content. `account`/`partition`: what trust principals must name.
pub fn read_files(
    files: &[PathBuf],
    trust: &[PathBuf],
    account: Option<&str>,
    partition: Option<&str>,
) -> Result<Input> {
    if let Some(a) = account {
        crate::rules::account_id("--account", a)?;
    }
    if let Some(p) = partition {
        crate::partition::Partition::parse("--partition", p)?;
    }
    let mut docs = Vec::new();
    for (path, forced) in files.iter().map(|f| (f, false)).chain(trust.iter().map(|f| (f, true))) {
        let name = path.display().to_string();
        let doc = read_json_followed(path).map_err(|e| match e {
            Missing => Error::invalid("FILE", &name, "does not exist"),
            Failed(e) => e,
        })?;
        let kind = if forced { Kind::Trust } else { Kind::detect(&doc) };
        docs.push(Document {
            file: name,
            kind,
            doc,
            preset: None,
        });
    }
    Ok(Input {
        docs,
        ctx: Context {
            account: account.map(str::to_string),
            partition: partition.map(str::to_string),
            expected: "the given",
            ..Context::default()
        },
        notes: Vec::new(),
    })
}

enum ReadError {
    Missing,
    Failed(Error),
}
use ReadError::{Failed, Missing};

/// A regular file inside a bundle (no symlink followed), parsed as JSON.
fn read_json(path: &Path) -> std::result::Result<serde_json::Value, ReadError> {
    let name = path.display().to_string();
    match safe_fs::read_regular(path, DOC_LIMIT) {
        Ok(Contents::File(bytes)) => parse(&bytes, &name),
        Ok(Contents::Missing) => Err(Missing),
        Ok(Contents::NotRegular(what)) => Err(Failed(Error::invalid(
            "DIR",
            name,
            format!("is a {what}, not a regular file; irsagen reads only regular files inside an output folder"),
        ))),
        Err(e) => Err(Failed(io("cannot read", path, e))),
    }
}

/// A file named on the command line (a symlink there is the user's own choice and followed),
/// parsed as JSON. Only a regular file is opened, so a FIFO cannot hang the run.
fn read_json_followed(path: &Path) -> std::result::Result<serde_json::Value, ReadError> {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Missing),
        Err(e) => return Err(Failed(io("cannot read", path, e))),
    };
    if !meta.is_file() {
        return Err(Failed(Error::invalid(
            "FILE",
            &name,
            "is not a regular file; give policy JSON files, or one folder `irsagen render --out-dir` wrote",
        )));
    }
    if meta.len() > DOC_LIMIT {
        return Err(Failed(Error::invalid(
            "FILE",
            &name,
            format!("is larger than {DOC_LIMIT} bytes; IAM policy documents are a few KB"),
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Failed(io("cannot read", path, e)))?;
    parse(&bytes, &name)
}

fn parse(bytes: &[u8], name: &str) -> std::result::Result<serde_json::Value, ReadError> {
    serde_json::from_slice(bytes).map_err(|e| {
        Failed(Error::Parse {
            path: name.to_string(),
            message: format!("is not JSON: {e}"),
        })
    })
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle folder holding one trust policy for `preset`, its manifest in `state`.
    fn bundle(dir: &Path, preset: &str, state: &str) {
        std::fs::create_dir_all(dir.join(format!("iam/{preset}"))).unwrap();
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        std::fs::write(dir.join(layout::trust_policy(preset)), trust).unwrap();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVolumes","Resource":"*"}]}"#;
        std::fs::write(dir.join(layout::policy(preset)), policy).unwrap();
        let manifest = serde_json::json!({
            "state": state,
            "inputs": {"account": "123456789012", "partition": "aws",
                       "presets": {preset: {"namespace": "kube-system", "serviceAccount": "sa"}},
                       "overrides": {preset: {"podIdentityTrust": "unscoped"}}},
            "files": {layout::policy(preset): "sha256:x", layout::trust_policy(preset): "sha256:x", "README.md": "sha256:x"}
        });
        std::fs::write(dir.join(manifest::NAME), manifest.to_string()).unwrap();
    }

    fn rules(input: &Input) -> Vec<(&'static str, Severity, &str)> {
        input
            .notes
            .iter()
            .map(|f| (f.rule, f.severity, f.file.as_str()))
            .collect()
    }

    #[test]
    fn a_complete_bundle_of_a_known_preset_has_no_notes_and_its_context() {
        let t = tempfile::tempdir().unwrap();
        bundle(t.path(), "ebs-csi-driver", "complete");
        let inputs = read_dir(t.path(), None).unwrap();
        assert_eq!(inputs.len(), 1);
        let input = &inputs[0];
        assert_eq!(rules(input), []);
        let kinds: Vec<(Kind, Option<&str>)> = input.docs.iter().map(|d| (d.kind, d.preset.as_deref())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Permission, Some("ebs-csi-driver")),
                (Kind::Trust, Some("ebs-csi-driver"))
            ]
        );
        assert_eq!(input.ctx.narrowing.keys().collect::<Vec<_>>(), ["ebs-csi-driver"]);
        assert_eq!(input.ctx.account.as_deref(), Some("123456789012"));
        assert_eq!(input.ctx.partition.as_deref(), Some("aws"));
        assert!(input.ctx.unscoped_pod_identity.contains("ebs-csi-driver"));
        assert_eq!(input.ctx.expected, "the bundle's");
        assert_eq!(
            input.ctx.subjects["ebs-csi-driver"],
            "system:serviceaccount:kube-system:sa"
        );
    }

    #[test]
    fn a_write_cut_short_is_noted() {
        let t = tempfile::tempdir().unwrap();
        bundle(t.path(), "ebs-csi-driver", "writing");
        let inputs = read_dir(t.path(), None).unwrap();
        assert_eq!(
            rules(&inputs[0]),
            [("bundle-incomplete", Severity::Warning, manifest::NAME)]
        );
    }

    #[test]
    fn an_unknown_preset_is_noted_and_prefixed_in_a_fleet() {
        let t = tempfile::tempdir().unwrap();
        bundle(&t.path().join("blue"), "my-own", "complete");
        let inputs = read_dir(t.path(), None).unwrap();
        assert_eq!(
            rules(&inputs[0]),
            [("preset-unknown", Severity::Info, "blue/iam/my-own/policy.json")]
        );
        assert_eq!(inputs[0].docs[1].file, "blue/iam/my-own/trust-policy.json");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_folder_or_file_in_a_bundle_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        bundle(elsewhere.path(), "x", "complete");
        bundle(t.path(), "x", "complete");
        std::fs::remove_dir_all(t.path().join("iam/x")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("iam/x"), t.path().join("iam/x")).unwrap();
        let e = read_dir(t.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("cannot read `iam/x/policy.json`") && e.contains("symlink"),
            "{e}"
        );
        std::fs::remove_file(t.path().join("iam/x")).unwrap();
        std::fs::create_dir(t.path().join("iam/x")).unwrap();
        std::fs::copy(
            elsewhere.path().join("iam/x/policy.json"),
            t.path().join("iam/x/policy.json"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path().join("iam/x/trust-policy.json"),
            t.path().join("iam/x/trust-policy.json"),
        )
        .unwrap();
        let e = read_dir(t.path(), None).unwrap_err().to_string();
        assert!(e.contains("is a symlink, not a regular file"), "{e}");
        std::fs::remove_file(t.path().join("iam/x/trust-policy.json")).unwrap();
        let e = read_dir(t.path(), None).unwrap_err().to_string();
        assert!(e.contains("but the file is missing"), "{e}");
    }

    #[test]
    fn policy_files_are_told_by_the_bundle_layout() {
        assert_eq!(policy_file("iam/x/policy.json"), Some(("x", Kind::Permission)));
        assert_eq!(policy_file("iam/x/trust-policy.json"), Some(("x", Kind::Trust)));
        assert_eq!(policy_file("iam/x/policy-Second.json"), Some(("x", Kind::Permission)));
        for other in [
            "iam/x/other.json",
            "iam/x/policy-.json",
            "README.md",
            "iam/policy.json",
            "helm/x-values.yaml",
        ] {
            assert_eq!(policy_file(other), None, "{other}");
        }
    }

    #[test]
    fn built_in_presets_have_narrowing_entries_and_unknown_ones_none() {
        assert_eq!(narrowing("efs-csi-driver", None).unwrap(), Some(Narrowing::default()));
        // EBS's kmsKeyArns adds statements (`extend`) and narrows nothing.
        assert!(narrowing("ebs-csi-driver", None).unwrap().unwrap().rules.is_empty());
        assert_eq!(narrowing("no-such-preset", None).unwrap(), None);
    }

    #[test]
    fn a_presets_dir_file_replaces_the_built_in_one() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("ebs-csi-driver.yaml"),
            "parameters: {kmsKeyArns: {type: list}}\npolicy: {narrow: [{parameter: kmsKeyArns, resource: '*', to: 'arn:aws:kms:*:*:key/{kmsKeyArns}'}]}\n",
        )
        .unwrap();
        let n = narrowing("ebs-csi-driver", Some(t.path())).unwrap().unwrap();
        assert_eq!(n.rules.len(), 1);
        // Others still come from the built-in files.
        assert_eq!(
            narrowing("efs-csi-driver", Some(t.path())).unwrap(),
            Some(Narrowing::default())
        );
    }
}
