//! One render at a time per output folder: an advisory lock held for the whole write (and a
//! shared one for `--check`, so it never reads a folder mid-write).
//!
//! On Unix the lock is taken on the folder itself (`flock` on a read-only handle of the
//! directory), so no lock file is left behind in the user's checkout and no stale lock file can
//! outlive a killed run: the kernel drops the lock with the process. Elsewhere a
//! `.irsagen.lock` file in the folder carries it.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a render waits for another one to finish before it gives up, by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// How to wait for the lock.
#[derive(Clone, Copy)]
pub struct LockWait<'a> {
    /// Give up after this long.
    pub timeout: Duration,
    /// Called once when the lock is busy and the wait starts (the CLI says so on stderr).
    pub on_wait: Option<&'a dyn Fn()>,
}

impl Default for LockWait<'_> {
    fn default() -> Self {
        LockWait {
            timeout: DEFAULT_WAIT,
            on_wait: None,
        }
    }
}

/// Exclusive for writers, shared for readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A render that writes.
    Exclusive,
    /// `--check`.
    Shared,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Outcome of one attempt to lock.
enum Attempt {
    Locked,
    Busy,
}

#[cfg(unix)]
fn handle(dir: &Path) -> std::io::Result<File> {
    File::open(dir)
}

/// `flock(LOCK_NB)` through libc: std's `File::try_lock` needs Rust 1.89, above this crate's MSRV.
#[cfg(unix)]
fn try_lock(file: &File, mode: Mode) -> std::io::Result<Attempt> {
    use std::os::fd::AsRawFd;
    let op = match mode {
        Mode::Exclusive => libc::LOCK_EX,
        Mode::Shared => libc::LOCK_SH,
    };
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
        return Ok(Attempt::Locked);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(Attempt::Busy)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn handle(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".irsagen.lock"))
}

#[cfg(not(unix))]
#[allow(clippy::incompatible_msrv)]
fn try_lock(file: &File, mode: Mode) -> std::io::Result<Attempt> {
    let attempt = match mode {
        Mode::Exclusive => file.try_lock(),
        Mode::Shared => file.try_lock_shared(),
    };
    match attempt {
        Ok(()) => Ok(Attempt::Locked),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Attempt::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the lock on `dir` (which must exist), polling until `wait.timeout` has passed.
pub fn acquire(dir: &Path, mode: Mode, wait: LockWait<'_>) -> Result<FolderLock> {
    let io = |source| Error::Io {
        action: "cannot lock the output folder",
        path: dir.to_path_buf(),
        source,
    };
    let file = handle(dir).map_err(io)?;
    let start = Instant::now();
    let mut told = false;
    loop {
        if let Attempt::Locked = try_lock(&file, mode).map_err(io)? {
            return Ok(FolderLock { _file: file });
        }
        if start.elapsed() >= wait.timeout {
            return Err(Error::Io {
                action: "another irsagen render is still writing",
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "gave up after waiting {} ms for its lock; let it finish (or stop it) and run again",
                        wait.timeout.as_millis()
                    ),
                ),
            });
        }
        if !told {
            told = true;
            if let Some(f) = wait.on_wait {
                f();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_second_writer_waits_then_gives_up_with_a_clear_message() {
        let t = tempfile::tempdir().unwrap();
        let held = acquire(t.path(), Mode::Exclusive, LockWait::default()).unwrap();
        let waited = Cell::new(0);
        let on_wait = || waited.set(waited.get() + 1);
        let wait = LockWait {
            timeout: Duration::from_millis(100),
            on_wait: Some(&on_wait),
        };
        let start = Instant::now();
        let e = acquire(t.path(), Mode::Exclusive, wait).unwrap_err().to_string();
        assert!(start.elapsed() >= Duration::from_millis(100), "it waited the timeout");
        assert_eq!(waited.get(), 1, "told once that it waits");
        assert!(
            e.contains("another irsagen render is still writing") && e.contains("100 ms"),
            "{e}"
        );
        let e = acquire(t.path(), Mode::Shared, wait).unwrap_err().to_string();
        assert!(e.contains("still writing"), "a reader waits for a writer too: {e}");
        drop(held);
        acquire(t.path(), Mode::Exclusive, wait).unwrap();
    }

    #[test]
    fn readers_share_and_exclude_writers() {
        let t = tempfile::tempdir().unwrap();
        let quick = LockWait {
            timeout: Duration::ZERO,
            on_wait: None,
        };
        let a = acquire(t.path(), Mode::Shared, quick).unwrap();
        let _b = acquire(t.path(), Mode::Shared, quick).unwrap();
        assert!(acquire(t.path(), Mode::Exclusive, quick).is_err());
        drop(a);
    }

    #[test]
    fn a_missing_folder_is_an_io_error() {
        let t = tempfile::tempdir().unwrap();
        let e = acquire(&t.path().join("nope"), Mode::Shared, LockWait::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot lock the output folder"), "{e}");
    }
}
