//! File system access for folders irsagen does not control (the output folder, `--templates-dir`,
//! `--presets-dir`): nothing here follows a symlink below the folder it was given, opens a FIFO
//! or device, or accepts a relative path that could leave the folder.
//!
//! Why: these folders are often in a shared git checkout. A planted symlink must not redirect a
//! write or a delete, a FIFO must not hang a scan, and a symlink loop must not recurse forever.

use std::io::{self, Read as _};
use std::path::Path;

/// What a directory entry is, seen without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A real directory (not a symlink to one).
    Dir,
    /// Anything else: symlink, FIFO, socket, device; the name says which.
    Other(&'static str),
}

fn kind_of(ft: std::fs::FileType) -> Kind {
    if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Other("symlink")
    } else {
        Kind::Other("special file (FIFO, socket or device)")
    }
}

/// What is at `path` (a symlink is reported as one, never followed); `None` when nothing is.
pub fn kind(path: &Path) -> io::Result<Option<Kind>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(kind_of(m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries of `dir` with their kinds (symlinks not followed), sorted by name.
pub fn list_dir(dir: &Path) -> io::Result<Vec<(String, Kind)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // DirEntry::file_type does not follow symlinks (lstat or d_type).
        let kind = kind_of(entry.file_type()?);
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_string(), kind));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The outcome of [`read_regular`].
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    /// Nothing at the path.
    Missing,
    /// A regular file's bytes.
    File(Vec<u8>),
    /// Something that is not a regular file; it was not opened. The text says what it is.
    NotRegular(&'static str),
}

/// Reads `path` only if it is a regular file of at most `limit` bytes. A symlink at `path` is
/// not followed and a FIFO is never opened (`O_NOFOLLOW | O_NONBLOCK`, then `fstat` on the open
/// file, so swapping the file between the check and the open changes nothing).
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Contents> {
    match kind(path)? {
        None => return Ok(Contents::Missing),
        Some(Kind::File) => {}
        Some(Kind::Dir) => return Ok(Contents::NotRegular("directory")),
        Some(Kind::Other(what)) => return Ok(Contents::NotRegular(what)),
    }
    let file = match open_no_follow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Contents::Missing),
        // ELOOP: it became a symlink after the check above.
        Err(e) if e.raw_os_error() == Some(libc_eloop()) => return Ok(Contents::NotRegular("symlink")),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Contents::NotRegular(match kind_of(meta.file_type()) {
            Kind::Dir => "directory",
            Kind::Other(what) => what,
            Kind::File => unreachable!("checked is_file above"),
        }));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take(limit + 1)`: a file that grows while we read is still bounded.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(Contents::File(bytes))
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("is larger than {limit} bytes, more than irsagen ever writes or reads here"),
    )
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(unix)]
fn libc_eloop() -> i32 {
    libc::ELOOP
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(not(unix))]
fn libc_eloop() -> i32 {
    -1
}

/// Why `rel` is not a plain relative path, or `None` when it is one: `/`-separated, relative,
/// no empty, `.` or `..` part, no part starting with `.` (hidden names are irsagen's own
/// bookkeeping), no backslash, colon or control character.
pub fn plain_relative_path(rel: &str) -> Option<&'static str> {
    if rel.is_empty() {
        return Some("is empty");
    }
    if rel.starts_with('/') {
        return Some("is absolute; it must be relative");
    }
    if rel.chars().any(|c| c == '\\' || c == ':' || c.is_control()) {
        return Some("contains `\\`, `:` or a control character");
    }
    for part in rel.split('/') {
        if part.is_empty() {
            return Some("has an empty part (`//` or a trailing `/`)");
        }
        if part == ".." {
            return Some("contains `..`; it must stay inside its folder");
        }
        if part.starts_with('.') {
            return Some("has a part starting with `.`");
        }
    }
    None
}

