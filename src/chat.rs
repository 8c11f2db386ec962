//! A conversation file (SPEC §10): load, lock, save atomically.
//!
//! One lock is held for the whole run, so a second orstream on the same
//! FILE is refused before it sends anything, and a finished turn is never
//! overwritten by a run that read the older file:
//!
//! - FILE exists: an exclusive `flock` on FILE itself. A run that finishes
//!   renames a new inode over the path, so a lock taken on the old inode is
//!   worthless; after locking, the fd's `(dev, ino)` must still be the
//!   path's, else we start over.
//! - FILE is missing: nothing may appear beside FILE during the run (a
//!   `kill -9` would leave it behind), so the lock is a file in `/tmp`
//!   (not `$TMPDIR`: two runs with different environments must meet on the
//!   same lock) named from the uid, the parent directory's `(dev, ino)` and
//!   the file name. Its holder unlinks it before closing, or the signal
//!   thread does before the exit; the same `(dev, ino)` check catches a
//!   lock taken on an unlinked one.
//! - A save locks the new file before renaming it over FILE and keeps that
//!   lock, so a run starting after the rename is still refused.
//!
//! The new file is written unnamed (Linux `O_TMPFILE`) in FILE's directory
//! and linked to a temp name only right before the rename, so a `kill -9`
//! during a save leaves nothing beside FILE; elsewhere, or on a filesystem
//! without it, it is a named temp file from the start.
//!
//! Symlinks: FILE is followed to its final target (even a dangling one, as
//! a shell's `>` would), and the target is replaced in its own directory,
//! so a link (into a dotfiles checkout, say) stays a link and sees the new
//! conversation, instead of being silently turned into a regular file.

use crate::exit::{Failure, Kind};
use crate::input::io_reason;
use serde_json::{Map, Value};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How many times `open` starts over because other runs finished meanwhile
/// before it gives up as if FILE were in use.
const ATTEMPTS: usize = 100;

/// Symlinks followed before giving up, as the kernel does (ELOOP).
const MAX_SYMLINKS: usize = 40;

/// A locked conversation file. The lock lives as long as the value: save
/// before dropping it.
pub struct Chat {
    /// FILE as the user wrote it, for messages.
    name: String,
    /// FILE with symlinks followed: what is read, locked and replaced.
    target: PathBuf,
    /// The conversation so far; `None` for a new one.
    body: Option<Map<String, Value>>,
    /// FILE's mode and owner when it existed, for the new file.
    existing: Option<Owner>,
    /// The fd whose `flock` guards FILE's current inode, and that inode.
    /// `None` until a save when FILE did not exist. Behind a mutex because
    /// `save` takes `&self` and swaps in the new file.
    held: Mutex<Option<Held>>,
    /// The lock file in `/tmp` when FILE did not exist, and its `(dev, ino)`.
    lock_file: Option<(File, PathBuf, Ino)>,
    /// Where temp files and the lock file are registered for the signal
    /// thread: `TEMPS` but in tests.
    temps: &'static Temps,
    /// Whether a save may write an unnamed temp file (`O_TMPFILE`); tests
    /// turn it off to cover the named fallback.
    unnamed: bool,
}

struct Held {
    /// Never read: it is kept open because closing it releases the lock.
    _file: File,
    id: FileId,
}

#[derive(Clone, Copy)]
struct Owner {
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Chat {
    /// Locks and loads FILE (`-c FILE`). A missing FILE, or one of 0 bytes
    /// or only whitespace, is a new conversation. Another orstream holding
    /// it is a usage error at once; content that is not a `--request` body
    /// is a usage error naming FILE with the parser's line and column.
    pub fn open(path: &Path) -> Result<Chat, Failure> {
        Chat::open_in(path, &std::env::temp_dir(), &TEMPS)
    }

    /// `open` with the temp directory the environment names (only a
    /// fallback for the lock file's directory) and the registry given.
    fn open_in(path: &Path, env_temp: &Path, temps: &'static Temps) -> Result<Chat, Failure> {
        let name = path.display().to_string();
        let locks = lock_dir(Path::new("/tmp"), env_temp);
        for _ in 0..ATTEMPTS {
            // Inside the loop: a symlink may have been put there meanwhile.
            let target = resolve(path).map_err(|e| usage(&name, &io_reason(&e)))?;
            let locked = match fs::metadata(&target) {
                Ok(meta) if meta.is_dir() => return Err(usage(&name, "is a directory")),
                Ok(meta) if !meta.is_file() => return Err(usage(&name, "not a regular file")),
                Ok(_) => lock_existing(&name, &target, temps)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    lock_missing(&name, &target, &locks, temps)?
                }
                Err(e) => return Err(usage(&name, &io_reason(&e))),
            };
            if let Some(chat) = locked {
                return Ok(chat);
            }
        }
        Err(in_use(&name))
    }

