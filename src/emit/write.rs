//! Writing a bundle into a folder, in an order that a kill at any moment cannot turn into a
//! folder that `--check` calls up to date:
//!
//! 1. lock the folder; remove temp files that killed runs left (our name pattern only);
//! 2. stage every changed file as a temp file with an unpredictable name, created exclusively
//!    (`O_EXCL`) in its target folder; a failure here changes nothing;
//! 3. write the manifest in state `writing`, listing old and new files (so prune still knows
//!    them all);
//! 4. rename the temp files into place (rename(2) replaces a symlink at the final name, never
//!    follows it), prune, and write the final manifest last.

use super::lock::{self, LockWait};
use super::manifest::{self, Manifest, State};
use super::{Comparison, check_paths, compare_files, io, state_of};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::safe_fs::{self, Kind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tempfile::NamedTempFile;

/// Prefix of every temp file irsagen creates; stale ones with it are removed on the next write.
pub const TEMP_PREFIX: &str = ".irsagen-tmp-";
/// Suffix of the fixed temp names older irsagen versions used (`.<name>.irsagen-tmp`).
const LEGACY_TEMP_SUFFIX: &str = ".irsagen-tmp";

/// What [`write()`] should do besides writing.
#[derive(Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    /// Remove extra files (see [`super::Comparison::extra`]).
    pub prune: bool,
    /// How to wait for another render writing into the same folder.
    pub wait: LockWait<'a>,
}

/// What [`write()`] did. Paths are relative to the folder; the manifest counts as a file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or replaced.
    pub written: Vec<String>,
    /// Files already up to date (left untouched).
    pub unchanged: Vec<String>,
    /// Files an earlier render wrote that this one no longer produces, left in place.
    pub extra: Vec<String>,
    /// Extra files removed because of `--prune`.
    pub pruned: Vec<String>,
    /// Temp files of earlier, killed runs that were removed.
    pub stale_temps: Vec<String>,
}

fn is_our_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) || (name.starts_with('.') && name.ends_with(LEGACY_TEMP_SUFFIX))
}

/// Removes regular files named like our temp files in `folders` (relative, `""` = the root).
/// Only folders this render writes into: a sub-folder with another cluster's bundle may be in
/// the middle of its own write.
fn remove_stale_temps(dir: &Path, folders: &BTreeSet<String>) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for folder in folders {
        let path = if folder.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(folder)
        };
        // `folder/x`: Ok(true) when every part of `folder` exists as a real directory.
        if !folder.is_empty() && !matches!(safe_fs::folders_are_real(dir, &format!("{folder}/x")), Ok(true)) {
            continue;
        }
        for (name, kind) in safe_fs::list_dir(&path).map_err(io("cannot read directory", &path))? {
            if kind == Kind::File && is_our_temp(&name) {
                let rel = if folder.is_empty() {
                    name
                } else {
                    format!("{folder}/{name}")
                };
                let p = dir.join(&rel);
                std::fs::remove_file(&p).map_err(io("cannot remove stale temp file", &p))?;
                removed.push(rel);
            }
        }
    }
    Ok(removed)
}

fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

/// A new temp file in the folder of `rel`, holding `bytes`, executable for `*.sh`.
fn stage(dir: &Path, rel: &str, bytes: &[u8]) -> Result<NamedTempFile> {
    use std::io::Write;
    let folder = dir.join(parent_of(rel));
    safe_fs::create_folders(dir, rel).map_err(io("cannot create folder for", &dir.join(rel)))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // 0666 minus the umask, as any new file; scripts get exactly 0755 as before.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(&folder)
        .map_err(io("cannot create a temp file in", &folder))?;
    tmp.write_all(bytes).map_err(io("cannot write", tmp.path()))?;
    #[cfg(unix)]
    if rel.ends_with(".sh") {
        use std::os::unix::fs::PermissionsExt;
        // On the open handle: a path could have been swapped for a symlink meanwhile.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot chmod", tmp.path()))?;
    }
    Ok(tmp)
}

/// The message of any failure once files started moving into place.
const PARTLY: &str = "the output folder is partly updated and `--check` reports it stale; run the same render again to finish. Failed: cannot move into place";

fn put_in_place(tmp: NamedTempFile, dir: &Path, rel: &str) -> Result<()> {
    let target = dir.join(rel);
    tmp.persist(&target).map_err(|e| Error::Io {
        action: PARTLY,
        path: target,
        source: e.error,
    })?;
    Ok(())
}

