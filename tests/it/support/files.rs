//! Files a run reads or leaves behind: temp files and directories removed
//! on drop, FIFOs with a writer behind them, and the committed fixtures.

use super::sys;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

/// A fresh path under the temp dir ending in `-{tag}` (so a test can pick
/// the extension). The pid and one counter for the whole test binary make it
/// unique across parallel tests and across concurrent `cargo test` runs.
fn unique_temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "orstream-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// A file under the temp dir, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(tag: &str, contents: impl AsRef<[u8]>) -> TempFile {
        let path = unique_temp_path(tag);
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The full path as a command-line argument or in a message.
    pub fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh directory under the temp dir, removed with everything in it on
/// drop; files in it get the exact base names a test needs (`doc.pdf`,
/// `c.json`, …).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = unique_temp_path(tag);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `name` and returns its full path as a command-line argument.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path_arg(&path)
    }

    /// Writes `name` with `contents` and exactly `mode` (umask aside).
    pub fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write test file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("chmod test file");
        path
    }

    /// A sparse file: `head`, then zeros up to `len` bytes.
    pub fn sparse(&self, name: &str, head: &[u8], len: u64) -> PathBuf {
        let path = self.join(name);
        let mut f = std::fs::File::create(&path).expect("create sparse file");
        f.write_all(head).expect("write sparse head");
        f.set_len(len).expect("set_len");
        path
    }

    /// A FIFO named `name`, with no writer: an open for reading blocks.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let path = self.join(name);
        sys::mkfifo(&path);
        path
    }

    /// `name`'s contents, which must be UTF-8.
    pub fn read(&self, name: &str) -> String {
        let bytes = std::fs::read(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{name} is not UTF-8: {e}"))
    }

    /// `name`'s permission bits.
    pub fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.join(name)).expect("stat").mode() & 0o7777
    }

    pub fn ino(&self, name: &str) -> u64 {
        std::fs::metadata(self.join(name)).expect("stat").ino()
    }

    /// Every name in the directory (hidden ones too), sorted.
    pub fn list(&self) -> Vec<String> {
        list_dir(&self.0)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every name in `dir` (hidden ones too), sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A path as a command-line argument; temp paths are UTF-8.
pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}

/// A file of the committed `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A FIFO whose writer thread feeds `bytes` once a reader opens it.
pub struct Fifo {
    path: PathBuf,
    writer: Option<JoinHandle<io::Result<()>>>,
}

impl Fifo {
    pub fn new(dir: &TempDir, name: &str, bytes: Vec<u8>) -> Fifo {
        let path = dir.fifo(name);
        let p = path.clone();
        let writer = thread::spawn(move || {
            let mut f = OpenOptions::new().write(true).open(&p)?;
            f.write_all(&bytes)
        });
        Fifo {
            path,
            writer: Some(writer),
        }
    }

    pub fn arg(&self) -> String {
        path_arg(&self.path)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        // A writer still blocked in open (orstream never opened the FIFO)
        // gets a reader and then EPIPE, so the thread ends.
        if let Ok(r) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
        {
            drop(r);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