    /// The conversation read from FILE; `None` for a new one.
    pub fn body(&self) -> Option<&Map<String, Value>> {
        self.body.as_ref()
    }

    /// Takes the conversation out, to build the request from it without a copy.
    pub fn take_body(&mut self) -> Option<Map<String, Value>> {
        self.body.take()
    }

    /// Replaces FILE atomically with what `write` streams (through a
    /// buffer): a new file beside it (unnamed until right before the rename
    /// where the system allows), flushed to disk, with FILE's mode (0600 for
    /// a new one), renamed over it. On any failure FILE is left as it was, a
    /// missing one is not created, and the new file is removed.
    pub fn save(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), Failure> {
        let fail = |reason: &str| {
            Failure::new(
                Kind::Internal,
                format!("cannot save the conversation to {}: {reason}", self.name),
            )
        };
        let (dir, file_name) = split(&self.target).ok_or_else(|| fail("not a file name"))?;
        let (file, mut temp) = create_temp(&dir, file_name, self.temps, self.unnamed)
            .map_err(|e| fail(&io_reason(&e)))?;
        let result = self.fill_and_rename(&file, &mut temp, &dir, file_name, write);
        match result {
            Ok(id) => {
                // The rename is what needs to be durable. Some filesystems
                // refuse fsync on a directory; FILE is already replaced, so
                // that cannot turn into a failed save.
                if let Ok(d) = File::open(&dir) {
                    let _ = d.sync_all();
                }
                *lock(&self.held) = Some(Held { _file: file, id });
                Ok(())
            }
            Err(e) => {
                drop(file);
                // None: still unnamed, so closing it was all it took.
                if let Some(temp) = &temp {
                    self.temps.discard(temp);
                }
                Err(fail(&e))
            }
        }
    }

    /// Everything between creating the temp file and the rename; the caller
    /// removes the temp file on error. `temp` is its name, `None` while it
    /// is unnamed: it gets one here right before the rename. Returns the new
    /// inode.
    fn fill_and_rename(
        &self,
        file: &File,
        temp: &mut Option<PathBuf>,
        dir: &Path,
        file_name: &OsStr,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<FileId, String> {
        let reason = |e: io::Error| io_reason(&e);
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        write(&mut out).map_err(reason)?;
        out.flush().map_err(reason)?;
        drop(out);
        let mode = match self.existing {
            Some(owner) => {
                let meta = file.metadata().map_err(reason)?;
                if (meta.uid(), meta.gid()) != (owner.uid, owner.gid) {
                    // Best effort, like an editor: only root may give the
                    // file to another user; a group of ours is allowed.
                    let _ = std::os::unix::fs::fchown(file, Some(owner.uid), Some(owner.gid))
                        .or_else(|_| std::os::unix::fs::fchown(file, None, Some(owner.gid)));
                }
                owner.mode & 0o7777
            }
            None => 0o600,
        };
        // After fchown, which clears set-id bits; umask does not apply here.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(reason)?;
        file.sync_all().map_err(reason)?;
        // A brand-new inode: nobody else can hold it. Taken before the
        // rename, so there is no moment when FILE is unlocked.
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => "the new file is locked".to_string(),
            TryLockError::Error(e) => io_reason(&e),
        })?;
        let id = file_id(&file.metadata().map_err(reason)?);
        self.check_unchanged()?;
        let named = match temp {
            Some(path) => path,
            None => temp.insert(link_temp(file, dir, file_name, self.temps).map_err(reason)?),
        };
        self.temps.rename(named, &self.target).map_err(reason)?;
        Ok(id)
    }

    /// Refuses to overwrite what another program (an editor saving FILE,
    /// say) put at FILE during this run: the lock only keeps orstreams out.
    fn check_unchanged(&self) -> Result<(), String> {
        let held = lock(&self.held).as_ref().map(|h| h.id);
        match (fs::metadata(&self.target), held) {
            (Ok(meta), Some(id)) if file_id(&meta) == id => Ok(()),
            (Ok(_), Some(_)) => Err("it was changed by another program during this run".into()),
            (Ok(_), None) => Err("it was created by another program during this run".into()),
            (Err(e), None) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            (Err(e), None) => Err(io_reason(&e)),
            (Err(_), Some(_)) => Err("it was removed by another program during this run".into()),
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        // Unlinked while still locked: a run that opened it meanwhile finds
        // its fd no longer matches the path and starts over.
        if let Some((_file, path, ino)) = &self.lock_file {
            self.temps.release_lock(path, *ino);
        }
    }
}

