//! A run folder's `.lock`: held (flock) by whatever trains into the folder, a `train`-like
//! binary or a sweep's worker, so that two processes never write one run, and so that `runs`
//! can tell a running run from a stopped one.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name in a run folder.
pub const LOCK_FILE: &str = ".lock";

/// The lock file of the run in `dir`.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

/// The held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn flock(f: &File, op: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock(2) on a descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

impl RunLock {
    /// Take the lock of the run in `dir` (created if need be); `None` if another process
    /// holds it.
    pub fn acquire(dir: &Path) -> crate::Result<Option<RunLock>> {
        let path = lock_path(dir);
        let io = |source| crate::Error::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let f = File::create(&path).map_err(io)?;
        Ok(flock(&f, libc::LOCK_EX)
            .map_err(io)?
            .then_some(RunLock { _file: f }))
    }
}

/// Whether a process holds the lock of the run in `dir` now (a shared probe, released at once).
pub fn is_held(dir: &Path) -> bool {
    let Ok(f) = File::open(lock_path(dir)) else {
        return false;
    };
    matches!(flock(&f, libc::LOCK_SH), Ok(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_lock_is_exclusive_until_its_holder_lets_go() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_held(d.path()));
        let a = RunLock::acquire(d.path()).unwrap().expect("free");
        assert!(is_held(d.path()));
        // A second open file (as a second process would have) cannot take it.
        assert!(RunLock::acquire(d.path()).unwrap().is_none());
        drop(a);
        assert!(!is_held(d.path()));
        assert!(RunLock::acquire(d.path()).unwrap().is_some());
    }
}
