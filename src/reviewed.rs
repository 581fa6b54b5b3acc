//! `apply --from DIR` and `verify --from DIR`: act on exactly the files that were reviewed.
//!
//! The folder's manifest records the render's inputs and the irsagen version that wrote it.
//! Rendering those inputs again must give the folder byte for byte (renders are deterministic);
//! then the bundle in memory *is* the reviewed files, and apply sends it. Anything else (a hand
//! edit, another irsagen version, a write cut short, a file left unpruned) is refused with the
//! difference, before any call to AWS or the cluster.

use crate::bundle::Bundle;
use crate::context::{ClusterInputs, Context};
use crate::emit::{self, LockWait, lock, manifest};
use crate::error::{Error, Result, quote};
use crate::overrides::PresetOverrides;
use crate::render::{Renderer, Selection};
use crate::safe_fs::{self, Contents};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest manifest read (as [`manifest`] itself allows).
const READ_LIMIT: u64 = 4 << 20;

/// The version field alone: read first, so a manifest of another version that no longer
/// parses still gets the version message.
#[derive(Deserialize)]
struct Header {
    irsagen: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDisk {
    state: manifest::State,
    inputs: Recorded,
}

/// The manifest's `inputs` (its resolved per-preset values are for humans and not read).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    cluster: String,
    region: String,
    account: String,
    partition: String,
    #[serde(default)]
    oidc_issuer: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    kubernetes_version: Option<String>,
    #[serde(default)]
    overrides: Option<BTreeMap<String, PresetOverrides>>,
    #[serde(default)]
    format: crate::ack::Format,
}

/// Renders `dir` again from its manifest and returns the bundle when the folder is exactly that
/// render; else [`Error::NotAsReviewed`] (exit 2) saying why, with the unified diff. `action`
/// (`apply`, `verify`) goes into the message. Holds the folder's shared lock while reading, so a
/// render writing into it is waited for, never read half-way.
pub fn load(renderer: &Renderer, dir: &Path, action: &'static str, wait: LockWait<'_>) -> Result<Bundle> {
    let refuse = |reason: String, diff: String| Error::NotAsReviewed {
        action,
        dir: dir.display().to_string(),
        reason,
        diff,
    };
    let no_manifest = || {
        refuse(
            format!(
                "it has no {}, so it is not a folder `irsagen render --out-dir` wrote; render it first and review it",
                manifest::NAME
            ),
            String::new(),
        )
    };
    let io = |source| Error::Io {
        action: "cannot read",
        path: dir.to_path_buf(),
        source,
    };
    if safe_fs::kind(dir).map_err(io)? != Some(safe_fs::Kind::Dir) {
        return Err(no_manifest());
    }
    let _lock = lock::acquire(dir, lock::Mode::Shared, wait)?;
    let bytes = match safe_fs::read_regular(&dir.join(manifest::NAME), READ_LIMIT) {
        Ok(Contents::File(b)) => b,
        Ok(_) => return Err(no_manifest()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(no_manifest()),
        Err(e) => return Err(io(e)),
    };
    let bad = |e: String| {
        refuse(
            format!("its {} {e}; render the folder again", manifest::NAME),
            String::new(),
        )
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| bad(format!("does not parse: {e}")))?;
    let ours = env!("CARGO_PKG_VERSION");
    let other_version = (header.irsagen != ours).then(|| {
        format!(
            "it was rendered by irsagen {} and this is irsagen {ours}; render it again with this version and review the difference, or {action} it with irsagen {}",
            quote(&header.irsagen),
            quote(&header.irsagen)
        )
    });
    // From here on a failure of another version's folder is reported as the version mismatch.
    let or_version = |e: Error| match &other_version {
        Some(reason) => refuse(reason.clone(), String::new()),
        None => e,
    };
    let disk: OnDisk = serde_json::from_slice(&bytes)
        .map_err(|e| or_version(bad(format!("does not hold what irsagen {ours} records: {e}"))))?;
    if disk.state != manifest::State::Complete {
        return Err(refuse(
            "a write into it was cut short (its manifest says `writing`); run the same render again and review the result".into(),
            String::new(),
        ));
    }
    let r = disk.inputs;
    if r.format == crate::ack::Format::Ack {
        return Err(refuse(
            format!(
                "it was rendered with `--format ack`: its roles, policies and associations are ACK resources, which the ACK controllers apply (`kubectl apply -f {}/ack/ --recursive`, or GitOps); `{action} --from` takes folders of the default format",
                dir.display()
            ),
            String::new(),
        ));
    }
    let Some(overrides) = r.overrides else {
        return Err(or_version(refuse(
            "its manifest does not record the render's overrides (it was written before `--from` existed); render it again with this version and review the result".into(),
            String::new(),
        )));
    };
    let inputs = ClusterInputs {
        cluster: Some(r.cluster),
        region: Some(r.region),
        account: Some(r.account),
        partition: Some(r.partition),
        oidc_issuer: r.oidc_issuer,
        tags: r.tags,
        kubernetes_version: r.kubernetes_version,
    };
    let selection: Selection = overrides.into_iter().collect();
    let bundle = Context::new(&inputs)
        .and_then(|ctx| renderer.render(&ctx, &selection))
        .map_err(|e| {
            or_version(refuse(
                format!("the inputs its manifest records do not render: {e}"),
                String::new(),
            ))
        })?;
    let cmp = emit::compare(&bundle, dir)?;
    if let Some(reason) = other_version {
        return Err(refuse(reason, emit::diff(&bundle, dir, &cmp)?));
    }
    let n = cmp.differences();
    if n > 0 {
        return Err(refuse(
            format!(
                "{n} file(s) differ from what irsagen {ours} renders from the inputs its manifest records (edited by hand, or not pruned); the difference is shown above. Render the folder again (`irsagen render … --out-dir DIR`, with --prune for extra files), review it, then {action}"
            ),
            emit::diff(&bundle, dir, &cmp)?,
        ));
    }
    Ok(bundle)
}

/// The cluster folders of a fleet folder: real sub-folders of `dir` that hold a manifest,
/// sorted by name. Symlinked sub-folders are skipped (nothing inside an output folder is followed).
pub fn fleet_folders(dir: &Path) -> Result<Vec<String>> {
    let entries = safe_fs::list_dir(dir).map_err(|source| Error::Io {
        action: "cannot read directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (name, kind) in entries {
        if kind != safe_fs::Kind::Dir {
            continue;
        }
        let m = dir.join(&name).join(manifest::NAME);
        if safe_fs::kind(&m).ok().flatten() == Some(safe_fs::Kind::File) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(Error::NotAsReviewed {
            action: "use",
            dir: dir.display().to_string(),
            reason: format!(
                "--all --from needs a fleet folder (`irsagen render --all --out-dir DIR`): no sub-folder of it holds a {}",
                manifest::NAME
            ),
            diff: String::new(),
        });
    }
    Ok(out)
}
