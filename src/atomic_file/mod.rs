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
//!   `kill -9` would leave it behind), so the lock is a file in each of the
//!   user's private lock directories (`lock_dir.rs`: `$XDG_RUNTIME_DIR`,
//!   `/tmp/orstream-UID`), named from the parent directory's `(dev, ino)`
//!   and the file name. Its holder unlinks it before closing, or the signal
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
//! Symlinks: every link on the way to FILE is followed (even a dangling
//! one, as a shell's `>` would), except another user's link in a
//! world-writable sticky directory (`path.rs`, the kernel's
//! `protected_symlinks` rule). The target is replaced in its own directory,
//! so a link (into a dotfiles checkout, say) stays a link and sees the new
//! content, instead of being silently turned into a regular file. FILE must
//! be the user's own.

mod lock;
mod lock_dir;
mod path;
mod publish;
mod temps;

pub use publish::publish;

use crate::exit::io_reason;
use crate::fileid::FileId;
use lock::{lock_existing, lock_missing};
use lock_dir::Places;
use path::{resolve, split};
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
    /// The lock files when FILE did not exist, each with its `(dev, ino)`.
    lock_files: Vec<(File, PathBuf, Ino)>,
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

/// What the new file takes from an existing FILE (always the user's own).
#[derive(Clone, Copy)]
struct Owner {
    mode: u32,
    gid: u32,
}

/// A locked file and what it held: `None` when it did not exist.
pub type Opened = (LockedFile, Option<Vec<u8>>);

impl LockedFile {
    /// Locks the file at `path` and reads it. Another orstream holding it
    /// is [`OpenError::InUse`] at once.
    pub fn open(path: &Path) -> Result<Opened, OpenError> {
        LockedFile::open_in(path, &Places::from_env(), &TEMPS)
    }

    /// `open` with the lock directories' places and the registry given.
    fn open_in(path: &Path, places: &Places, temps: &'static Temps) -> Result<Opened, OpenError> {
        for _ in 0..ATTEMPTS {
            // Inside the loop: a symlink may have been put there meanwhile.
            let target = resolve(path, euid()).map_err(OpenError::Path)?;
            let locked = match fs::symlink_metadata(&target) {
                // Put there since `resolve`: resolved (and judged) again.
                Ok(meta) if meta.file_type().is_symlink() => None,
                Ok(meta) if meta.is_dir() => return Err(path_error("is a directory")),
                Ok(meta) if !meta.is_file() => return Err(path_error("not a regular file")),
                Ok(_) => lock_existing(&target, temps)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    lock_missing(&target, places, temps)?.map(|file| (file, None))
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
                if meta.gid() != owner.gid {
                    // Best effort, like an editor: a group of ours is allowed.
                    let _ = std::os::unix::fs::fchown(file, None, Some(owner.gid));
                }
                // The permission bits only: a set-id or sticky bit (put
                // there by someone else, or by mistake) is not carried on.
                owner.mode & 0o777
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
        for (_file, path, ino) in &self.lock_files {
            self.temps.release_lock(path, *ino);
        }
    }
}

/// Removes a temp file left by a save in progress, and this run's lock
/// files; called from the signal thread right before the process exits.
/// Any later save fails, so FILE stays as it was. Returns whether a save
/// had already renamed its new file over FILE: the turn is saved then, and
/// the run has succeeded.
pub fn cleanup_on_exit() -> bool {
    TEMPS.close()
}

fn path_error(reason: &str) -> OpenError {
    OpenError::Path(reason.to_string())
}

/// The user whose files these are: the effective uid, as the kernel checks.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::lock::{fnv1a, lock_path};
    use super::temps::create_unnamed;
    use super::*;
    use crate::test_support::Dir;
    use std::os::unix::fs::chown;

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
            &lock_dir::per_user_dir(Path::new("/tmp"), euid()).unwrap(),
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
    fn save_replaces_and_keeps_the_mode_but_no_special_bits() {
        let dir = Dir::new("mode");
        for (text, before_mode, after_mode) in [
            (BODY, 0o640, 0o640),
            ("", 0o640, 0o640),
            (BODY, 0o6750, 0o750),
            (BODY, 0o1604, 0o604),
        ] {
            let path = dir.file("c.json");
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(before_mode)).unwrap();
            let before = ino(&path);
            let (chat, _) = LockedFile::open(&path).unwrap();
            save_text(&chat, "{\"messages\":[]}\n").unwrap();
            drop(chat);
            assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}\n");
            assert_eq!(mode(&path), after_mode, "{before_mode:o}");
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
        chat.lock_files.last().unwrap().1.clone()
    }