/// Removes a temp file left by a save in progress, and this run's lock
/// file in `/tmp`; called from the signal thread right before the process
/// exits with 130. Any later save fails, so FILE stays as it was.
pub fn cleanup_on_exit() {
    TEMPS.close();
}

/// The body to save: the body as sent without `stream` and
/// `stream_options`, keys otherwise in their order, and the answer
/// appended to `messages` as an assistant message. Takes the body by
/// value: a long history is not copied.
pub fn saved_body(mut sent: Map<String, Value>, answer: &str) -> Map<String, Value> {
    // shift_remove: with preserve_order, `remove` would move the last key
    // into the hole.
    sent.shift_remove("stream");
    sent.shift_remove("stream_options");
    let reply = serde_json::json!({"role": "assistant", "content": answer});
    match sent.get_mut("messages") {
        Some(Value::Array(messages)) => messages.push(reply),
        // A sent body always has the array; kept in place if it did not.
        _ => {
            sent.insert("messages".to_string(), Value::Array(vec![reply]));
        }
    }
    sent
}

/// Locks an existing FILE and reads it; `None` when it was replaced or
/// removed meanwhile (start over).
fn lock_existing(
    name: &str,
    target: &Path,
    temps: &'static Temps,
) -> Result<Option<Chat>, Failure> {
    // The rename needs the directory; found now rather than after the
    // answer was paid for.
    if let Some((dir, _)) = split(target) {
        if !may_write_in(&dir) {
            return Err(usage(
                name,
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
        Err(e) => return Err(usage(name, &io_reason(&e))),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(in_use(name)),
        Err(TryLockError::Error(e)) => {
            return Err(usage(name, &format!("cannot lock it: {}", io_reason(&e))))
        }
    }
    let meta = file.metadata().map_err(|e| usage(name, &io_reason(&e)))?;
    match fs::metadata(target) {
        Ok(now) if file_id(&now) == file_id(&meta) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(usage(name, &io_reason(&e))),
    }
    if !meta.is_file() {
        return Err(usage(name, "not a regular file"));
    }
    let mut bytes = Vec::new();
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(name, &io_reason(&e)))?;
    let body = parse(bytes, name)?;
    Ok(Some(Chat {
        name: name.to_string(),
        target: target.to_path_buf(),
        body,
        existing: Some(Owner {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        }),
        held: Mutex::new(Some(Held {
            _file: file,
            id: file_id(&meta),
        })),
        lock_file: None,
        temps,
        unnamed: true,
    }))
}

/// Locks a missing FILE through its lock file in `lock_dir`; `None` when
/// the lock file was unlinked meanwhile or FILE appeared (start over).
fn lock_missing(
    name: &str,
    target: &Path,
    lock_dir: &Path,
    temps: &'static Temps,
) -> Result<Option<Chat>, Failure> {
    let (dir, file_name) = split(target).ok_or_else(|| usage(name, "not a file name"))?;
    let dir_meta = match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Err(usage(name, "not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(usage(name, "no such directory"))
        }
        Err(e) => return Err(usage(name, &io_reason(&e))),
    };
    // Found now rather than after the answer was paid for.
    if !may_write_in(&dir) {
        return Err(usage(
            name,
            "cannot create it: its directory is not writable",
        ));
    }
    let path = lock_path(lock_dir, &dir_meta, file_name);
    let internal = |e: io::Error| {
        Failure::new(
            Kind::Internal,
            format!(
                "cannot use the lock file {} for {name}: {}",
                path.display(),
                io_reason(&e)
            ),
        )
    };
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
        Err(TryLockError::WouldBlock) => return Err(in_use(name)),
        Err(TryLockError::Error(e)) => return Err(internal(e)),
    }
    match fs::symlink_metadata(&path) {
        Ok(now) if file_id(&now) == file_id(&meta) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(internal(e)),
    }
    let ino = (meta.dev(), meta.ino());
    state.locks.push((path.clone(), ino));
    drop(state);
    let chat = Chat {
        name: name.to_string(),
        target: target.to_path_buf(),
        body: None,
        existing: None,
        held: Mutex::new(None),
        lock_file: Some((file, path, ino)),
        temps,
        unnamed: true,
    };
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(chat)),
        // Another run saved FILE and let go of the lock meanwhile; dropping
        // `chat` unlinks the lock file, and the next try locks FILE itself.
        Ok(_) => Ok(None),
        Err(e) => Err(usage(name, &io_reason(&e))),
    }
}

