//! FILE's path, resolved by us: every symbolic link on the way followed
//! under the kernel's `protected_symlinks` rule, and a path that names a
//! directory (`c.json/`, `dir/.`) refused before anything is paid for.

use crate::exit::io_reason;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Symlinks followed before giving up, as the kernel does (ELOOP).
const MAX_SYMLINKS: usize = 40;

/// Follows every symbolic link in `path`, component by component, to the
/// final target, which may not exist (a dangling link is followed, as a
/// shell's `>` would). A link in a world-writable sticky directory is
/// followed only when [`may_follow`] allows it. The result holds no
/// symbolic link; it is relative when `path` is and no absolute link was
/// met. `Err` is the reason, to be shown after FILE's name.
pub(super) fn resolve(path: &Path, euid: u32) -> Result<PathBuf, String> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.ends_with(b"/") {
        return Err("it ends in '/': FILE must name a file".into());
    }
    let mut done = start(bytes);
    // What is left to walk, last component first.
    let mut pending: Vec<Vec<u8>> = components(bytes);
    let mut links = 0;
    while let Some(name) = pending.pop() {
        match name.as_slice() {
            b"" | b"." if pending.is_empty() => return Err(names_a_directory()),
            b"" | b"." => {}
            b".." if pending.is_empty() => return Err(names_a_directory()),
            // `done` holds no link, so its parent is where `..` leads.
            b".." => parent(&mut done),
            _ => {
                let next = done.join(OsStr::from_bytes(&name));
                let meta = match fs::symlink_metadata(&next) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if pending.iter().any(|c| !c.is_empty() && c != b".") {
                            return Err("no such directory".into());
                        }
                        done = next;
                        continue;
                    }
                    Err(e) => return Err(io_reason(&e)),
                };
                if !meta.file_type().is_symlink() {
                    done = next;
                    continue;
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io_reason(&io::Error::from_raw_os_error(libc::ELOOP)));
                }
                let dir = fs::metadata(here(&done)).map_err(|e| io_reason(&e))?;
                if !may_follow(meta.uid(), dir.mode(), dir.uid(), euid) {
                    return Err(format!(
                        "the symbolic link {} is another user's (uid {}) in a \
                         world-writable sticky directory: not followed",
                        next.display(),
                        meta.uid()
                    ));
                }
                let link = fs::read_link(&next).map_err(|e| io_reason(&e))?;
                let link = link.as_os_str().as_bytes();
                if link.starts_with(b"/") {
                    done = PathBuf::from("/");
                }
                pending.extend(components(link));
            }
        }
    }
    if done.file_name().is_none() {
        return Err(names_a_directory());
    }
    Ok(done)
}