/// A test-only pause after the first file is in place (debug builds only), so a test can kill
/// or race a render mid-write deterministically: waits until the file the variable names exists.
#[cfg(debug_assertions)]
fn test_pause() {
    if let Some(go) = std::env::var_os("IRSAGEN_TEST_PAUSE_MID_WRITE") {
        eprintln!("irsagen-test: paused mid-write");
        let start = std::time::Instant::now();
        while !Path::new(&go).exists() && start.elapsed() < std::time::Duration::from_secs(120) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(not(debug_assertions))]
fn test_pause() {}

/// Removes `rel` (an extra file) and the folders its removal emptied, up to the output folder.
fn prune_one(dir: &Path, rel: &str) -> Result<()> {
    let path = dir.join(rel);
    std::fs::remove_file(&path).map_err(|source| Error::Io {
        action: "the output folder is partly updated; run the same render again to finish. Failed: cannot remove",
        path: path.clone(),
        source,
    })?;
    let mut folder = parent_of(rel);
    while !folder.is_empty() && std::fs::remove_dir(dir.join(folder)).is_ok() {
        folder = parent_of(folder);
    }
    Ok(())
}

/// Writes the bundle into `dir` (see the module comment for the order). Files whose bytes are
/// already right are not touched; extras are removed only with `prune`.
pub fn write(bundle: &Bundle, dir: &Path, opts: &WriteOptions<'_>) -> Result<WriteReport> {
    check_paths(bundle)?;
    std::fs::create_dir_all(dir).map_err(io("cannot create directory", dir))?;
    let _lock = lock::acquire(dir, lock::Mode::Exclusive, opts.wait)?;

    let mut folders: BTreeSet<String> = BTreeSet::from([String::new()]);
    folders.extend(bundle.artifacts.iter().map(|a| parent_of(&a.path).to_string()));
    let stale_temps = remove_stale_temps(dir, &folders)?;

    let listed = manifest::read(dir).map_err(io("cannot read", dir))?;
    let cmp: Comparison = compare_files(bundle, dir, listed.as_ref())?;
    let to_write: Vec<&String> = cmp.changed.iter().chain(&cmp.missing).collect();
    // Refuse before anything changes: a symlinked folder or a folder where a file goes.
    for rel in &to_write {
        safe_fs::folders_are_real(dir, rel).map_err(io("refusing to write", &dir.join(rel)))?;
        if safe_fs::kind(&dir.join(rel)).map_err(io("cannot read", &dir.join(rel)))? == Some(Kind::Dir) {
            return Err(Error::Io {
                action: "refusing to write",
                path: dir.join(rel),
                source: std::io::Error::other("a folder is where irsagen writes this file; remove it"),
            });
        }
    }

    let mut staged = Vec::with_capacity(to_write.len());
    for rel in &to_write {
        let content = bundle.get(rel).map(|a| a.content.as_bytes()).unwrap_or_default();
        // On error the staged temp files are dropped, which deletes them: nothing changed.
        staged.push((rel.as_str(), stage(dir, rel, content)?));
    }

    let complete = Manifest::complete(bundle);
    let pruned: Vec<String> = if opts.prune { cmp.extra.clone() } else { Vec::new() };
    let kept: Vec<String> = if opts.prune { Vec::new() } else { cmp.extra.clone() };
    let old = listed.unwrap_or_default();
    // The final manifest still lists extras left in place: they are irsagen's, and a later
    // `--prune` must find them.
    let mut last = complete.clone();
    for rel in &kept {
        last.files
            .insert(rel.clone(), old.get(rel).cloned().unwrap_or_default());
    }
    let last_bytes = last.to_bytes();
    let manifest_state = state_of(dir, manifest::NAME, &last_bytes)?;
    let manifest_same = matches!(manifest_state, super::State::Same);

    let mut report = WriteReport {
        written: to_write.iter().map(|s| s.to_string()).collect(),
        unchanged: cmp.unchanged.clone(),
        extra: kept,
        pruned: pruned.clone(),
        stale_temps,
    };
    if !staged.is_empty() || !pruned.is_empty() {
        let mut writing = complete.clone();
        writing.state = State::Writing;
        let all: BTreeMap<String, String> = old.into_iter().chain(complete.files.clone()).collect();
        writing.files = all;
        put_in_place(stage(dir, manifest::NAME, &writing.to_bytes())?, dir, manifest::NAME)?;
    }
    let mut first = true;
    for (rel, tmp) in staged {
        put_in_place(tmp, dir, rel)?;
        if first {
            first = false;
            test_pause();
        }
    }
    for rel in &pruned {
        prune_one(dir, rel)?;
    }
    if manifest_same && report.written.is_empty() && pruned.is_empty() {
        report.unchanged.push(manifest::NAME.to_string());
    } else {
        put_in_place(stage(dir, manifest::NAME, &last_bytes)?, dir, manifest::NAME)?;
        report.written.push(manifest::NAME.to_string());
    }
    for list in [&mut report.written, &mut report.unchanged] {
        list.sort();
    }
    Ok(report)
}