/// Parses FILE's content with the `--request` rules (SPEC §1), naming FILE
/// as `-c FILE`; only whitespace (and a BOM) is a new conversation.
fn parse(bytes: Vec<u8>, name: &str) -> Result<Option<Map<String, Value>>, Failure> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        messages: Vec<serde::de::IgnoredAny>,
    }
    let what = format!("-c {name}");
    let text = crate::prompt::decode_utf8(bytes, &what)?;
    // Editors on Windows start files with a BOM; jq accepts it, so do we.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // `echo > FILE` or a blank editor buffer: as empty as 0 bytes to a
    // user, and the JSON parser would call it an unexpected end.
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Ok(None);
    }
    let bad = |e: serde_json::Error| {
        let kind = if e.is_syntax() || e.is_eof() {
            "invalid JSON"
        } else {
            "not a chat request"
        };
        Failure::usage(format!("{what}: {kind}: {e}"))
            .with_hint("the file must be a JSON object with a \"messages\" array")
    };
    let map: Map<String, Value> = serde_json::from_str(text).map_err(bad)?;
    serde_json::from_str::<Shape>(text).map_err(bad)?;
    Ok(Some(map))
}

/// Follows symlinks at the last component of `path`, to the final target,
/// which may not exist.
fn resolve(path: &Path) -> io::Result<PathBuf> {
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
fn split(path: &Path) -> Option<(PathBuf, &OsStr)> {
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
fn lock_dir(tmp: &Path, env_temp: &Path) -> PathBuf {
    match fs::metadata(tmp) {
        Ok(meta) if meta.is_dir() => tmp.to_path_buf(),
        _ => env_temp.to_path_buf(),
    }
}

/// The lock file for a missing FILE: one per user, directory and name.
fn lock_path(lock_dir: &Path, dir: &fs::Metadata, file_name: &OsStr) -> PathBuf {
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
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Which file, and which version of it: the inode tells a rename over FILE,
/// size and mtime tell a program that rewrote it in place (the advisory lock
/// only keeps other orstreams out).
type FileId = (u64, u64, u64, i64, i64);

fn file_id(meta: &fs::Metadata) -> FileId {
    (
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Whether files can be created in `dir` (write and search permission,
/// a read-only filesystem counts as no).
fn may_write_in(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Creates the new file in FILE's directory, 0600: unnamed where the
/// system allows (Linux `O_TMPFILE`, and `unnamed`), its name `None`; else
/// a named temp file (O_EXCL) registered for `cleanup_on_exit`.
fn create_temp(
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
fn create_unnamed(dir: &Path) -> io::Result<Option<File>> {
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
fn link_temp(file: &File, dir: &Path, file_name: &OsStr, temps: &Temps) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let proc = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let ((), path) = with_temp_name(dir, file_name, |path| temps.link(&proc, path))?;
    Ok(path)
}

/// Never called: elsewhere the new file is named from the start.
#[cfg(not(target_os = "linux"))]
fn link_temp(_: &File, _: &Path, _: &OsStr, _: &Temps) -> io::Result<PathBuf> {
    Err(io::Error::other("the new file has no name"))
}

/// Calls `make` with a free temp name beside FILE,
/// `.FILE.orstream-PID-N.tmp`, until it does not find the name taken.
fn with_temp_name<T>(
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
type Ino = (u64, u64);

/// The temp files of saves in progress and the lock file of a missing
/// FILE, so the signal thread can remove them. Creating, locking, linking,
/// renaming and removing happen under the mutex, so once `close` has run
/// no temp or lock file appears and no rename happens.
struct Temps(Mutex<TempState>);

struct TempState {
    /// Named temp files beside FILE.
    paths: Vec<PathBuf>,
    /// Lock files this process holds, each with the inode it locked.
    locks: Vec<(PathBuf, Ino)>,
    closed: bool,
}

static TEMPS: Temps = Temps::new();

impl Temps {
    const fn new() -> Temps {
        Temps(Mutex::new(TempState {
            paths: Vec::new(),
            locks: Vec::new(),
            closed: false,
        }))
    }

    /// The registry, held: a lock file is created and registered under it.
    fn open(&self) -> io::Result<MutexGuard<'_, TempState>> {
        let state = lock(&self.0);
        if state.closed {
            return Err(interrupted());
        }
        Ok(state)
    }

    fn create(&self, path: &Path) -> io::Result<File> {
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
    fn link(&self, proc: &std::ffi::CStr, path: &Path) -> io::Result<()> {
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

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.open()?;
        fs::rename(from, to)?;
        state.paths.retain(|p| p != from);
        Ok(())
    }

    fn discard(&self, path: &Path) {
        let mut state = lock(&self.0);
        let _ = fs::remove_file(path);
        state.paths.retain(|p| p != path);
    }

    /// Unlinks a lock file this process holds (still locked, by the
    /// caller) and forgets it; nothing when `close` already did.
    fn release_lock(&self, path: &Path, ino: Ino) {
        let mut state = lock(&self.0);
        if let Some(i) = state.locks.iter().position(|l| l.0 == path && l.1 == ino) {
            state.locks.swap_remove(i);
            unlink_lock(path, ino);
        }
    }

    fn close(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        for path in state.paths.drain(..) {
            let _ = fs::remove_file(path);
        }
        for (path, ino) in state.locks.drain(..) {
            unlink_lock(&path, ino);
        }
    }
}

/// Unlinks the lock file at `path` if it still is the inode this process
/// locked (and holds open, so the inode number cannot have been reused).
fn unlink_lock(path: &Path, ino: Ino) {
    if let Ok(now) = fs::symlink_metadata(path) {
        if (now.dev(), now.ino()) == ino {
            let _ = fs::remove_file(path);
        }
    }
}

fn interrupted() -> io::Error {
    io::Error::other("interrupted")
}

/// A mutex that a panic elsewhere must not make unusable: the data is a
/// list of paths or a file handle, never half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn usage(name: &str, reason: &str) -> Failure {
    Failure::usage(format!("-c {name}: {reason}"))
}

fn in_use(name: &str) -> Failure {
    Failure::usage(format!("{name} is in use by another orstream"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A fresh directory under the temp directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "orstream-chat-test-{}-{n}-{label}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            Dir(path)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// The names in the directory, sorted.
        fn list(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const BODY: &str = "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n      \"content\": \"hi\"\n    }\n  ]\n}\n";

    fn save_text(chat: &Chat, text: &str) -> Result<(), Failure> {
        chat.save(&mut |w| w.write_all(text.as_bytes()))
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn ino(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn missing_file_is_new_and_leaves_nothing() {
        let dir = Dir::new("missing");
        let path = dir.file("c.json");
        let chat = Chat::open(&path).unwrap();
        assert!(chat.body().is_none());
        assert!(dir.list().is_empty());
        let lock = lock_path(
            &lock_dir(Path::new("/tmp"), &std::env::temp_dir()),
            &fs::metadata(&dir.0).unwrap(),
            OsStr::new("c.json"),
        );
        assert!(lock.exists());
        drop(chat);
        assert!(dir.list().is_empty());
        assert!(!lock.exists(), "{} left behind", lock.display());
    }

    #[test]
    fn empty_and_blank_files_are_new() {
        let dir = Dir::new("empty");
        for (i, text) in ["", "\n", " \t\r\n ", "\u{feff}\n"].iter().enumerate() {
            let path = dir.file(&format!("c{i}.json"));
            fs::write(&path, text).unwrap();
            let chat = Chat::open(&path).unwrap();
            assert!(chat.body().is_none(), "{text:?}");
        }
    }

    #[test]
    fn valid_file_keeps_key_order() {
        let dir = Dir::new("valid");
        let path = dir.file("c.json");
        let text = r#"{"z":1,"messages":[{"role":"user","content":"hi"}],"a":2,"model":"m"}"#;
        fs::write(&path, text).unwrap();
        let mut chat = Chat::open(&path).unwrap();
        assert_eq!(serde_json::to_string(chat.body().unwrap()).unwrap(), text);
        let body = chat.take_body().unwrap();
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
        assert!(chat.body().is_none());
    }

    #[test]
    fn invalid_content_names_the_file_with_line_and_column() {
        let dir = Dir::new("invalid");
        let path = dir.file("c.json");
        let name = path.display().to_string();
        let cases = [
            ("{\n  \"messages\": [\n", "invalid JSON", "line 3 column 0"),
            ("[1]", "not a chat request", "line 1 column"),
            (
                r#"{"model":"x"}"#,
                "missing field `messages`",
                "line 1 column 13",
            ),
            (
                r#"{"messages":"hi"}"#,
                "not a chat request",
                "line 1 column",
            ),
            ("{} x", "invalid JSON", "line 1 column"),
        ];
        for (text, what, at) in cases {
            fs::write(&path, text).unwrap();
            let e = Chat::open(&path).err().unwrap();
            assert_eq!(e.kind.code(), 2, "{text}");
            assert!(
                e.message.starts_with(&format!("-c {name}: ")),
                "{}",
                e.message
            );
            assert!(e.message.contains(what), "{}", e.message);
            assert!(e.message.contains(at), "{}", e.message);
        }
        fs::write(&path, b"{\"messages\":[\"\xff\"]}").unwrap();
        let e = Chat::open(&path).err().unwrap();
        assert_eq!(
            e.message,
            format!("-c {name} is not valid UTF-8 (first bad byte at offset 14)")
        );
        let e = Chat::open(&dir.0).err().unwrap();
        assert_eq!(e.kind.code(), 2);
        assert!(e.message.ends_with(": is a directory"), "{}", e.message);
        let e = Chat::open(&dir.file("no/such/c.json")).err().unwrap();
        assert_eq!(e.kind.code(), 2);
        assert!(e.message.ends_with(": no such directory"), "{}", e.message);
    }

    #[test]
    fn second_open_is_refused_while_the_first_lives() {
        let dir = Dir::new("busy");
        for existing in [true, false] {
            let path = dir.file(&format!("c-{existing}.json"));
            if existing {
                fs::write(&path, BODY).unwrap();
            }
            let first = Chat::open(&path).unwrap();
            let e = Chat::open(&path).err().unwrap();
            assert_eq!(e.kind.code(), 2);
            assert_eq!(
                e.message,
                format!("{} is in use by another orstream", path.display())
            );
            // Still refused after the first saved: the new file is locked
            // before it takes FILE's place.
            save_text(&first, BODY).unwrap();
            let e = Chat::open(&path).err().unwrap();
            assert!(e.message.ends_with("is in use by another orstream"));
            drop(first);
            let next = Chat::open(&path).unwrap();
            assert!(next.body().is_some());
        }
    }

    #[test]
    fn save_new_file_is_0600() {
        let dir = Dir::new("new");
        let path = dir.file("c.json");
        let chat = Chat::open(&path).unwrap();
        save_text(&chat, BODY).unwrap();
        drop(chat);
        assert_eq!(fs::read_to_string(&path).unwrap(), BODY);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(dir.list(), ["c.json"]);
    }

    #[test]
    fn save_replaces_and_keeps_the_mode() {
        let dir = Dir::new("mode");
        for text in [BODY, ""] {
            let path = dir.file("c.json");
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            let before = ino(&path);
            let chat = Chat::open(&path).unwrap();
            save_text(&chat, "{\"messages\":[]}\n").unwrap();
            drop(chat);
            assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}\n");
            assert_eq!(mode(&path), 0o640);
            assert_ne!(ino(&path), before, "not replaced by a rename");
            assert_eq!(dir.list(), ["c.json"]);
        }
    }

    #[test]
    fn failed_save_leaves_everything_as_it_was() {
        let dir = Dir::new("fail");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let chat = Chat::open(&path).unwrap();
        let e = chat
            .save(&mut |w| {
                w.write_all(&[b'x'; 100_000])?;
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            })
            .unwrap_err();
        assert_eq!(e.kind.code(), 1);
        assert_eq!(
            e.message,
            format!(
                "cannot save the conversation to {}: no space left on device",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), BODY.as_bytes());
        assert_eq!(dir.list(), ["c.json"]);
        // Still held, and a later save still works.
        assert!(Chat::open(&path).is_err());
        save_text(&chat, "{\"messages\":[]}").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}");

        let missing = dir.file("new.json");
        let chat = Chat::open(&missing).unwrap();
        let e = chat
            .save(&mut |_| Err(io::Error::other("boom")))
            .unwrap_err();
        assert!(e.message.ends_with(": boom"), "{}", e.message);
        drop(chat);
        assert_eq!(dir.list(), ["c.json"]);
    }

    #[test]
    fn the_next_open_sees_the_saved_conversation() {
        let dir = Dir::new("next");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let chat = Chat::open(&path).unwrap();
        let saved = saved_body(chat.body().unwrap().clone(), "hello");
        save_text(&chat, &serde_json::to_string_pretty(&saved).unwrap()).unwrap();
        drop(chat);
        let chat = Chat::open(&path).unwrap();
        assert_eq!(chat.body(), Some(&saved));
    }

    #[test]
    fn a_file_replaced_during_the_run_is_not_overwritten() {
        let dir = Dir::new("replaced");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let chat = Chat::open(&path).unwrap();
        // An editor saving FILE: a new file renamed over it.
        let other = dir.file("edited");
        fs::write(&other, "edited").unwrap();
        fs::rename(&other, &path).unwrap();
        let e = save_text(&chat, BODY).unwrap_err();
        assert_eq!(e.kind.code(), 1);
        assert!(e
            .message
            .ends_with("changed by another program during this run"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "edited");
        assert_eq!(dir.list(), ["c.json"]);

        let missing = dir.file("new.json");
        let chat = Chat::open(&missing).unwrap();
        fs::write(&missing, "created").unwrap();
        let e = save_text(&chat, BODY).unwrap_err();
        assert!(e
            .message
            .ends_with("created by another program during this run"));
        assert_eq!(fs::read_to_string(&missing).unwrap(), "created");
    }

    #[test]
    fn symlinks_are_followed_and_stay_links() {
        let dir = Dir::new("link");
        let target = dir.file("real.json");
        fs::write(&target, BODY).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.file("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        let chat = Chat::open(&link).unwrap();
        assert!(chat.body().is_some());
        // Locked through either name.
        assert!(Chat::open(&target).is_err());
        save_text(&chat, "{\"messages\":[]}").unwrap();
        drop(chat);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "{\"messages\":[]}");
        assert_eq!(mode(&target), 0o644);
        assert_eq!(dir.list(), ["link.json", "real.json"]);

        // A dangling link: the target is created, as `>` would.
        let dangling = dir.file("dangling.json");
        std::os::unix::fs::symlink("later.json", &dangling).unwrap();
        let chat = Chat::open(&dangling).unwrap();
        assert!(chat.body().is_none());
        save_text(&chat, BODY).unwrap();
        drop(chat);
        assert_eq!(fs::read_to_string(dir.file("later.json")).unwrap(), BODY);
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(mode(&dir.file("later.json")), 0o600);
    }

    #[test]
    fn cleanup_removes_temp_files_and_stops_saves() {
        // A private registry: closing the shared one would fail the other tests.
        let temps = Temps::new();
        let dir = Dir::new("cleanup");
        let temp = dir.file(".c.json.tmp");
        let _file = temps.create(&temp).unwrap();
        assert_eq!(mode(&temp), 0o600);
        temps.close();
        assert!(dir.list().is_empty());
        assert!(temps.create(&dir.file("again")).is_err());
        assert!(dir.list().is_empty());
        fs::write(&temp, "x").unwrap();
        assert!(temps.rename(&temp, &dir.file("c.json")).is_err());
        assert_eq!(dir.list(), [".c.json.tmp"]);
    }

    #[test]
    fn saved_body_drops_stream_fields_and_appends_the_answer() {
        let sent: Map<String, Value> = serde_json::from_str(
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"q"}],"stream_options":{"include_usage":true},"temperature":0.5}"#,
        )
        .unwrap();
        let saved = saved_body(sent, "é \"a\"");
        assert_eq!(
            serde_json::to_string(&saved).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"é \"a\""}],"temperature":0.5}"#
        );
    }

    /// A registry of its own for a test that closes it: closing `TEMPS`
    /// would fail the other tests.
    fn private_temps() -> &'static Temps {
        Box::leak(Box::new(Temps::new()))
    }

    fn lock_file_of(chat: &Chat) -> PathBuf {
        chat.lock_file.as_ref().unwrap().1.clone()
    }

    #[test]
    fn the_lock_of_a_missing_file_ignores_tmpdir() {
        let dir = Dir::new("tmpdir");
        let (env_a, env_b) = (Dir::new("tmpdir-a"), Dir::new("tmpdir-b"));
        let path = dir.file("c.json");
        // Two runs whose TMPDIR differ still meet on one lock.
        let first = Chat::open_in(&path, &env_a.0, &TEMPS).unwrap();
        let e = Chat::open_in(&path, &env_b.0, &TEMPS).err().unwrap();
        assert_eq!(
            e.message,
            format!("{} is in use by another orstream", path.display())
        );
        let lock = lock_file_of(&first);
        if Path::new("/tmp").is_dir() {
            assert_eq!(lock.parent(), Some(Path::new("/tmp")));
            assert!(env_a.list().is_empty() && env_b.list().is_empty());
        }
        assert_eq!(mode(&lock), 0o600);
        assert!(dir.list().is_empty());
        drop(first);
        assert!(!lock.exists());
        Chat::open_in(&path, &env_b.0, &TEMPS).unwrap();

        // The environment's directory only when /tmp is not one.
        assert_eq!(lock_dir(&dir.0, &env_a.0), dir.0);
        assert_eq!(lock_dir(&dir.file("none"), &env_a.0), env_a.0);
        fs::write(dir.file("file"), "").unwrap();
        assert_eq!(lock_dir(&dir.file("file"), &env_b.0), env_b.0);
    }

    #[test]
    fn cleanup_unlinks_the_lock_file() {
        let dir = Dir::new("cleanup-lock");
        let path = dir.file("c.json");
        let temps = private_temps();
        let chat = Chat::open_in(&path, &std::env::temp_dir(), temps).unwrap();
        let lock = lock_file_of(&chat);
        assert!(lock.exists());
        temps.close();
        assert!(!lock.exists(), "{} left behind", lock.display());
        // No lock file is made once closed.
        assert!(Chat::open_in(&dir.file("d.json"), &std::env::temp_dir(), temps).is_err());
        // The path is another run's lock now: neither a second close nor
        // the drop touches it.
        let other = Chat::open(&path).unwrap();
        assert_eq!(lock_file_of(&other), lock);
        temps.close();
        drop(chat);
        assert!(lock.exists());
        drop(other);
        assert!(!lock.exists());
        assert!(dir.list().is_empty());
    }

    #[test]
    fn cleanup_leaves_a_lock_file_that_was_replaced() {
        let dir = Dir::new("cleanup-replaced");
        let temps = private_temps();
        let chat = Chat::open_in(&dir.file("c.json"), &std::env::temp_dir(), temps).unwrap();
        let lock = lock_file_of(&chat);
        fs::remove_file(&lock).unwrap();
        fs::write(&lock, "").unwrap();
        temps.close();
        assert!(lock.exists());
        drop(chat);
        assert!(lock.exists());
        fs::remove_file(&lock).unwrap();
    }

    /// Whether the system gives `dir` unnamed files.
    fn unnamed_works(dir: &Path) -> bool {
        #[cfg(target_os = "linux")]
        return create_unnamed(dir).unwrap().is_some();
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    #[test]
    fn a_save_shows_nothing_beside_file_while_it_writes() {
        let dir = Dir::new("unnamed");
        let unnamed = unnamed_works(&dir.0);
        if cfg!(target_os = "linux") {
            // ext4, tmpfs, xfs, btrfs: where the tests run.
            assert!(unnamed, "no O_TMPFILE in {}", dir.0.display());
        }
        for existing in [false, true] {
            let path = dir.file("c.json");
            if existing {
                fs::write(&path, BODY).unwrap();
            }
            let before = dir.list();
            let chat = Chat::open(&path).unwrap();
            let mut seen = Vec::new();
            chat.save(&mut |w| {
                seen.push(dir.list());
                w.write_all(BODY.as_bytes())?;
                w.flush()?;
                seen.push(dir.list());
                Ok(())
            })
            .unwrap();
            assert_eq!(dir.list(), ["c.json"]);
            if unnamed {
                assert_eq!(seen, [before.clone(), before], "existing: {existing}");
            }
            drop(chat);
            assert_eq!(fs::read_to_string(&path).unwrap(), BODY);
            assert_eq!(mode(&path), 0o600);
            assert_eq!(dir.list(), ["c.json"]);
        }
        // A failed unnamed save: nothing to remove, nothing left.
        let path = dir.file("c.json");
        let chat = Chat::open(&path).unwrap();
        let e = chat
            .save(&mut |w| {
                w.write_all(b"x")?;
                Err(io::Error::other("boom"))
            })
            .unwrap_err();
        assert!(e.message.ends_with(": boom"), "{}", e.message);
        assert_eq!(dir.list(), ["c.json"]);
        assert_eq!(fs::read_to_string(&path).unwrap(), BODY);
    }

    #[test]
    fn the_named_fallback_is_removed_after_the_save() {
        let dir = Dir::new("named");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let mut chat = Chat::open(&path).unwrap();
        chat.unnamed = false;
        let mut seen = Vec::new();
        chat.save(&mut |w| {
            seen = dir.list();
            w.write_all(b"{\"messages\":[]}")
        })
        .unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].starts_with(".c.json.orstream-") && seen[0].ends_with(".tmp"),
            "{seen:?}"
        );
        assert_eq!(dir.list(), ["c.json"]);
        assert_eq!(mode(&path), 0o640);
        assert!(Chat::open(&path).is_err(), "still locked after the save");
        let e = chat
            .save(&mut |_| Err(io::Error::other("boom")))
            .unwrap_err();
        assert!(e.message.ends_with(": boom"), "{}", e.message);
        assert_eq!(dir.list(), ["c.json"]);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}");
    }

    #[test]
    fn saved_body_moves_a_large_history() {
        let big = "x".repeat(1 << 20);
        let mut sent = Map::new();
        sent.insert("stream".into(), Value::Bool(true));
        sent.insert(
            "messages".into(),
            serde_json::json!([{"role": "user", "content": big}]),
        );
        let ptr = sent["messages"][0]["content"].as_str().unwrap().as_ptr();
        let saved = saved_body(sent, "a");
        // The same string buffer: moved, not copied.
        assert_eq!(
            saved["messages"][0]["content"].as_str().unwrap().as_ptr(),
            ptr
        );
        assert_eq!(saved["messages"][1]["content"], "a");
        assert!(!saved.contains_key("stream"));
    }

    #[test]
    fn lock_names_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
