//! Getting a bundle out: to stdout, into a directory (all files staged, then renamed into
//! place), or compared with a directory (`--check`) with a unified diff per file.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How a directory differs from a bundle. Paths are relative and `/`-separated.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// In both, with other contents.
    pub changed: Vec<String>,
    /// In the bundle, not in the directory.
    pub missing: Vec<String>,
    /// In the directory, not in the bundle.
    pub extra: Vec<String>,
    /// In both, identical.
    pub unchanged: Vec<String>,
}

/// What [`write()`] did.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Files created or replaced.
    pub written: Vec<String>,
    /// Files already up to date (left untouched).
    pub unchanged: Vec<String>,
    /// Files the render no longer produces, left in place.
    pub extra: Vec<String>,
    /// Extra files removed because of `--prune`.
    pub pruned: Vec<String>,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Every regular file below `dir` (hidden files and folders skipped), relative and sorted.
fn list_files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io("cannot read directory", &d))? {
            let entry = entry.map_err(io("cannot read directory", &d))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

/// Compares `dir` with the bundle without changing anything.
pub fn compare(bundle: &Bundle, dir: &Path) -> Result<Comparison> {
    let existing = list_files(dir)?;
    let mut cmp = Comparison::default();
    for a in &bundle.artifacts {
        let path = dir.join(&a.path);
        if !existing.contains(&a.path) {
            cmp.missing.push(a.path.clone());
        } else if std::fs::read(&path).map_err(io("cannot read", &path))? == a.content.as_bytes() {
            cmp.unchanged.push(a.path.clone());
        } else {
            cmp.changed.push(a.path.clone());
        }
    }
    let produced: BTreeSet<&str> = bundle.artifacts.iter().map(|a| a.path.as_str()).collect();
    cmp.extra = existing
        .into_iter()
        .filter(|p| !produced.contains(p.as_str()))
        .collect();
    Ok(cmp)
}

/// Unified diffs for everything that differs; empty when the directory is up to date.
pub fn diff(bundle: &Bundle, dir: &Path, cmp: &Comparison) -> Result<String> {
    let mut out = String::new();
    let mut one = |path: &str, old: &str, new: &str| {
        let d = similar::TextDiff::from_lines(old, new);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string(),
        );
    };
    for p in &cmp.changed {
        let old = std::fs::read(dir.join(p)).map_err(io("cannot read", &dir.join(p)))?;
        one(
            p,
            &String::from_utf8_lossy(&old),
            &bundle.get(p).map(|a| a.content.clone()).unwrap_or_default(),
        );
    }
    for p in &cmp.missing {
        one(p, "", &bundle.get(p).map(|a| a.content.clone()).unwrap_or_default());
    }
    for p in &cmp.extra {
        let old = std::fs::read(dir.join(p)).map_err(io("cannot read", &dir.join(p)))?;
        one(p, &String::from_utf8_lossy(&old), "");
    }
    Ok(out)
}

/// `--check`: Ok when `dir` matches the bundle exactly, else [`Error::Stale`] with the diffs.
pub fn check(bundle: &Bundle, dir: &Path, command: &str) -> Result<()> {
    let cmp = compare(bundle, dir)?;
    let count = cmp.changed.len() + cmp.missing.len() + cmp.extra.len();
    if count == 0 {
        return Ok(());
    }
    Err(Error::Stale {
        count,
        dir: dir.display().to_string(),
        command: command.to_string(),
        diff: diff(bundle, dir, &cmp)?,
    })
}

/// Writes the bundle into `dir`. Changed files are first all written to temporary files beside
/// their targets and only then renamed into place, so a failure leaves the old files intact.
pub fn write(bundle: &Bundle, dir: &Path, prune: bool) -> Result<WriteReport> {
    let cmp = compare(bundle, dir)?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let stage = |staged: &mut Vec<(PathBuf, PathBuf)>| -> Result<()> {
        for p in cmp.changed.iter().chain(&cmp.missing) {
            let target = dir.join(p);
            let parent = target.parent().unwrap_or(dir).to_path_buf();
            std::fs::create_dir_all(&parent).map_err(io("cannot create directory", &parent))?;
            let tmp = parent.join(format!(
                ".{}.irsagen-tmp",
                target.file_name().unwrap_or_default().to_string_lossy()
            ));
            let content = bundle.get(p).map(|a| a.content.as_bytes()).unwrap_or_default();
            std::fs::write(&tmp, content).map_err(io("cannot write", &tmp))?;
            staged.push((tmp.clone(), target.clone()));
            if p.ends_with(".sh") {
                set_executable(&tmp)?;
            }
        }
        Ok(())
    };
    if let Err(e) = stage(&mut staged) {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (tmp, target) in &staged {
        std::fs::rename(tmp, target).map_err(io("cannot move into place", target))?;
    }
    let mut report = WriteReport {
        written: cmp.changed.iter().chain(&cmp.missing).cloned().collect(),
        unchanged: cmp.unchanged,
        ..Default::default()
    };
    report.written.sort();
    if prune {
        for p in &cmp.extra {
            let path = dir.join(p);
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            // Remove folders the prune emptied, up to (not including) the output directory.
            let mut parent = path.parent();
            while let Some(d) = parent {
                if d == dir || std::fs::remove_dir(d).is_err() {
                    break;
                }
                parent = d.parent();
            }
        }
        report.pruned = cmp.extra;
    } else {
        report.extra = cmp.extra;
    }
    Ok(report)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io("cannot chmod", path))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}
