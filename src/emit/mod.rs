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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Artifact, ArtifactKind};
    use crate::context::{ClusterInputs, Context};

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let inputs = ClusterInputs {
            cluster: Some("c".into()),
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
            ..Default::default()
        };
        Bundle {
            context: Context::new(&inputs).unwrap(),
            components: Vec::new(),
            artifacts: files
                .iter()
                .map(|(path, content)| Artifact {
                    path: path.to_string(),
                    kind: ArtifactKind::Readme,
                    preset: None,
                    content: content.to_string(),
                })
                .collect(),
            selection: Default::default(),
            format: Default::default(),
        }
    }

    /// A folder holding `b` exactly as a complete render leaves it (files and manifest).
    fn written(b: &Bundle) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for a in &b.artifacts {
            let path = t.path().join(&a.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &a.content).unwrap();
        }
        std::fs::write(t.path().join(manifest::NAME), Manifest::complete(b).to_bytes()).unwrap();
        t
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    const FILES: [(&str, &str); 3] = [("a.txt", "old\n"), ("c.txt", "c\n"), ("sub/b.txt", "b\n")];

    #[test]
    fn differences_counts_changed_missing_and_extra_not_unchanged() {
        let s = |n: usize| vec![String::new(); n];
        let cmp = Comparison {
            changed: s(1),
            missing: s(2),
            extra: s(3),
            unchanged: s(4),
        };
        assert_eq!(cmp.differences(), 6);
        assert_eq!(Comparison::default().differences(), 0);
    }

    #[test]
    fn a_written_folder_is_up_to_date_and_check_passes() {
        let b = bundle(&FILES);
        let t = written(&b);
        let cmp = compare(&b, t.path()).unwrap();
        assert_eq!(
            cmp,
            Comparison {
                unchanged: sorted(&["a.txt", "c.txt", "sub/b.txt", manifest::NAME]),
                ..Default::default()
            }
        );
        check(&b, t.path(), "render", LockWait::default()).unwrap();
        assert_eq!(diff(&b, t.path(), &cmp).unwrap(), "");
    }

    /// Each file lands in exactly one list; only files the old manifest lists can be extra,
    /// and only while they are still regular files.
    #[test]
    fn compare_sorts_every_file_into_one_list() {
        let t = written(&bundle(&FILES));
        let now = bundle(&[("a.txt", "new\n"), ("c.txt", "c\n"), ("d.txt", "d\n")]);
        std::fs::write(t.path().join("mine.txt"), "the user's").unwrap();
        let cmp = compare(&now, t.path()).unwrap();
        assert_eq!(
            cmp,
            Comparison {
                changed: sorted(&["a.txt", manifest::NAME]),
                missing: sorted(&["d.txt"]),
                extra: sorted(&["sub/b.txt"]),
                unchanged: sorted(&["c.txt"]),
            }
        );
        // A listed path that is now a folder is not irsagen's to prune.
        std::fs::remove_file(t.path().join("sub/b.txt")).unwrap();
        std::fs::create_dir(t.path().join("sub/b.txt")).unwrap();
        assert_eq!(compare(&now, t.path()).unwrap().extra, Vec::<String>::new());
    }

    #[test]
    fn diff_shows_each_change_as_a_unified_diff() {
        let t = written(&bundle(&FILES));
        let now = bundle(&[("a.txt", "new\n"), ("c.txt", "c\n"), ("d.txt", "d\n")]);
        let cmp = Comparison {
            changed: vec!["a.txt".into()],
            missing: vec!["d.txt".into()],
            extra: vec!["sub/b.txt".into()],
            unchanged: vec![],
        };
        assert_eq!(
            diff(&now, t.path(), &cmp).unwrap(),
            "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n\
             --- a/d.txt\n+++ b/d.txt\n@@ -0,0 +1 @@\n+d\n\
             --- a/sub/b.txt\n+++ b/sub/b.txt\n@@ -1 +0,0 @@\n-b\n"
        );
        // The manifest's diff is against the manifest this render would write.
        let cmp = Comparison {
            changed: vec![manifest::NAME.into()],
            ..Default::default()
        };
        let d = diff(&now, t.path(), &cmp).unwrap();
        let want = String::from_utf8(Manifest::complete(&now).to_bytes()).unwrap();
        assert!(d.contains("\"d.txt\""), "{d}");
        assert!(!want.contains("sub/b.txt") && d.contains("-    \"sub/b.txt\""), "{d}");
    }

    #[test]
    fn check_of_a_stale_folder_gives_count_command_and_diff() {
        let t = written(&bundle(&FILES));
        let now = bundle(&[("a.txt", "new\n"), ("c.txt", "c\n")]);
        match check(&now, t.path(), "irsagen render", LockWait::default()) {
            Err(Error::Stale {
                count, command, diff, ..
            }) => {
                // a.txt, the manifest, and sub/b.txt (extra).
                assert_eq!(count, 3);
                assert_eq!(command, "irsagen render --prune");
                assert!(diff.contains("-old\n+new\n") && diff.contains("-b\n"), "{diff}");
            }
            other => panic!("{other:?}"),
        }
        let t = written(&bundle(&FILES));
        let now = bundle(&[("a.txt", "new\n"), ("c.txt", "c\n"), ("sub/b.txt", "b\n")]);
        match check(&now, t.path(), "irsagen render", LockWait::default()) {
            Err(Error::Stale { count, command, .. }) => {
                assert_eq!((count, command.as_str()), (2, "irsagen render"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Not a regular file, or too large to read: changed, with a note instead of its text.
    #[test]
    fn a_folder_or_an_oversized_file_is_changed_with_a_note() {
        let b = bundle(&FILES);
        let t = written(&b);
        std::fs::remove_file(t.path().join("c.txt")).unwrap();
        std::fs::create_dir(t.path().join("c.txt")).unwrap();
        std::fs::write(t.path().join("a.txt"), vec![b'x'; READ_LIMIT as usize + 1]).unwrap();
        let cmp = compare(&b, t.path()).unwrap();
        assert_eq!(cmp.changed, sorted(&["a.txt", "c.txt"]));
        let d = diff(&b, t.path(), &cmp).unwrap();
        assert!(
            d.starts_with(&format!(
                "# a/a.txt is larger than {READ_LIMIT} bytes, more than irsagen ever writes or reads here; not shown\n--- a/a.txt\n+++ b/a.txt\n@@ -0,0 +1 @@\n+old\n"
            )),
            "{d}"
        );
        assert!(
            d.contains("# a/c.txt is a directory, not a regular file; a render replaces it\n--- a/c.txt\n"),
            "{d}"
        );
        // Exactly at the limit it is read and compared.
        std::fs::write(t.path().join("a.txt"), vec![b'x'; READ_LIMIT as usize]).unwrap();
        let d = diff(&b, t.path(), &compare(&b, t.path()).unwrap()).unwrap();
        assert!(!d.contains("# a/a.txt") && d.contains("\n-xxxx"), "{}", &d[..200]);
    }

    /// Any other read failure (here a name longer than the file system allows) is an error,
    /// never "changed" or "missing".
    #[test]
    fn an_unreadable_file_is_an_error() {
        let long = "n".repeat(300);
        let b = bundle(&[(long.as_str(), "x\n")]);
        let t = tempfile::tempdir().unwrap();
        let e = compare(&b, t.path()).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
        let cmp = Comparison {
            changed: vec![long.clone()],
            ..Default::default()
        };
        let e = diff(&b, t.path(), &cmp).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn a_path_leaving_the_folder_is_refused_before_anything_is_read() {
        let t = tempfile::tempdir().unwrap();
        for p in ["../x", "/abs", ".hidden"] {
            let b = bundle(&[(p, "x\n")]);
            assert!(
                matches!(compare(&b, t.path()), Err(Error::RenderedInvalid { .. })),
                "{p}"
            );
            assert!(
                matches!(
                    check(&b, t.path(), "r", LockWait::default()),
                    Err(Error::RenderedInvalid { .. })
                ),
                "{p}"
            );
        }
    }
}