    fn private_dir(dir: &Dir, name: &str) -> PathBuf {
        let path = dir.file(name);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    #[test]
    fn the_lock_of_a_missing_file_is_met_whatever_the_environment() {
        let dir = Dir::new("envs");
        let envs = Dir::new("envs-places");
        let path = dir.file("c.json");
        let place = |temp: &str, runtime: Option<&str>| Places {
            tmp: PathBuf::from("/tmp"),
            env_temp: private_dir(&envs, temp),
            runtime: runtime.map(|r| private_dir(&envs, r)),
        };
        let (a, b, c) = (
            place("tmp-a", Some("run-a")),
            place("tmp-b", None),
            place("tmp-c", Some("run-c")),
        );
        let (first, _) = LockedFile::open_in(&path, &a, &TEMPS).unwrap();
        let locks: Vec<PathBuf> = first.lock_files.iter().map(|l| l.1.clone()).collect();
        let shared = lock_dir::per_user_dir(Path::new("/tmp"), euid()).unwrap();
        assert_eq!(locks.len(), 2, "{locks:?}");
        assert_eq!(locks[0].parent(), a.runtime.as_deref());
        assert_eq!(locks[1].parent(), Some(shared.as_path()));
        for other in [&b, &c, &a] {
            let e = LockedFile::open_in(&path, other, &TEMPS).err().unwrap();
            assert_eq!(e, OpenError::InUse);
        }
        for lock in &locks {
            assert_eq!(mode(lock), 0o600);
        }
        assert!(dir.list().is_empty());
        drop(first);
        assert!(locks.iter().all(|l| !l.exists()), "{locks:?}");
        // Nothing in the temp directories the environments named.
        for temp in ["tmp-a", "tmp-b", "tmp-c", "run-c"] {
            assert!(fs::read_dir(envs.file(temp)).unwrap().next().is_none());
        }
        let (second, _) = LockedFile::open_in(&path, &c, &TEMPS).unwrap();
        assert_eq!(second.lock_files.len(), 2);
    }

    /// Needs root, as the suite runs: another user's FILE.
    #[test]
    fn another_users_file_is_refused() {
        if euid() != 0 {
            return;
        }
        let dir = Dir::new("theirs");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        chown(&path, Some(65534), None).unwrap();
        let e = LockedFile::open(&path).err().unwrap();
        assert_eq!(
            e,
            OpenError::Path("it is another user's (uid 65534)".into())
        );
    }

    #[test]
    fn close_tells_whether_the_new_file_was_renamed_into_place() {
        let dir = Dir::new("committed");
        let temps = private_temps();
        let path = dir.file("c.json");
        let (chat, _) = LockedFile::open_in(&path, &Places::from_env(), temps).unwrap();
        save_text(&chat, "{}").unwrap();
        assert!(temps.close());
        drop(chat);
        let other = private_temps();
        let (chat, _) =
            LockedFile::open_in(&dir.file("d.json"), &Places::from_env(), other).unwrap();
        assert!(chat.save(&mut |_| Err(io::Error::other("boom"))).is_err());
        assert!(!other.close());
    }

    #[test]
    fn cleanup_unlinks_the_lock_file() {
        let dir = Dir::new("cleanup-lock");
        let path = dir.file("c.json");
        let temps = private_temps();
        let (chat, _) = LockedFile::open_in(&path, &Places::from_env(), temps).unwrap();
        let lock = lock_file_of(&chat);
        assert!(lock.exists());
        temps.close();
        assert!(!lock.exists(), "{} left behind", lock.display());
        // No lock file is made once closed.
        assert!(LockedFile::open_in(&dir.file("d.json"), &Places::from_env(), temps).is_err());
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
            LockedFile::open_in(&dir.file("c.json"), &Places::from_env(), temps).unwrap();
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
