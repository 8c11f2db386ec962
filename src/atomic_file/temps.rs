//! The new file beside FILE (unnamed where the system allows), and the
//! registry of temp and lock files the signal thread removes.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Creates the new file in FILE's directory, 0600: unnamed where the
/// system allows (Linux `O_TMPFILE`, and `unnamed`), its name `None`; else
/// a named temp file (O_EXCL) registered for `cleanup_on_exit`.
pub(super) fn create_temp(
    dir: &Path,
    file_name: &OsStr,
    temps: &Temps,
    unnamed: bool,
) -> io::Result<(File, Option<PathBuf>)> {
    #[cfg(target_os = "linux")]
    if unnamed {
        if let Some(file) = create_unnamed(dir)? {
            return Ok((file, None));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = unnamed;
    let (file, path) = with_temp_name(dir, file_name, |path| temps.create(path))?;
    Ok((file, Some(path)))
}

/// An unnamed file in `dir` (`O_TMPFILE`), 0600 before umask; `None` where
/// the kernel or the filesystem has none, or where `/proc` (which
/// `link_temp` goes through) is missing.
#[cfg(target_os = "linux")]
pub(super) fn create_unnamed(dir: &Path) -> io::Result<Option<File>> {
    use std::os::fd::FromRawFd;
    if fs::metadata("/proc/self/fd").is_err() {
        return Ok(None);
    }
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return Ok(None);
    };
    let flags = libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC;
    // SAFETY: a valid NUL-terminated path for the duration of the call.
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o600 as libc::c_uint) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // Old kernels (EISDIR, EINVAL, ENOENT) and filesystems without it.
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(Some(unsafe { File::from_raw_fd(fd) }))
}

/// Gives the unnamed `file` a temp name beside FILE, registered for
/// `cleanup_on_exit` until the rename.
#[cfg(target_os = "linux")]
pub(super) fn link_temp(
    file: &File,
    dir: &Path,
    file_name: &OsStr,
    temps: &Temps,
) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let proc = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let ((), path) = with_temp_name(dir, file_name, |path| temps.link(&proc, path))?;
    Ok(path)
}

/// Never called: elsewhere the new file is named from the start.
#[cfg(not(target_os = "linux"))]
pub(super) fn link_temp(_: &File, _: &Path, _: &OsStr, _: &Temps) -> io::Result<PathBuf> {
    Err(io::Error::other("the new file has no name"))
}

/// Calls `make` with a free temp name beside FILE,
/// `.FILE.orstream-PID-N.tmp`, until it does not find the name taken.
pub(super) fn with_temp_name<T>(
    dir: &Path,
    file_name: &OsStr,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(T, PathBuf)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Keeps the temp name within NAME_MAX (255) for a long FILE name.
    let stem = OsStr::from_bytes(&file_name.as_bytes()[..file_name.len().min(200)]);
    let mut tries = 0;
    loop {
        tries += 1;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(stem);
        temp_name.push(format!(".orstream-{}-{n}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        match make(&path) {
            // A leftover of a killed run with the same pid: take the next.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries <= 1000 => continue,
            result => return result.map(|t| (t, path)),
        }
    }
}

/// A lock file's `(dev, ino)`.
pub(super) type Ino = (u64, u64);

/// The temp files of saves in progress and the lock files of a missing
/// FILE, so the signal thread can remove them, and whether a save has
/// renamed its file into place. Creating, locking, linking, renaming and
/// removing happen under the mutex, so once `close` has run no temp or
/// lock file appears and no rename happens, and `close` knows whether one
/// did.
pub(super) struct Temps(Mutex<TempState>);

pub(super) struct TempState {
    /// Named temp files beside FILE.
    paths: Vec<PathBuf>,
    /// Lock files this process holds, each with the inode it locked.
    pub(super) locks: Vec<(PathBuf, Ino)>,
    closed: bool,
    /// A save renamed its new file over FILE: the turn is saved.
    committed: bool,
}

pub(super) static TEMPS: Temps = Temps::new();

impl Temps {
    pub(super) const fn new() -> Temps {
        Temps(Mutex::new(TempState {
            paths: Vec::new(),
            locks: Vec::new(),
            closed: false,
            committed: false,
        }))
    }

    /// The registry, held: a lock file is created and registered under it.
    pub(super) fn open(&self) -> io::Result<MutexGuard<'_, TempState>> {
        let state = lock(&self.0);
        if state.closed {
            return Err(interrupted());
        }
        Ok(state)
    }

    pub(super) fn create(&self, path: &Path) -> io::Result<File> {
        let mut state = self.open()?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        state.paths.push(path.to_path_buf());
        Ok(file)
    }

    /// Links `/proc/self/fd/N` (an unnamed file) to `path`.
    /// `AT_SYMLINK_FOLLOW` through `/proc`, unlike `AT_EMPTY_PATH`, needs
    /// no CAP_DAC_READ_SEARCH.
    #[cfg(target_os = "linux")]
    pub(super) fn link(&self, proc: &std::ffi::CStr, path: &Path) -> io::Result<()> {
        let mut state = self.open()?;
        let to = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: valid NUL-terminated paths for the duration of the call.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked != 0 {
            return Err(io::Error::last_os_error());
        }
        state.paths.push(path.to_path_buf());
        Ok(())
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.open()?;
        fs::rename(from, to)?;
        state.committed = true;
        state.paths.retain(|p| p != from);
        Ok(())
    }

    pub(super) fn discard(&self, path: &Path) {
        let mut state = lock(&self.0);
        let _ = fs::remove_file(path);
        state.paths.retain(|p| p != path);
    }

    /// Unlinks a lock file this process holds (still locked, by the
    /// caller) and forgets it; nothing when `close` already did.
    pub(super) fn release_lock(&self, path: &Path, ino: Ino) {
        let mut state = lock(&self.0);
        if let Some(i) = state.locks.iter().position(|l| l.0 == path && l.1 == ino) {
            state.locks.swap_remove(i);
            unlink_lock(path, ino);
        }
    }

    /// Stops every later save, removes what is registered, and returns
    /// whether a save already renamed its file into place.
    pub(super) fn close(&self) -> bool {
        let mut state = lock(&self.0);
        state.closed = true;
        for path in state.paths.drain(..) {
            let _ = fs::remove_file(path);
        }
        for (path, ino) in state.locks.drain(..) {
            unlink_lock(&path, ino);
        }
        state.committed
    }
}

/// Unlinks the lock file at `path` if it still is the inode this process
/// locked (and holds open, so the inode number cannot have been reused).
pub(super) fn unlink_lock(path: &Path, ino: Ino) {
    if let Ok(now) = fs::symlink_metadata(path) {
        if (now.dev(), now.ino()) == ino {
            let _ = fs::remove_file(path);
        }
    }
}

pub(super) fn interrupted() -> io::Error {
    io::Error::other("interrupted")
}

/// A mutex that a panic elsewhere must not make unusable: the data is a
/// list of paths or a file handle, never half-updated.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
