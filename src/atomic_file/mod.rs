//! A file that one process at a time may replace: locked for the whole
//! run, then replaced atomically. It knows nothing of what the file holds.
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
//! without it, it is a named temp file from the start. The rename is the
//! last step that can fail, and the signal thread learns of it
//! ([`cleanup_on_exit`]): a signal after it is a saved turn, not a lost one.
//!
//! Symlinks: FILE is followed to its final target (even a dangling one, as
//! a shell's `>` would), and the target is replaced in its own directory,
//! so a link (into a dotfiles checkout, say) stays a link and sees the new
//! content, instead of being silently turned into a regular file.

mod lock;
mod temps;

use crate::exit::io_reason;
use crate::fileid::FileId;
use lock::{lock_dir, lock_existing, lock_missing, resolve, split};
use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use temps::{create_temp, link_temp, lock, Ino, Temps, TEMPS};

/// How many times `open` starts over because other runs finished meanwhile
/// before it gives up as if FILE were in use.
const ATTEMPTS: usize = 100;

/// Why a file could not be locked.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Another orstream holds it.
    InUse,
    /// The path cannot be used as asked (the user's to fix): the reason.
    Path(String),
    /// The lock file of a missing FILE failed: its path and the reason.
    Lock(PathBuf, String),
}

/// A locked file. The lock lives as long as the value: save before
/// dropping it.
pub struct LockedFile {
    /// FILE with symlinks followed: what is read, locked and replaced.
    target: PathBuf,
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

/// A locked file and what it held: `None` when it did not exist.
pub type Opened = (LockedFile, Option<Vec<u8>>);

impl LockedFile {
    /// Locks the file at `path` and reads it. Another orstream holding it
    /// is [`OpenError::InUse`] at once.
    pub fn open(path: &Path) -> Result<Opened, OpenError> {
        LockedFile::open_in(path, &std::env::temp_dir(), &TEMPS)
    }

    /// `open` with the temp directory the environment names (only a
    /// fallback for the lock file's directory) and the registry given.
    fn open_in(path: &Path, env_temp: &Path, temps: &'static Temps) -> Result<Opened, OpenError> {
        let locks = lock_dir(Path::new("/tmp"), env_temp);
        for _ in 0..ATTEMPTS {
            // Inside the loop: a symlink may have been put there meanwhile.
            let target = resolve(path).map_err(|e| OpenError::Path(io_reason(&e)))?;
            let locked = match fs::metadata(&target) {
                Ok(meta) if meta.is_dir() => return Err(path_error("is a directory")),
                Ok(meta) if !meta.is_file() => return Err(path_error("not a regular file")),
                Ok(_) => lock_existing(&target, temps)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    lock_missing(&target, &locks, temps)?.map(|file| (file, None))
                }
                Err(e) => return Err(OpenError::Path(io_reason(&e))),
            };
            if let Some(opened) = locked {
                return Ok(opened);
            }
        }
        Err(OpenError::InUse)
    }

    /// Replaces FILE atomically with what `write` streams (through a
    /// buffer): a new file beside it (unnamed until right before the rename
    /// where the system allows), flushed to disk, with FILE's mode (0600 for
    /// a new one), renamed over it. On any failure FILE is left as it was, a
    /// missing one is not created, the new file is removed, and the reason
    /// is returned.
    pub fn save(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), String> {
        let (dir, file_name) = split(&self.target).ok_or("not a file name")?;
        let (file, mut temp) =
            create_temp(&dir, file_name, self.temps, self.unnamed).map_err(|e| io_reason(&e))?;
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
                Err(e)
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
        let id = FileId::of(&file.metadata().map_err(reason)?);
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
            (Ok(meta), Some(id)) if FileId::of(&meta) == id => Ok(()),
            (Ok(_), Some(_)) => Err("it was changed by another program during this run".into()),
            (Ok(_), None) => Err("it was created by another program during this run".into()),
            (Err(e), None) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            (Err(e), None) => Err(io_reason(&e)),
            (Err(_), Some(_)) => Err("it was removed by another program during this run".into()),
        }
    }
}

