//! A new file that appears whole under the first free name of a series and
//! never replaces one (`--images DIR`, SPEC §11): written unnamed (or under
//! a temp name), then linked to `name(1)`, `name(2)`, … until a link
//! succeeds — `link(2)` fails rather than replace, so two runs saving into
//! one directory at once never overwrite each other.

use super::temps::{with_temp_name, TEMPS};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a new file in `dir` named `name(n)` for the first `n`
/// from 1 whose name is free; returns its path.
pub fn publish(dir: &Path, name: &dyn Fn(u64) -> String, bytes: &[u8]) -> io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    if let Some(mut file) = super::temps::create_unnamed(dir)? {
        fill(&mut file, bytes)?;
        use std::os::fd::AsRawFd;
        let proc = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        return first_free(dir, name, |to| link_at(&proc, to));
    }
    let stem = OsStr::new(".image");
    let (mut file, temp) = with_temp_name(dir, stem, |path| TEMPS.create(path))?;
    let result = fill(&mut file, bytes)
        .and_then(|()| first_free(dir, name, |to| std::fs::hard_link(&temp, to)));
    TEMPS.discard(&temp);
    result
}

/// The bytes, then the mode a shell's `>` would give.
fn fill(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o666 & !umask()))
}

/// Tries `link` on `name(1)`, `name(2)`, … while the name is taken.
fn first_free(
    dir: &Path,
    name: &dyn Fn(u64) -> String,
    mut link: impl FnMut(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    for n in 1..=u64::from(u32::MAX) {
        let path = dir.join(name(n));
        match link(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

/// Links `/proc/self/fd/N` (an unnamed file) to `to`.
#[cfg(target_os = "linux")]
fn link_at(proc: &std::ffi::CStr, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let to = std::ffi::CString::new(to.as_os_str().as_bytes())
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
    Ok(())
}

/// The process's umask (read by setting it and setting it back).
fn umask() -> u32 {
    // SAFETY: umask cannot fail; the old value is restored at once.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Dir;

    fn image(n: u64) -> String {
        format!("image-{n}.png")
    }

    #[test]
    fn the_first_free_name_never_replacing() {
        let dir = Dir::new("publish");
        std::fs::write(dir.file("image-1.png"), b"old").unwrap();
        std::fs::write(dir.file("image-3.png"), b"old").unwrap();
        let a = publish(&dir.0, &image, b"a").unwrap();
        let b = publish(&dir.0, &image, b"b").unwrap();
        assert_eq!(a, dir.file("image-2.png"));
        assert_eq!(b, dir.file("image-4.png"));
        assert_eq!(std::fs::read(dir.file("image-1.png")).unwrap(), b"old");
        assert_eq!(std::fs::read(&a).unwrap(), b"a");
        assert_eq!(
            dir.list(),
            ["image-1.png", "image-2.png", "image-3.png", "image-4.png"]
        );
    }

    #[test]
    fn many_at_once_each_get_their_own_name() {
        let dir = Dir::new("publish-many");
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let d = &dir.0;
                    s.spawn(move || publish(d, &image, &[i; 100]).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names = dir.list();
        names.sort();
        assert_eq!(names.len(), 8);
        for p in paths {
            assert_eq!(std::fs::read(&p).unwrap().len(), 100);
        }
    }
}