/// The kernel's `protected_symlinks` rule (`fs/namei.c`,
/// `may_follow_link`): a link may be followed by `euid` when it is theirs,
/// when its directory (`dir_mode`, owned by `dir_uid`) is not both sticky
/// and world-writable, or when the link's owner owns that directory.
pub(super) fn may_follow(link_uid: u32, dir_mode: u32, dir_uid: u32, euid: u32) -> bool {
    let sticky_shared = libc::S_ISVTX | libc::S_IWOTH;
    link_uid == euid || dir_mode & sticky_shared != sticky_shared || link_uid == dir_uid
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

fn names_a_directory() -> String {
    "it names a directory: FILE must name a file".into()
}

/// Where a walk of `path` starts: `/` or the current directory (empty).
fn start(path: &[u8]) -> PathBuf {
    if path.starts_with(b"/") {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }
}

/// `path`'s components, last first, empty ones kept (a trailing one means
/// "a directory"; others are skipped).
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    let path = path.strip_prefix(b"/").unwrap_or(path);
    path.split(|&b| b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

/// `done`, as a path to stat: the current directory when empty.
fn here(done: &Path) -> &Path {
    if done.as_os_str().is_empty() {
        Path::new(".")
    } else {
        done
    }
}

/// Goes up one directory: `/..` is `/`; above the start of a relative
/// path, `..` is kept.
fn parent(done: &mut PathBuf) {
    match done.file_name() {
        Some(_) => {
            done.pop();
        }
        None if done.as_os_str() == "/" => {}
        None => done.push(".."),
    }
}

#[cfg(test)]
mod tests {
    use super::super::euid;
    use super::*;
    use crate::test_support::Dir;
    use std::os::unix::fs::{lchown, symlink, PermissionsExt};

    const ME: u32 = 1000;
    const OTHER: u32 = 1001;
    const THIRD: u32 = 1002;

    #[test]
    fn the_protected_symlinks_rule() {
        // (link owner, directory mode, directory owner, allowed)
        let cases = [
            (ME, 0o1777, 0, true),
            (OTHER, 0o1777, 0, false),
            (OTHER, 0o1777, OTHER, true),
            (OTHER, 0o1777, THIRD, false),
            (OTHER, 0o1773, 0, false),
            // Not both sticky and world-writable: the rule does not apply.
            (OTHER, 0o0777, 0, true),
            (OTHER, 0o1775, 0, true),
            (OTHER, 0o1770, 0, true),
            (OTHER, 0o755, THIRD, true),
        ];
        for (link, mode, dir, want) in cases {
            let mode = libc::S_IFDIR | mode;
            assert_eq!(
                may_follow(link, mode, dir, ME),
                want,
                "{link} {mode:o} {dir}"
            );
        }
    }

    #[test]
    fn a_path_naming_a_directory_is_refused() {
        for path in [
            "c.json/",
            "a/c.json/",
            "/",
            "a/.",
            ".",
            "..",
            "x//",
            "/tmp/..",
        ] {
            let e = resolve(Path::new(path), ME).unwrap_err();
            assert!(e.contains("FILE must name a file"), "{path}: {e}");
        }
    }

    #[test]
    fn plain_paths_come_back_as_given() {
        let dir = Dir::new("resolve-plain");
        let me = euid();
        fs::create_dir(dir.file("sub")).unwrap();
        let plain = dir.file("sub/c.json");
        assert_eq!(resolve(&plain, me).unwrap(), plain);
        let dotted = dir.0.join("sub/./../sub//c.json");
        assert_eq!(resolve(&dotted, me).unwrap(), plain);
        assert_eq!(
            resolve(Path::new("c.json"), me).unwrap(),
            Path::new("c.json")
        );
        assert_eq!(
            resolve(Path::new("../c.json"), me).unwrap(),
            Path::new("../c.json")
        );
        assert_eq!(
            resolve(Path::new("/../c.json"), me).unwrap(),
            Path::new("/c.json")
        );
        let e = resolve(&dir.file("none/c.json"), me).unwrap_err();
        assert_eq!(e, "no such directory");
    }

    #[test]
    fn links_are_followed_everywhere_on_the_way() {
        let dir = Dir::new("resolve-links");
        let me = euid();
        fs::create_dir_all(dir.file("real/deep")).unwrap();
        symlink("real/deep", dir.file("mid")).unwrap();
        symlink("../x.json", dir.file("real/deep/last")).unwrap();
        symlink(dir.file("mid"), dir.file("abs")).unwrap();
        // mid → real/deep; last → ../x.json, so real/x.json.
        assert_eq!(
            resolve(&dir.file("mid/last"), me).unwrap(),
            dir.file("real/x.json")
        );
        assert_eq!(
            resolve(&dir.file("abs/last"), me).unwrap(),
            dir.file("real/x.json")
        );
        // `..` after a link leaves the link's target, as the kernel does.
        assert_eq!(
            resolve(&dir.file("mid/../y"), me).unwrap(),
            dir.file("real/y")
        );
        symlink("loop", dir.file("loop")).unwrap();
        let e = resolve(&dir.file("loop"), me).unwrap_err();
        assert!(e.contains("too many levels"), "{e}");
        symlink("real/", dir.file("to-dir")).unwrap();
        let e = resolve(&dir.file("to-dir"), me).unwrap_err();
        assert!(e.contains("FILE must name a file"), "{e}");
    }

    /// Needs root, as the suite runs: links owned by other users.
    #[test]
    fn another_users_link_in_a_sticky_directory_is_not_followed() {
        if euid() != 0 {
            return;
        }
        let dir = Dir::new("resolve-sticky");
        let shared = dir.file("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let link = shared.join("c.json");
        symlink("elsewhere.json", &link).unwrap();
        lchown(&link, Some(OTHER), Some(OTHER)).unwrap();
        let e = resolve(&link, 0).unwrap_err();
        assert_eq!(
            e,
            format!(
                "the symbolic link {} is another user's (uid {OTHER}) in a \
                 world-writable sticky directory: not followed",
                link.display()
            )
        );
        // On the way, too.
        let e = resolve(&link.join("x"), 0).unwrap_err();
        assert!(e.starts_with("the symbolic link"), "{e}");
        // The directory's owner's link is followed.
        std::os::unix::fs::chown(&shared, Some(OTHER), None).unwrap();
        assert_eq!(resolve(&link, 0).unwrap(), shared.join("elsewhere.json"));
    }
}