impl Drop for LockedFile {
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
/// exits. Any later save fails, so FILE stays as it was. Returns whether a
/// save had already renamed its new file over FILE: the turn is saved
/// then, and the run has succeeded.
pub fn cleanup_on_exit() -> bool {
    TEMPS.close()
}

fn path_error(reason: &str) -> OpenError {
    OpenError::Path(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::lock::{fnv1a, lock_path};
    use super::temps::create_unnamed;
    use super::*;
    use crate::test_support::Dir;

    const BODY: &str = "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n      \"content\": \"hi\"\n    }\n  ]\n}\n";

    fn save_text(file: &LockedFile, text: &str) -> Result<(), String> {
        file.save(&mut |w| w.write_all(text.as_bytes()))
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
        let (chat, bytes) = LockedFile::open(&path).unwrap();
        assert_eq!(bytes, None);
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
    fn save_new_file_is_0600() {
        let dir = Dir::new("new");
        let path = dir.file("c.json");
        let (chat, _) = LockedFile::open(&path).unwrap();
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
            let (chat, _) = LockedFile::open(&path).unwrap();
            save_text(&chat, "{\"messages\":[]}\n").unwrap();
            drop(chat);
            assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}\n");
            assert_eq!(mode(&path), 0o640);
            assert_ne!(ino(&path), before, "not replaced by a rename");
            assert_eq!(dir.list(), ["c.json"]);
        }
    }

    #[test]
    fn a_file_replaced_during_the_run_is_not_overwritten() {
        let dir = Dir::new("replaced");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let (chat, _) = LockedFile::open(&path).unwrap();
        // An editor saving FILE: a new file renamed over it.
        let other = dir.file("edited");
        fs::write(&other, "edited").unwrap();
        fs::rename(&other, &path).unwrap();
        let e = save_text(&chat, BODY).unwrap_err();
        assert!(e.ends_with("changed by another program during this run"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "edited");
        assert_eq!(dir.list(), ["c.json"]);

        let missing = dir.file("new.json");
        let (chat, _) = LockedFile::open(&missing).unwrap();
        fs::write(&missing, "created").unwrap();
        let e = save_text(&chat, BODY).unwrap_err();
        assert!(e.ends_with("created by another program during this run"));
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
        let (chat, bytes) = LockedFile::open(&link).unwrap();
        assert_eq!(bytes.as_deref(), Some(BODY.as_bytes()));
        // Locked through either name.
        assert!(LockedFile::open(&target).is_err());
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
        let (chat, bytes) = LockedFile::open(&dangling).unwrap();
        assert_eq!(bytes, None);
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

    /// A registry of its own for a test that closes it: closing `TEMPS`
    /// would fail the other tests.
    fn private_temps() -> &'static Temps {
        Box::leak(Box::new(Temps::new()))
    }

    fn lock_file_of(chat: &LockedFile) -> PathBuf {
        chat.lock_file.as_ref().unwrap().1.clone()
    }

    #[test]
    fn the_lock_of_a_missing_file_ignores_tmpdir() {
        let dir = Dir::new("tmpdir");
        let (env_a, env_b) = (Dir::new("tmpdir-a"), Dir::new("tmpdir-b"));
        let path = dir.file("c.json");
        // Two runs whose TMPDIR differ still meet on one lock.
        let (first, _) = LockedFile::open_in(&path, &env_a.0, &TEMPS).unwrap();
        let e = LockedFile::open_in(&path, &env_b.0, &TEMPS).err().unwrap();
        assert_eq!(e, OpenError::InUse);
        let lock = lock_file_of(&first);
        if Path::new("/tmp").is_dir() {
            assert_eq!(lock.parent(), Some(Path::new("/tmp")));
            assert!(env_a.list().is_empty() && env_b.list().is_empty());
        }
        assert_eq!(mode(&lock), 0o600);
        assert!(dir.list().is_empty());
        drop(first);
        assert!(!lock.exists());
        LockedFile::open_in(&path, &env_b.0, &TEMPS).unwrap();

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
        let (chat, _) = LockedFile::open_in(&path, &std::env::temp_dir(), temps).unwrap();
        let lock = lock_file_of(&chat);
        assert!(lock.exists());
        temps.close();
        assert!(!lock.exists(), "{} left behind", lock.display());
        // No lock file is made once closed.
        assert!(LockedFile::open_in(&dir.file("d.json"), &std::env::temp_dir(), temps).is_err());
        // The path is another run's lock now: neither a second close nor
        // the drop touches it.
        let (other, _) = LockedFile::open(&path).unwrap();
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
        let (chat, _) =
            LockedFile::open_in(&dir.file("c.json"), &std::env::temp_dir(), temps).unwrap();
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
            let (chat, _) = LockedFile::open(&path).unwrap();
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
        let (chat, _) = LockedFile::open(&path).unwrap();
        let e = chat
            .save(&mut |w| {
                w.write_all(b"x")?;
                Err(io::Error::other("boom"))
            })
            .unwrap_err();
        assert_eq!(e, "boom");
        assert_eq!(dir.list(), ["c.json"]);
        assert_eq!(fs::read_to_string(&path).unwrap(), BODY);
    }

    #[test]
    fn the_named_fallback_is_removed_after_the_save() {
        let dir = Dir::new("named");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let (mut chat, _) = LockedFile::open(&path).unwrap();
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
        assert!(
            LockedFile::open(&path).is_err(),
            "still locked after the save"
        );
        let e = chat
            .save(&mut |_| Err(io::Error::other("boom")))
            .unwrap_err();
        assert_eq!(e, "boom");
        assert_eq!(dir.list(), ["c.json"]);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}");
    }

    #[test]
    fn lock_names_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
