//! Taking the lock: FILE itself when it exists, else a lock file of
//! ours; following symlinks; checks made before any answer is paid for.

use super::temps::Temps;
use super::{path_error, Held, LockedFile, OpenError, Opened, Owner};
use crate::exit::io_reason;
use crate::fileid::FileId;
use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Symlinks followed before giving up, as the kernel does (ELOOP).
const MAX_SYMLINKS: usize = 40;

/// Locks an existing FILE and reads it; `None` when it was replaced or
/// removed meanwhile (start over).
pub(super) fn lock_existing(
    target: &Path,
    temps: &'static Temps,
) -> Result<Option<Opened>, OpenError> {
    // The rename needs the directory; found now rather than after the
    // answer was paid for.
    if let Some((dir, _)) = split(target) {
        if !may_write_in(&dir) {
            return Err(path_error(
                "cannot replace it: its directory is not writable",
            ));
        }
    }
    // O_NONBLOCK: a FIFO put there since the check must not hang the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(target)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OpenError::Path(io_reason(&e))),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(OpenError::InUse),
        Err(TryLockError::Error(e)) => {
            return Err(OpenError::Path(format!(
                "cannot lock it: {}",
                io_reason(&e)
            )))
        }
    }
    let meta = file
        .metadata()
        .map_err(|e| OpenError::Path(io_reason(&e)))?;
    match fs::metadata(target) {
        Ok(now) if FileId::of(&now) == FileId::of(&meta) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OpenError::Path(io_reason(&e))),
    }
    if !meta.is_file() {
        return Err(path_error("not a regular file"));
    }
    let mut bytes = Vec::new();
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| OpenError::Path(io_reason(&e)))?;
    let locked = LockedFile {
        target: target.to_path_buf(),
        existing: Some(Owner {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        }),
        held: Mutex::new(Some(Held {
            _file: file,
            id: FileId::of(&meta),
        })),
        lock_file: None,
        temps,
        unnamed: true,
    };
    Ok(Some((locked, Some(bytes))))
}

/// Locks a missing FILE through its lock file in `lock_dir`; `None` when
/// the lock file was unlinked meanwhile or FILE appeared (start over).
pub(super) fn lock_missing(
    target: &Path,
    lock_dir: &Path,
    temps: &'static Temps,
) -> Result<Option<LockedFile>, OpenError> {
    let (dir, file_name) = split(target).ok_or_else(|| path_error("not a file name"))?;
    let dir_meta = match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Err(path_error("not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(path_error("no such directory"))
        }
        Err(e) => return Err(OpenError::Path(io_reason(&e))),
    };
    // Found now rather than after the answer was paid for.
    if !may_write_in(&dir) {
        return Err(path_error(
            "cannot create it: its directory is not writable",
        ));
    }
    let path = lock_path(lock_dir, &dir_meta, file_name);
    let internal = |e: io::Error| OpenError::Lock(path.clone(), io_reason(&e));
    // Created, locked and registered under the registry's mutex: the
    // signal thread either finds it registered or exits before it exists.
    let mut state = temps.open().map_err(internal)?;
    // O_NOFOLLOW, and the owner checked below: /tmp is shared, and a
    // planted symlink or file must not be used.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(internal)?;
    let meta = file.metadata().map_err(internal)?;
    if !meta.is_file() || meta.uid() != uid() {
        return Err(internal(io::Error::other("not a file of ours")));
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(OpenError::InUse),
        Err(TryLockError::Error(e)) => return Err(internal(e)),
    }
    match fs::symlink_metadata(&path) {
        Ok(now) if FileId::of(&now) == FileId::of(&meta) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(internal(e)),
    }
    let ino = (meta.dev(), meta.ino());
    state.locks.push((path.clone(), ino));
    drop(state);
    let locked = LockedFile {
        target: target.to_path_buf(),
        existing: None,
        held: Mutex::new(None),
        lock_file: Some((file, path, ino)),
        temps,
        unnamed: true,
    };
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(locked)),
        // Another run saved FILE and let go of the lock meanwhile; dropping
        // `locked` unlinks the lock file, and the next try locks FILE itself.
        Ok(_) => Ok(None),
        Err(e) => Err(OpenError::Path(io_reason(&e))),
    }
}

/// Follows symlinks at the last component of `path`, to the final target,
/// which may not exist.
pub(super) fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&p) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&p)?;
                // A relative link is relative to the link's directory; an
                // absolute one replaces the path.
                p = match p.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// The directory (`.` for a bare name) and the file name of `path`.
pub(super) fn split(path: &Path) -> Option<(PathBuf, &OsStr)> {
    let file_name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, file_name))
}

/// Where the lock file of a missing FILE goes: `tmp` (`/tmp`) when it is
/// a directory, the same for every run whatever its environment says, else
/// the temp directory the environment names.
pub(super) fn lock_dir(tmp: &Path, env_temp: &Path) -> PathBuf {
    match fs::metadata(tmp) {
        Ok(meta) if meta.is_dir() => tmp.to_path_buf(),
        _ => env_temp.to_path_buf(),
    }
}

/// The lock file for a missing FILE: one per user, directory and name.
pub(super) fn lock_path(lock_dir: &Path, dir: &fs::Metadata, file_name: &OsStr) -> PathBuf {
    lock_dir.join(format!(
        "orstream-{}-{:x}-{:x}-{:016x}.lock",
        uid(),
        dir.dev(),
        dir.ino(),
        fnv1a(file_name.as_bytes())
    ))
}

/// FNV-1a: unlike std's hasher, stable across Rust versions, so two
/// orstream builds agree on the lock file's name.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Whether files can be created in `dir` (write and search permission,
/// a read-only filesystem counts as no).
pub(super) fn may_write_in(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}
