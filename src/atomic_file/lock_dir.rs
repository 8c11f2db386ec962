//! Where the lock of a missing FILE lives: only in directories no other
//! user can write, so that nobody else can block or redirect it.
//!
//! Two places, each checked before use (a directory, not a symbolic link,
//! the user's, mode 0700): `$XDG_RUNTIME_DIR`, and `orstream-UID` in `/tmp`
//! (created if missing; `/tmp` whatever `$TMPDIR` says, so runs with
//! different environments agree on it). A run locks in every place that
//! passes, so two runs meet on the shared `/tmp` one even when only one of
//! them has `$XDG_RUNTIME_DIR`; another user's `orstream-UID` in `/tmp`
//! leaves the runtime directory alone, and with neither the run is refused.

use crate::exit::io_reason;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where lock directories may be, as the environment names them.
pub(super) struct Places {
    /// `/tmp`, the same for every run.
    pub tmp: PathBuf,
    /// The environment's temp directory, used only when `tmp` is not a
    /// directory.
    pub env_temp: PathBuf,
    /// `$XDG_RUNTIME_DIR`.
    pub runtime: Option<PathBuf>,
}

impl Places {
    pub fn from_env() -> Places {
        Places {
            tmp: PathBuf::from("/tmp"),
            env_temp: std::env::temp_dir(),
            runtime: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// The checked directories to lock a missing FILE in, the runtime one
/// first; `Err` with the reasons when none may be used.
pub(super) fn lock_dirs(places: &Places, euid: u32) -> Result<Vec<PathBuf>, String> {
    let runtime = match &places.runtime {
        None => Err("XDG_RUNTIME_DIR is not set".to_string()),
        Some(dir) if !dir.is_absolute() => Err(format!(
            "XDG_RUNTIME_DIR ({}) is not absolute",
            dir.display()
        )),
        Some(dir) => checked(dir, euid)
            .map(|()| dir.clone())
            .map_err(|why| format!("XDG_RUNTIME_DIR {} {why}", dir.display())),
    };
    let base = match fs::metadata(&places.tmp) {
        Ok(meta) if meta.is_dir() => &places.tmp,
        _ => &places.env_temp,
    };
    let per_user = per_user_dir(base, euid);
    match (runtime, per_user) {
        (Ok(a), Ok(b)) => Ok(vec![a, b]),
        (Ok(a), Err(_)) => Ok(vec![a]),
        (Err(_), Ok(b)) => Ok(vec![b]),
        (Err(a), Err(b)) => Err(format!("no safe directory for its lock: {b}, and {a}")),
    }
}

/// `orstream-UID` in `base`, created mode 0700 if missing, then checked.
pub(super) fn per_user_dir(base: &Path, euid: u32) -> Result<PathBuf, String> {
    let dir = base.join(format!("orstream-{euid}"));
    match DirBuilder::new().mode(0o700).create(&dir) {
        // The umask may have taken bits away. Ours now, and `base` is
        // sticky: nobody else can swap it before the chmod.
        Ok(()) => fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
            format!(
                "cannot set the mode of {}: {}",
                dir.display(),
                io_reason(&e)
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "cannot create {}: {}",
                dir.display(),
                io_reason(&e)
            ))
        }
    }
    checked(&dir, euid).map_err(|why| format!("{} {why}", dir.display()))?;
    Ok(dir)
}

/// Whether `dir` is private to `euid`; `Err` says what it is instead
/// ("is another user's (uid 65534)").
fn checked(dir: &Path, euid: u32) -> Result<(), String> {
    let meta =
        fs::symlink_metadata(dir).map_err(|e| format!("cannot be used: {}", io_reason(&e)))?;
    private(&meta, euid)
}

/// A directory, not a symbolic link, owned by `euid`, mode 0700.
pub(super) fn private(meta: &fs::Metadata, euid: u32) -> Result<(), String> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        Err("is a symbolic link".into())
    } else if !kind.is_dir() {
        Err("is not a directory".into())
    } else if meta.uid() != euid {
        Err(format!("is another user's (uid {})", meta.uid()))
    } else if meta.mode() & 0o7777 != 0o700 {
        Err(format!("has mode {:04o}, not 0700", meta.mode() & 0o7777))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::euid;
    use super::*;
    use crate::test_support::Dir;
    use std::os::unix::fs::{chown, symlink};

    const OTHER: u32 = 65534;

    fn places(tmp: &Path, runtime: Option<&Path>) -> Places {
        Places {
            tmp: tmp.to_path_buf(),
            env_temp: PathBuf::from("/nonexistent-env-temp"),
            runtime: runtime.map(Path::to_path_buf),
        }
    }

    fn private_dir(dir: &Dir, name: &str) -> PathBuf {
        let path = dir.file(name);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    #[test]
    fn the_per_user_directory_is_made_private_and_reused() {
        let dir = Dir::new("lockdir-new");
        let me = euid();
        let made = per_user_dir(&dir.0, me).unwrap();
        assert_eq!(made, dir.file(&format!("orstream-{me}")));
        let meta = fs::symlink_metadata(&made).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(per_user_dir(&dir.0, me).unwrap(), made);
        let runtime = private_dir(&dir, "run");
        assert_eq!(
            lock_dirs(&places(&dir.0, Some(&runtime)), me).unwrap(),
            [runtime.clone(), made.clone()]
        );
        assert_eq!(lock_dirs(&places(&dir.0, None), me).unwrap(), [made]);
    }

    #[test]
    fn what_is_not_private_is_not_used() {
        let dir = Dir::new("lockdir-bad");
        let me = euid();
        let open = dir.file("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        let target = private_dir(&dir, "target");
        let link = dir.file("link");
        symlink(&target, &link).unwrap();
        fs::write(dir.file("file"), "").unwrap();
        let cases = [
            (open.clone(), "has mode 0755, not 0700".to_string()),
            (link, "is a symbolic link".into()),
            (dir.file("file"), "is not a directory".into()),
            (dir.file("none"), "cannot be used: no such file".into()),
        ];
        for (path, why) in cases {
            assert_eq!(checked(&path, me), Err(why), "{}", path.display());
        }
        // An unusable XDG_RUNTIME_DIR is passed over for /tmp's.
        let tmp = Dir::new("lockdir-bad-tmp");
        let got = lock_dirs(&places(&tmp.0, Some(&open)), me).unwrap();
        assert_eq!(got, [tmp.file(&format!("orstream-{me}"))]);
        let got = lock_dirs(&places(&tmp.0, Some(Path::new("run"))), me).unwrap();
        assert_eq!(got.len(), 1);
    }

    /// Needs root, as the suite runs: a directory another user planted.
    #[test]
    fn another_users_directory_in_tmp_is_refused_or_passed_over() {
        if euid() != 0 {
            return;
        }
        let tmp = Dir::new("lockdir-planted");
        let planted = tmp.file("orstream-0");
        fs::create_dir(&planted).unwrap();
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o700)).unwrap();
        chown(&planted, Some(OTHER), Some(OTHER)).unwrap();
        let e = lock_dirs(&places(&tmp.0, None), 0).unwrap_err();
        assert_eq!(
            e,
            format!(
                "no safe directory for its lock: {} is another user's (uid {OTHER}), \
                 and XDG_RUNTIME_DIR is not set",
                planted.display()
            )
        );
        let other_run = Dir::new("lockdir-planted-run");
        chown(&other_run.0, Some(OTHER), None).unwrap();
        fs::set_permissions(&other_run.0, fs::Permissions::from_mode(0o700)).unwrap();
        let e = lock_dirs(&places(&tmp.0, Some(&other_run.0)), 0).unwrap_err();
        assert!(
            e.ends_with(&format!(
                "and XDG_RUNTIME_DIR {} is another user's (uid {OTHER})",
                other_run.0.display()
            )),
            "{e}"
        );
        let run = private_dir(&tmp, "run");
        assert_eq!(lock_dirs(&places(&tmp.0, Some(&run)), 0).unwrap(), [run]);
    }
}
