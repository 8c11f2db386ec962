//! Small files named on the command line or in the environment, read with a
//! bound (SPEC §1): a key file up to its first line end, a schema or a CA
//! bundle up to 16 MiB. A FIFO or `/dev/zero` never makes orstream wait
//! for more than it needs, or grow without limit.

use crate::exit::io_reason;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// A schema file or a CA bundle is at most this large.
pub const SMALL_FILE_LIMIT: u64 = 16 * 1024 * 1024;
/// A key file's first line is at most this long.
pub const KEY_LINE_LIMIT: usize = 64 * 1024;

/// Why a bounded read failed, as a short reason for the caller's message.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The file could not be read: its reason (`no such file`, …).
    Io(String),
    /// More than the limit.
    TooLarge,
}

impl ReadError {
    fn io(e: io::Error) -> ReadError {
        ReadError::Io(io_reason(&e))
    }

    /// A reason to print, naming the limit for [`ReadError::TooLarge`].
    pub fn reason(&self, limit: &str) -> String {
        match self {
            ReadError::Io(why) => why.clone(),
            ReadError::TooLarge => format!("larger than {limit}"),
        }
    }
}

/// Whether files can be created in `dir` (write and search permission; a
/// read-only filesystem counts as no).
pub fn may_write_in(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The whole file, if it holds at most `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(ReadError::io)?;
    // Sized from the file's length (`take` hides it from `read_to_end`): a
    // buffer grown by doubling copies and touches twice the pages (a 220 KB
    // CA bundle cost 0.1 ms more that way).
    let size = file.metadata().map_or(0, |m| m.len().min(limit));
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// The file's first line, without its line end; the rest of the file is
/// never waited for. A first line longer than [`KEY_LINE_LIMIT`] is
/// [`ReadError::TooLarge`].
pub fn read_first_line(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut file = File::open(path).map_err(ReadError::io)?;
    first_line(&mut file, KEY_LINE_LIMIT)
}

/// Reads until the first `\n` (or EOF), at most `limit` bytes before it.
fn first_line(reader: &mut dyn Read, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(line),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::io(e)),
        };
        let chunk = &buf[..n];
        if let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..end]);
            return if line.len() > limit {
                Err(ReadError::TooLarge)
            } else {
                Ok(line)
            };
        }
        line.extend_from_slice(chunk);
        if line.len() > limit {
            return Err(ReadError::TooLarge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Dir;

    /// A reader that gives its pieces, then fails the test if read again.
    struct Pieces(Vec<&'static [u8]>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            assert!(!self.0.is_empty(), "read past the first line");
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn the_first_line_without_waiting_for_more() {
        let mut r = Pieces(vec![b"sk-", b"key\nnever read"]);
        assert_eq!(first_line(&mut r, 100).unwrap(), b"sk-key");
        let mut r = Pieces(vec![b"ab\r\n"]);
        assert_eq!(first_line(&mut r, 100).unwrap(), b"ab\r");
        let mut r: &[u8] = b"no line end";
        assert_eq!(first_line(&mut r, 100).unwrap(), b"no line end");
        let mut r: &[u8] = b"";
        assert_eq!(first_line(&mut r, 100).unwrap(), b"");
    }

    #[test]
    fn a_first_line_too_long_is_refused() {
        let long = vec![b'k'; 101];
        let mut r: &[u8] = &long;
        assert_eq!(first_line(&mut r, 100), Err(ReadError::TooLarge));
        let mut r: &[u8] = b"0123456789\n";
        assert_eq!(first_line(&mut r, 10).unwrap(), b"0123456789");
        let mut zero = io::repeat(0);
        assert_eq!(first_line(&mut zero, 1000), Err(ReadError::TooLarge));
    }

    #[test]
    fn capped_reads() {
        let dir = Dir::new("files");
        let f = dir.file("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_capped(&f, 5).unwrap(), b"12345");
        assert_eq!(read_capped(&f, 4), Err(ReadError::TooLarge));
        assert_eq!(
            read_capped(&dir.file("none"), 4),
            Err(ReadError::Io("no such file".into()))
        );
        assert_eq!(
            read_capped(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::TooLarge)
        );
    }
}
