//! Taking the lock: FILE itself when it exists, else lock files of ours
//! in the user's private lock directories; checks made before any answer
//! is paid for.

use super::lock_dir::{lock_dirs, Places};
use super::path::split;
use super::temps::{Ino, Temps};
use super::{euid, path_error, Held, LockedFile, OpenError, Opened, Owner};
use crate::exit::io_reason;
use crate::fileid::FileId;
use crate::files;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Locks an existing FILE (`target`: no symbolic link on the way) and
/// reads it; `None` when it was replaced or removed meanwhile (start over).
pub(super) fn lock_existing(
    target: &Path,
    temps: &'static Temps,
) -> Result<Option<Opened>, OpenError> {
    // The rename needs the directory; found now rather than after the
    // answer was paid for.
    if let Some((dir, _)) = split(target) {
        if !files::may_write_in(&dir) {
            return Err(path_error(
                "cannot replace it: its directory is not writable",
            ));
        }
    }
    // O_NONBLOCK: a FIFO put there since the check must not hang the open.
    // O_NOFOLLOW: a link put there since `resolve` is resolved again.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(target)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(OpenError::Path(io_reason(&e))),
    };
    let meta = file
        .metadata()
        .map_err(|e| OpenError::Path(io_reason(&e)))?;
    if !meta.is_file() {
        return Err(path_error("not a regular file"));
    }
    // Checked before locking: another user's file is not ours to hold.
    if meta.uid() != euid() {
        return Err(OpenError::Path(format!(
            "it is another user's (uid {})",
            meta.uid()
        )));
    }
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
    match fs::symlink_metadata(target) {
        Ok(now) if FileId::of(&now) == FileId::of(&meta) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OpenError::Path(io_reason(&e))),
    }
    let mut bytes = Vec::new();
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| OpenError::Path(io_reason(&e)))?;
    let locked = LockedFile {
        target: target.to_path_buf(),
        existing: Some(Owner {
            mode: meta.mode(),
            gid: meta.gid(),
        }),
        held: Mutex::new(Some(Held {
            _file: file,
            id: FileId::of(&meta),
        })),
        lock_files: Vec::new(),
        temps,
        unnamed: true,
    };
    Ok(Some((locked, Some(bytes))))
}

/// Locks a missing FILE through its lock file in each of the private lock
/// directories found in `places`; `None` when a lock file was unlinked
/// meanwhile or FILE appeared (start over).
pub(super) fn lock_missing(
    target: &Path,
    places: &Places,
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
    if !files::may_write_in(&dir) {
        return Err(path_error(
            "cannot create it: its directory is not writable",
        ));
    }
    let lock_dirs = lock_dirs(places, euid()).map_err(OpenError::Path)?;
    // Dropping it on an early return releases the locks taken so far.
    let mut locked = LockedFile {
        target: target.to_path_buf(),
        existing: None,
        held: Mutex::new(None),
        lock_files: Vec::new(),
        temps,
        unnamed: true,
    };
    for lock_dir in &lock_dirs {
        let path = lock_path(lock_dir, &dir_meta, file_name);
        match lock_file(path, temps)? {
            Some(lock) => locked.lock_files.push(lock),
            None => return Ok(None),
        }
    }
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(locked)),
        // Another run saved FILE and let go of the lock meanwhile; dropping
        // `locked` unlinks the lock files, and the next try locks FILE itself.
        Ok(_) => Ok(None),
        Err(e) => Err(OpenError::Path(io_reason(&e))),
    }
}

/// Creates (or opens) and locks the lock file at `path`, in a directory
/// only we can write; `None` when it was unlinked meanwhile.
fn lock_file(path: PathBuf, temps: &Temps) -> Result<Option<(File, PathBuf, Ino)>, OpenError> {
    let internal = |e: io::Error| OpenError::Lock(path.clone(), io_reason(&e));
    // Created, locked and registered under the registry's mutex: the
    // signal thread either finds it registered or exits before it exists.
    let mut state = temps.open().map_err(internal)?;
    // O_NOFOLLOW and the owner check: only root could have put anything
    // there, but a lock is never taken on something that is not ours.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(internal)?;
    let meta = file.metadata().map_err(internal)?;
    if !meta.is_file() || meta.uid() != euid() {
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
    Ok(Some((file, path, ino)))
}

/// The lock file for a missing FILE in a private lock directory: one per
/// directory and name.
pub(super) fn lock_path(lock_dir: &Path, dir: &fs::Metadata, file_name: &OsStr) -> PathBuf {
    lock_dir.join(format!(
        "orstream-{:x}-{:x}-{:016x}.lock",
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