/// Checks the folders of `rel` (every part but the last) below `root` without following
/// anything: `Ok(true)` when all are real directories, `Ok(false)` when one does not exist
/// (so the file does not either), an error naming the part when one is a symlink or a file.
pub fn folders_are_real(root: &Path, rel: &str) -> io::Result<bool> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        path.push(part);
        match kind(&path)? {
            None => return Ok(false),
            Some(Kind::Dir) => {}
            Some(Kind::File) => return Err(not_a_folder(&path, "file")),
            Some(Kind::Other(what)) => return Err(not_a_folder(&path, what)),
        }
    }
    Ok(true)
}

fn not_a_folder(path: &Path, what: &str) -> io::Error {
    io::Error::other(format!(
        "`{}` is a {what}, not a folder; irsagen never writes or deletes through it (remove it, or pick another folder)",
        path.display()
    ))
}

/// Creates the folders of `rel` below `root` one at a time (never through a symlink: each
/// existing part must be a real directory, see [`folders_are_real`]).
pub fn create_folders(root: &Path, rel: &str) -> io::Result<()> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        path.push(part);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match kind(&path)? {
                Some(Kind::Dir) => {}
                Some(Kind::File) => return Err(not_a_folder(&path, "file")),
                Some(Kind::Other(what)) => return Err(not_a_folder(&path, what)),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_and_escapes_are_named() {
        assert_eq!(plain_relative_path("iam/x/policy.json"), None);
        assert_eq!(plain_relative_path("README.md"), None);
        assert_eq!(plain_relative_path("a..b/c"), None, "`..` inside a name is harmless");
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("a//b", "empty part"),
            ("a/", "empty part"),
            ("./a", "starting with `.`"),
            (".irsagen-manifest.json", "starting with `.`"),
            ("a\\b", "backslash"),
            ("c:x", "`:`"),
            ("a\nb", "control"),
        ] {
            let got = plain_relative_path(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(
                got.contains(why) || (why == "backslash" && got.contains('\\')),
                "{bad:?}: {got}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn reads_only_regular_files() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        assert_eq!(read_regular(&f, 3).unwrap(), Contents::File(b"abc".to_vec()));
        let e = read_regular(&f, 2).unwrap_err();
        assert!(e.to_string().contains("larger than 2 bytes"), "{e}");
        assert_eq!(read_regular(&t.path().join("nope"), 9).unwrap(), Contents::Missing);
        std::os::unix::fs::symlink(&f, t.path().join("link")).unwrap();
        assert_eq!(
            read_regular(&t.path().join("link"), 9).unwrap(),
            Contents::NotRegular("symlink")
        );
        assert_eq!(read_regular(t.path(), 9).unwrap(), Contents::NotRegular("directory"));
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            read_regular(&fifo, 9).unwrap(),
            Contents::NotRegular("special file (FIFO, socket or device)")
        );
        let kinds = list_dir(t.path()).unwrap();
        assert_eq!(
            kinds,
            vec![
                ("f".to_string(), Kind::File),
                ("fifo".to_string(), Kind::Other("special file (FIFO, socket or device)")),
                ("link".to_string(), Kind::Other("symlink")),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn folders_through_a_symlink_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        std::os::unix::fs::symlink(t.path(), root.join("link")).unwrap();
        assert!(folders_are_real(&root, "real/x").unwrap());
        assert!(folders_are_real(&root, "x").unwrap());
        assert!(!folders_are_real(&root, "absent/deeper/x").unwrap());
        let e = folders_are_real(&root, "link/x").unwrap_err().to_string();
        assert!(e.contains("is a symlink, not a folder"), "{e}");
        let e = folders_are_real(&root, "file/x").unwrap_err().to_string();
        assert!(e.contains("is a file, not a folder"), "{e}");
        create_folders(&root, "new/deeper/x").unwrap();
        assert_eq!(kind(&root.join("new/deeper")).unwrap(), Some(Kind::Dir));
        let e = create_folders(&root, "link/sub/x").unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
        assert!(!t.path().join("sub").exists(), "nothing was created through the link");
        let e = create_folders(&root, "file/sub/x").unwrap_err().to_string();
        assert!(e.contains("is a file"), "{e}");
    }
}
