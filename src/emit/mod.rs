//! Getting a bundle out: to stdout, into a folder ([`write()`]), or compared with a folder
//! (`--check`, [`check()`]) with a unified diff per file.
//!
//! The output folder may be shared with the user's own files and with other clusters' bundles,
//! so irsagen owns only what its [`manifest`] lists: nothing else is ever reported as extra,
//! pruned, followed (symlinks) or opened (FIFOs, devices). See [`crate::safe_fs`].

pub mod lock;
pub mod manifest;
mod write;

pub use lock::{DEFAULT_WAIT, LockWait};
pub use write::{WriteOptions, WriteReport, write};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::safe_fs::{self, Contents};
use manifest::Manifest;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest file irsagen reads from the output folder to compare or diff it.
const READ_LIMIT: u64 = 16 << 20;

/// How a folder differs from a bundle. Paths are relative and `/`-separated; the manifest
/// ([`manifest::NAME`]) is compared like a rendered file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// In both, with other contents (or not a regular file in the folder).
    pub changed: Vec<String>,
    /// In the bundle, not in the folder.
    pub missing: Vec<String>,
    /// Written by an earlier render (listed in the folder's manifest), no longer rendered, and
    /// still in the folder. Files the manifest does not list are never extra.
    pub extra: Vec<String>,
    /// In both, identical.
    pub unchanged: Vec<String>,
}

impl Comparison {
    /// Number of files that differ.
    pub fn differences(&self) -> usize {
        self.changed.len() + self.missing.len() + self.extra.len()
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a bundle with a path that could leave the folder or hit irsagen's own files:
/// the layout never produces one, but a preset or template from a user folder feeds it.
fn check_paths(bundle: &Bundle) -> Result<()> {
    for a in &bundle.artifacts {
        if let Some(rule) = safe_fs::plain_relative_path(&a.path) {
            return Err(Error::RenderedInvalid {
                path: a.path.clone(),
                message: format!("its path {rule}; every rendered path must stay inside the output folder"),
            });
        }
    }
    Ok(())
}

/// Where a file stands against the bytes it should have.
enum State {
    Missing,
    Same,
    Differs,
}

fn state_of(dir: &Path, rel: &str, want: &[u8]) -> Result<State> {
    let path = dir.join(rel);
    // A symlinked folder on the way is "differs": a write refuses it with a message, and a
    // check must not call the folder up to date.
    match safe_fs::folders_are_real(dir, rel) {
        Ok(true) => {}
        Ok(false) => return Ok(State::Missing),
        Err(_) => return Ok(State::Differs),
    }
    match safe_fs::read_regular(&path, READ_LIMIT) {
        Ok(Contents::Missing) => Ok(State::Missing),
        Ok(Contents::File(bytes)) if bytes == want => Ok(State::Same),
        Ok(Contents::File(_) | Contents::NotRegular(_)) => Ok(State::Differs),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(State::Differs),
        Err(e) => Err(io("cannot read", &path)(e)),
    }
}

fn sort_into(cmp: &mut Comparison, rel: &str, state: State) {
    match state {
        State::Missing => cmp.missing.push(rel.to_string()),
        State::Same => cmp.unchanged.push(rel.to_string()),
        State::Differs => cmp.changed.push(rel.to_string()),
    }
}

/// Files listed in `listed` (an earlier manifest) that the bundle no longer renders and that are
/// still regular files reached through real folders. Anything else is not irsagen's to touch.
fn extras(bundle: &Bundle, dir: &Path, listed: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for rel in listed.keys() {
        if bundle.get(rel).is_some() || !matches!(safe_fs::folders_are_real(dir, rel), Ok(true)) {
            continue;
        }
        let path = dir.join(rel);
        if safe_fs::kind(&path).map_err(io("cannot read", &path))? == Some(safe_fs::Kind::File) {
            out.push(rel.clone());
        }
    }
    Ok(out)
}

/// Compares the rendered files with `dir` and lists the extras, without the manifest.
fn compare_files(bundle: &Bundle, dir: &Path, listed: Option<&BTreeMap<String, String>>) -> Result<Comparison> {
    let mut cmp = Comparison::default();
    for a in &bundle.artifacts {
        let state = state_of(dir, &a.path, a.content.as_bytes())?;
        sort_into(&mut cmp, &a.path, state);
    }
    if let Some(listed) = listed {
        cmp.extra = extras(bundle, dir, listed)?;
    }
    Ok(cmp)
}

/// Compares `dir` with the bundle, manifest included, without changing anything.
pub fn compare(bundle: &Bundle, dir: &Path) -> Result<Comparison> {
    check_paths(bundle)?;
    let listed = manifest::read(dir).map_err(io("cannot read", dir))?;
    let mut cmp = compare_files(bundle, dir, listed.as_ref())?;
    let want = Manifest::complete(bundle).to_bytes();
    let state = state_of(dir, manifest::NAME, &want)?;
    sort_into(&mut cmp, manifest::NAME, state);
    for list in [&mut cmp.changed, &mut cmp.missing, &mut cmp.unchanged] {
        list.sort();
    }
    Ok(cmp)
}

/// The bytes a path should have after a complete render of `bundle`.
fn wanted(bundle: &Bundle, rel: &str) -> Vec<u8> {
    if rel == manifest::NAME {
        return Manifest::complete(bundle).to_bytes();
    }
    bundle
        .get(rel)
        .map(|a| a.content.clone().into_bytes())
        .unwrap_or_default()
}

/// Text of `rel` in the folder for a diff, and a note when it is not a readable regular file.
fn old_text(dir: &Path, rel: &str) -> Result<(String, Option<String>)> {
    if let Err(e) = safe_fs::folders_are_real(dir, rel) {
        return Ok((String::new(), Some(e.to_string())));
    }
    let path = dir.join(rel);
    match safe_fs::read_regular(&path, READ_LIMIT) {
        Ok(Contents::File(b)) => Ok((String::from_utf8_lossy(&b).into_owned(), None)),
        Ok(Contents::Missing) => Ok((String::new(), None)),
        Ok(Contents::NotRegular(what)) => Ok((
            String::new(),
            Some(format!("a/{rel} is a {what}, not a regular file; a render replaces it")),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Ok((String::new(), Some(format!("a/{rel} {e}; not shown"))))
        }
        Err(e) => Err(io("cannot read", &path)(e)),
    }
}

/// Unified diffs for everything that differs; empty when the folder is up to date.
pub fn diff(bundle: &Bundle, dir: &Path, cmp: &Comparison) -> Result<String> {
    let mut out = String::new();
    for p in cmp.changed.iter().chain(&cmp.missing).chain(&cmp.extra) {
        let (old, note) = old_text(dir, p)?;
        if let Some(note) = note {
            out.push_str(&format!("# {note}\n"));
        }
        let new = if cmp.extra.contains(p) {
            String::new()
        } else {
            String::from_utf8_lossy(&wanted(bundle, p)).into_owned()
        };
        let d = similar::TextDiff::from_lines(&old, &new);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(&format!("a/{p}"), &format!("b/{p}"))
                .to_string(),
        );
    }
    Ok(out)
}

/// A file of the folder as the change summary reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldFile {
    /// A readable regular file (lossily decoded as UTF-8).
    Text(String),
    /// There, but not something irsagen reads (not a regular file, too large, behind a
    /// symlinked folder): the note says what.
    Unreadable(String),
}

/// What `--check` found, for callers that present it themselves (the change summary).
#[derive(Debug)]
pub struct Inspection {
    /// How the folder differs.
    pub comparison: Comparison,
    /// Unified diffs of everything that differs; empty when up to date.
    pub diff: String,
    /// The folder's side of every rendered or extra path that is there (manifest excluded):
    /// what a semantic comparison needs as "before".
    pub old: BTreeMap<String, OldFile>,
}

/// Compares `dir` with the bundle under the folder's shared lock and reads the folder's side
/// of every file that differs; writes nothing.
pub fn inspect(bundle: &Bundle, dir: &Path, wait: LockWait<'_>) -> Result<Inspection> {
    check_paths(bundle)?;
    // A folder that does not exist is not locked (and not created): everything is missing.
    let _lock = match safe_fs::kind(dir).map_err(io("cannot read", dir))? {
        None => None,
        Some(_) => Some(lock::acquire(dir, lock::Mode::Shared, wait)?),
    };
    let comparison = compare(bundle, dir)?;
    let diff = diff(bundle, dir, &comparison)?;
    let mut old = BTreeMap::new();
    for p in &comparison.unchanged {
        if let Some(a) = bundle.get(p) {
            old.insert(p.clone(), OldFile::Text(a.content.clone()));
        }
    }
    for p in comparison.changed.iter().chain(&comparison.extra) {
        if p == manifest::NAME {
            continue;
        }
        let file = match old_text(dir, p)? {
            (_, Some(note)) => OldFile::Unreadable(note),
            (text, None) => OldFile::Text(text),
        };
        old.insert(p.clone(), file);
    }
    Ok(Inspection { comparison, diff, old })
}

/// `--check`: Ok when `dir` matches the bundle exactly (files and manifest), else
/// [`Error::Stale`] with the diffs and `command`, plus `--prune` when files must go.
pub fn check(bundle: &Bundle, dir: &Path, command: &str, wait: LockWait<'_>) -> Result<()> {
    let found = inspect(bundle, dir, wait)?;
    stale(&found, dir, command, found.diff.clone())
}

/// [`Error::Stale`] for an inspection that found differences (with `diff` as its diff text),
/// Ok for one that found none.
pub fn stale(found: &Inspection, dir: &Path, command: &str, diff: String) -> Result<()> {
    let cmp = &found.comparison;
    let count = cmp.differences();
    if count == 0 {
        return Ok(());
    }
    let command = if cmp.extra.is_empty() {
        command.to_string()
    } else {
        format!("{command} --prune")
    };
    Err(Error::Stale {
        count,
        dir: dir.display().to_string(),
        command,
        diff,
    })
}
