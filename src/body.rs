//! A request body as JSON segments and files: exact length, a restartable Read that base64-encodes files as it goes.
//!
//! The body (and a saved conversation, SPEC §10) is never held in memory
//! with the attachments' base64 inside: it is built as a JSON value whose
//! data strings hold [`placeholder`]s, serialised once, and split at them.
//! Reading the body then writes the JSON bytes and, in their place, each
//! file read in blocks and encoded on the fly, so memory stays flat
//! whatever the files weigh and a retry can read them again.

use crate::exit::{io_reason, Failure, Kind};
use crate::fileid::FileId;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes of a file read and encoded at a time: a multiple of 3, so every
/// block but the last encodes without padding and the pieces join into one
/// valid base64 text.
const BLOCK: usize = 48 * 1024;
/// `BLOCK` bytes as base64.
const ENCODED_BLOCK: usize = BLOCK / 3 * 4;

/// What an attachment's data is read from while the body is sent.
#[derive(Debug, Clone)]
pub enum Data {
    /// A file, read anew on every pass; `size` is what was counted.
    File {
        path: PathBuf,
        /// The `-a` argument as given, for messages.
        name: String,
        size: u64,
        /// Which file and which version of it: a file rewritten in place
        /// (same size) between passes would otherwise send, or save in a
        /// conversation, other bytes than were counted and sent.
        id: FileId,
    },
    /// `-a -`: stdin cannot be read twice, so it is held.
    Bytes(Arc<Vec<u8>>),
}

impl Data {
    /// A file source, its size taken now: the `Content-Length` rests on it.
    /// A missing file, a directory or a failed `stat` is exit 2 naming it.
    pub fn file(path: impl Into<PathBuf>, name: impl Into<String>) -> Result<Data, Failure> {
        let path = path.into();
        let name = name.into();
        let meta = std::fs::metadata(&path)
            .map_err(|e| Failure::usage(format!("-a {name}: {}", io_reason(&e))))?;
        if meta.is_dir() {
            return Err(Failure::usage(format!("-a {name}: is a directory")));
        }
        Ok(Data::File {
            path,
            name,
            size: meta.len(),
            id: FileId::of(&meta),
        })
    }

    /// The data's length in bytes, before base64.
    pub fn size(&self) -> u64 {
        match self {
            Data::File { size, .. } => *size,
            Data::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

/// The string that stands for `data[i]`'s base64 data in the JSON value
/// given to [`Body::new`]: in an `input_audio.data`, or after the `base64,`
/// of a data URL. The nonce (time and pid) keeps user text from colliding.
pub fn placeholder(i: usize) -> String {
    format!("{}{i}\u{1}", placeholder_prefix())
}

fn placeholder_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("\u{1}orstream-data-{nanos:x}{:x}-", std::process::id())
    })
}

/// How the JSON is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line: the request.
    Compact,
    /// Two-space indent: the conversation file.
    Pretty,
}

#[derive(Debug)]
enum Segment {
    /// Bytes of the serialised JSON.
    Json(Range<usize>),
    /// The base64 text of a source, by index.
    Data(usize),
}

#[derive(Debug)]
struct Shared {
    json: Vec<u8>,
    segments: Vec<Segment>,
    data: Vec<Data>,
    len: u64,
}

/// A request body: JSON text with files spliced in as base64.
#[derive(Debug, Clone)]
pub struct Body {
    shared: Arc<Shared>,
    failure: Arc<Mutex<Option<Failure>>>,
}

impl Body {
    /// Serialises `value` once and splits it at each data placeholder.
    /// Each placeholder `0..data.len()` must appear exactly once; one
    /// missing or repeated is a bug (exit 1).
    pub fn new(
        value: &impl serde::Serialize,
        data: Vec<Data>,
        layout: Layout,
    ) -> Result<Body, Failure> {
        let json = match layout {
            Layout::Compact => serde_json::to_vec(value),
            Layout::Pretty => serde_json::to_vec_pretty(value),
        }
        .map_err(|e| Failure::new(Kind::Internal, format!("encoding the request body: {e}")))?;
        let bug = |what: String| Failure::new(Kind::Internal, format!("request body: {what}"));

        // The placeholders as serde_json writes them inside a string.
        let prefix = serde_json::to_string(placeholder_prefix())
            .map_err(|e| bug(e.to_string()))?
            .trim_matches('"')
            .to_string();
        let end = "\\u0001";
        let mut segments = Vec::with_capacity(2 * data.len() + 1);
        let mut seen = vec![false; data.len()];
        let mut json_start = 0;
        let mut at = 0;
        while let Some(found) = find(&json[at..], prefix.as_bytes()) {
            let start = at + found;
            let digits_start = start + prefix.len();
            let digits = json[digits_start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let index = std::str::from_utf8(&json[digits_start..digits_start + digits])
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
            let stop = digits_start + digits;
            let (Some(i), true) = (index, json[stop..].starts_with(end.as_bytes())) else {
                return Err(bug("a malformed placeholder".to_string()));
            };
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                Some(_) => return Err(bug(format!("placeholder {i} appears twice"))),
                None => return Err(bug(format!("placeholder {i} has no source"))),
            }
            segments.push(Segment::Json(json_start..start));
            segments.push(Segment::Data(i));
            json_start = stop + end.len();
            at = json_start;
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(bug(format!("placeholder {i} is missing")));
        }
        segments.push(Segment::Json(json_start..json.len()));
        segments.retain(|s| !matches!(s, Segment::Json(r) if r.is_empty()));

        let len = segments
            .iter()
            .map(|s| match s {
                Segment::Json(r) => r.len() as u64,
                Segment::Data(i) => encoded_len(data[*i].size()),
            })
            .sum();
        Ok(Body {
            shared: Arc::new(Shared {
                json,
                segments,
                data,
                len,
            }),
            failure: Arc::new(Mutex::new(None)),
        })
    }

    /// The exact length of what [`Body::reader`] yields: the `Content-Length`.
    pub fn len(&self) -> u64 {
        self.shared.len
    }

    /// A reader from the first byte; files are opened again on each call,
    /// so a retry sends them anew.
    pub fn reader(&self) -> BodyReader {
        BodyReader {
            shared: Arc::clone(&self.shared),
            failure: Arc::clone(&self.failure),
            segment: 0,
            offset: 0,
            file: None,
            bytes_at: 0,
            input: Vec::new(),
            output: Vec::new(),
            output_at: 0,
            failed: None,
        }
    }

    /// The data the placeholders stand for, in order.
    pub fn data(&self) -> &[Data] {
        &self.shared.data
    }

    /// Writes the whole body to `w`, streaming (the conversation file).
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        io::copy(&mut self.reader(), w).map(|_| ())
    }

    /// Why a reader failed, if one did: a file that changed size or could
    /// not be read while it was being sent. Such a failure is exit 1 and
    /// not worth a retry: the caller checks this before classifying the
    /// transport's error.
    pub fn failure(&self) -> Option<Failure> {
        lock(&self.failure).clone()
    }
}

/// A poisoned lock only means a reader panicked; the value is still whole.
fn lock(m: &Mutex<Option<Failure>>) -> std::sync::MutexGuard<'_, Option<Failure>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `4 * ceil(n / 3)`, as `base64::encoded_len(n, true)` but in `u64`.
fn encoded_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    while let Some(i) = haystack[at..].iter().position(|&b| b == first) {
        let start = at + i;
        if haystack[start..].starts_with(needle) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// Yields the body's bytes; see [`Body::reader`]. A file that yields more or
/// fewer bytes than were counted, or fails to open or read, makes `read`
/// return an error (from then on, every time) and records a [`Failure`]
/// for [`Body::failure`]; the error also carries that `Failure` inside.
pub struct BodyReader {
    shared: Arc<Shared>,
    failure: Arc<Mutex<Option<Failure>>>,
    segment: usize,
    /// Into the current JSON segment.
    offset: usize,
    /// The current source's open file and the bytes still due from it
    /// before its counted size is reached.
    file: Option<(File, u64)>,
    /// Into the current source's held bytes.
    bytes_at: usize,
    /// One block of file bytes; allocated on the first file.
    input: Vec<u8>,
    /// Base64 text not yet handed out, from `output_at`.
    output: Vec<u8>,
    output_at: usize,
    failed: Option<Failure>,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(f) = &self.failed {
            return Err(io::Error::other(f.clone()));
        }
        loop {
            if self.output_at < self.output.len() {
                let pending = &self.output[self.output_at..];
                let n = pending.len().min(buf.len());
                buf[..n].copy_from_slice(&pending[..n]);
                self.output_at += n;
                return Ok(n);
            }
            let shared = Arc::clone(&self.shared);
            match shared.segments.get(self.segment) {
                None => return Ok(0),
                Some(Segment::Json(range)) => {
                    let pending = &shared.json[range.start + self.offset..range.end];
                    if pending.is_empty() {
                        self.segment += 1;
                        self.offset = 0;
                        continue;
                    }
                    let n = pending.len().min(buf.len());
                    buf[..n].copy_from_slice(&pending[..n]);
                    self.offset += n;
                    return Ok(n);
                }
                Some(Segment::Data(i)) => match self.next_block(&shared.data[*i]) {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.file = None;
                        self.bytes_at = 0;
                        self.segment += 1;
                        continue;
                    }
                    Err(f) => {
                        self.file = None;
                        let mut recorded = lock(&self.failure);
                        recorded.get_or_insert_with(|| f.clone());
                        drop(recorded);
                        self.failed = Some(f.clone());
                        return Err(io::Error::other(f));
                    }
                },
            }
        }
    }
}

impl BodyReader {
    /// Encodes the source's next block into `output`; `false` once all of
    /// it has been sent.
    fn next_block(&mut self, source: &Data) -> Result<bool, Failure> {
        self.output.resize(ENCODED_BLOCK, 0);
        self.output_at = 0;
        let encoded = match source {
            Data::Bytes(bytes) => {
                let at = self.bytes_at;
                let block = &bytes[at..(at + BLOCK).min(bytes.len())];
                if block.is_empty() {
                    self.output.clear();
                    return Ok(false);
                }
                self.bytes_at += block.len();
                encode(block, &mut self.output)?
            }
            Data::File {
                path,
                name,
                size,
                id,
            } => match self.file_block(path, name, *size, id)? {
                Some(encoded) => encoded,
                None => {
                    self.output.clear();
                    return Ok(false);
                }
            },
        };
        self.output.truncate(encoded);
        Ok(true)
    }

    /// Reads and encodes the file's next block: the encoded length, `None`
    /// once all of it was sent (and the file is checked unchanged).
    fn file_block(
        &mut self,
        path: &Path,
        name: &str,
        size: u64,
        id: &FileId,
    ) -> Result<Option<usize>, Failure> {
        let sending = |e: io::Error| {
            Failure::new(
                Kind::Internal,
                format!("-a {name}: {} while it was being sent", io_reason(&e)),
            )
        };
        let changed = || {
            Failure::new(
                Kind::Internal,
                format!("-a {name}: the file changed size while it was being sent"),
            )
        };
        let rewritten = || {
            Failure::new(
                Kind::Internal,
                format!("-a {name}: the file was changed while it was being sent"),
            )
        };
        let unchanged = |file: &File| -> Result<(), Failure> {
            match file.metadata().map_err(sending)? {
                meta if FileId::of(&meta) == *id => Ok(()),
                meta if meta.len() != size => Err(changed()),
                _ => Err(rewritten()),
            }
        };
        let (file, left) = match &mut self.file {
            Some(open) => open,
            closed => {
                let file = File::open(path).map_err(sending)?;
                unchanged(&file)?;
                closed.insert((file, size))
            }
        };
        if *left == 0 {
            // All counted bytes are out: one more would mean the
            // file grew, and the Content-Length would be a lie.
            let mut probe = [0u8; 1];
            return match read_full(file, &mut probe).map_err(sending)? {
                0 => {
                    unchanged(file)?;
                    Ok(None)
                }
                _ => Err(changed()),
            };
        }
        let want = usize::try_from(*left).map_or(BLOCK, |l| l.min(BLOCK));
        self.input.resize(BLOCK, 0);
        let got = read_full(file, &mut self.input[..want]).map_err(sending)?;
        if got < want {
            return Err(changed());
        }
        *left -= want as u64;
        encode(&self.input[..want], &mut self.output).map(Some)
    }
}

fn encode(input: &[u8], output: &mut [u8]) -> Result<usize, Failure> {
    STANDARD
        .encode_slice(input, output)
        .map_err(|e| Failure::new(Kind::Internal, format!("encoding an attachment: {e}")))
}

/// Reads until `buf` is full or the file ends; the count read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file under the temp dir with a name no other test uses; removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(bytes: &[u8]) -> TempFile {
            static N: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "orstream-body-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, bytes).unwrap();
            TempFile(path)
        }

        fn source(&self) -> Data {
            Data::file(&self.0, self.0.display().to_string()).unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Bytes that are not one value repeated, so misplaced blocks show.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn read_all(body: &Body) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        body.reader().read_to_end(&mut out)?;
        Ok(out)
    }

    fn audio(i: usize) -> Value {
        json!({"type": "input_audio", "input_audio": {"data": placeholder(i), "format": "wav"}})
    }

    fn image(i: usize) -> Value {
        json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", placeholder(i))}})
    }

    fn request(parts: Vec<Value>) -> Value {
        json!({
            "model": "m",
            "messages": [{"role": "user", "content": parts}],
            "stream": true,
        })
    }

    /// `value` with each placeholder replaced by the base64 of `data[i]`.
    fn substituted(value: &Value, data: &[Vec<u8>]) -> Value {
        match value {
            Value::String(s) => {
                let mut s = s.clone();
                for (i, d) in data.iter().enumerate() {
                    s = s.replace(&placeholder(i), &STANDARD.encode(d));
                }
                Value::String(s)
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| substituted(v, data)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), substituted(v, data)))
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    #[test]
    fn without_sources_it_is_the_json() {
        let value = json!({"model": "m", "messages": [{"role": "user", "content": "héllo \u{1}"}]});
        let body = Body::new(&value, vec![], Layout::Compact).unwrap();
        let expected = serde_json::to_vec(&value).unwrap();
        assert_eq!(read_all(&body).unwrap(), expected);
        assert_eq!(body.len(), expected.len() as u64);
        let pretty = Body::new(&value, vec![], Layout::Pretty).unwrap();
        assert_eq!(
            read_all(&pretty).unwrap(),
            serde_json::to_vec_pretty(&value).unwrap()
        );
    }

    #[test]
    fn files_of_every_awkward_size() {
        for n in [0, 1, 2, 3, 4, BLOCK - 1, BLOCK, BLOCK + 1, 200 * 1024] {
            let bytes = pattern(n);
            let file = TempFile::new(&bytes);
            let value = request(vec![image(0)]);
            let body = Body::new(&value, vec![file.source()], Layout::Compact).unwrap();
            let out = read_all(&body).unwrap();
            assert_eq!(out.len() as u64, body.len(), "size {n}");
            let parsed: Value = serde_json::from_slice(&out).unwrap();
            let url = parsed["messages"][0]["content"][0]["image_url"]["url"]
                .as_str()
                .unwrap();
            let data = url.strip_prefix("data:image/png;base64,").unwrap();
            assert_eq!(STANDARD.decode(data).unwrap(), bytes, "size {n}");
            assert_eq!(
                out,
                serde_json::to_vec(&substituted(&value, &[bytes])).unwrap()
            );
            assert!(body.failure().is_none());
        }
    }

    #[test]
    fn several_sources_in_any_order() {
        let a = pattern(BLOCK * 2 + 5);
        let b = b"stdin bytes".to_vec();
        let file = TempFile::new(&a);
        // Source 1 comes first in the JSON: order follows the text.
        let value = request(vec![
            audio(1),
            json!({"type": "text", "text": "x"}),
            image(0),
        ]);
        let sources = vec![file.source(), Data::Bytes(Arc::new(b.clone()))];
        let body = Body::new(&value, sources, Layout::Compact).unwrap();
        let out = read_all(&body).unwrap();
        assert_eq!(out.len() as u64, body.len());
        assert_eq!(
            out,
            serde_json::to_vec(&substituted(&value, &[a, b])).unwrap()
        );
    }

    #[test]
    fn bytes_larger_than_a_block() {
        let b = pattern(3 * BLOCK + 2);
        let value = request(vec![audio(0)]);
        let body = Body::new(
            &value,
            vec![Data::Bytes(Arc::new(b.clone()))],
            Layout::Compact,
        )
        .unwrap();
        let out = read_all(&body).unwrap();
        assert_eq!(out.len() as u64, body.len());
        assert_eq!(out, serde_json::to_vec(&substituted(&value, &[b])).unwrap());
    }

    #[test]
    fn reading_twice_gives_the_same_bytes() {
        let file = TempFile::new(&pattern(100_000));
        let body = Body::new(
            &request(vec![image(0)]),
            vec![file.source()],
            Layout::Compact,
        )
        .unwrap();
        let first = read_all(&body).unwrap();
        assert_eq!(read_all(&body).unwrap(), first);
        let mut w = Vec::new();
        body.write_to(&mut w).unwrap();
        assert_eq!(w, first);
    }

    #[test]
    fn pretty_is_to_vec_pretty_with_the_data() {
        let bytes = pattern(70_000);
        let file = TempFile::new(&bytes);
        let value = request(vec![json!({"type": "text", "text": "é\n"}), image(0)]);
        let body = Body::new(&value, vec![file.source()], Layout::Pretty).unwrap();
        let out = read_all(&body).unwrap();
        assert_eq!(out.len() as u64, body.len());
        assert_eq!(
            out,
            serde_json::to_vec_pretty(&substituted(&value, &[bytes])).unwrap()
        );
    }

    #[test]
    fn one_byte_reads() {
        let bytes = pattern(BLOCK + 7);
        let file = TempFile::new(&bytes);
        let value = request(vec![image(0)]);
        let body = Body::new(&value, vec![file.source()], Layout::Compact).unwrap();
        let mut reader = body.reader();
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match reader.read(&mut byte).unwrap() {
                0 => break,
                n => out.extend_from_slice(&byte[..n]),
            }
        }
        assert_eq!(out, read_all(&body).unwrap());
        assert_eq!(out.len() as u64, body.len());
    }

    fn assert_changed(body: &Body, file: &TempFile) {
        let err = read_all(body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Failure>());
        let f = body.failure().expect("a recorded failure");
        assert_eq!(inner, Some(&f));
        assert_eq!(f.kind, Kind::Internal);
        assert_eq!(
            f.message,
            format!(
                "-a {}: the file changed size while it was being sent",
                file.0.display()
            )
        );
    }

    #[test]
    fn a_file_that_grows_is_an_error() {
        for n in [0, 10, BLOCK] {
            let file = TempFile::new(&pattern(n));
            let body = Body::new(
                &request(vec![image(0)]),
                vec![file.source()],
                Layout::Compact,
            )
            .unwrap();
            std::fs::OpenOptions::new()
                .append(true)
                .open(&file.0)
                .unwrap()
                .write_all(b"more")
                .unwrap();
            assert_changed(&body, &file);
        }
    }

    #[test]
    fn a_file_rewritten_in_place_is_an_error_on_the_next_pass() {
        // Same size, other bytes: a conversation must not save what was not
        // sent. The new mtime tells it, whatever the bytes.
        let file = TempFile::new(&pattern(5000));
        let body = Body::new(
            &request(vec![image(0)]),
            vec![file.source()],
            Layout::Compact,
        )
        .unwrap();
        assert!(read_all(&body).is_ok(), "the first pass is sent");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file.0)
            .unwrap();
        (&f).write_all(&vec![b'x'; 5000]).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        let err = read_all(&body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(
            body.failure().expect("a recorded failure").message,
            format!(
                "-a {}: the file was changed while it was being sent",
                file.0.display()
            )
        );
    }

    #[test]
    fn a_file_that_shrinks_is_an_error() {
        for (n, to) in [(10, 0), (BLOCK + 10, BLOCK), (200_000, 100)] {
            let file = TempFile::new(&pattern(n));
            let body = Body::new(
                &request(vec![audio(0)]),
                vec![file.source()],
                Layout::Compact,
            )
            .unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file.0)
                .unwrap()
                .set_len(to as u64)
                .unwrap();
            assert_changed(&body, &file);
            // The error stays: a reader never ends early with Ok(0).
            let mut reader = body.reader();
            let mut sink = Vec::new();
            assert!(reader.read_to_end(&mut sink).is_err());
            assert!(reader.read(&mut [0u8; 16]).is_err());
        }
    }

    #[test]
    fn a_file_gone_before_sending_is_an_error() {
        let file = TempFile::new(b"abc");
        let body = Body::new(
            &request(vec![image(0)]),
            vec![file.source()],
            Layout::Compact,
        )
        .unwrap();
        std::fs::remove_file(&file.0).unwrap();
        assert!(read_all(&body).is_err());
        let f = body.failure().unwrap();
        assert_eq!(f.kind, Kind::Internal);
        assert_eq!(
            f.message,
            format!(
                "-a {}: no such file while it was being sent",
                file.0.display()
            )
        );
    }

    #[test]
    fn source_problems_are_usage_errors() {
        let dir = std::env::temp_dir();
        let f = Data::file(&dir, "somedir").unwrap_err();
        assert_eq!(f.kind, Kind::Usage);
        assert_eq!(f.message, "-a somedir: is a directory");
        let f = Data::file(dir.join("orstream-no-such-file"), "x.png").unwrap_err();
        assert_eq!(f.message, "-a x.png: no such file");
        assert_eq!(Data::Bytes(Arc::new(vec![1, 2])).size(), 2);
    }

    #[test]
    fn placeholders_must_match_the_sources() {
        let one = vec![Data::Bytes(Arc::new(vec![1]))];
        let missing = Body::new(
            &json!({"a": "no placeholder"}),
            one.clone(),
            Layout::Compact,
        );
        assert_eq!(missing.unwrap_err().kind, Kind::Internal);
        let twice = json!({"a": placeholder(0), "b": placeholder(0)});
        assert!(Body::new(&twice, one.clone(), Layout::Compact).is_err());
        let stray = json!({"a": placeholder(0), "b": placeholder(1)});
        assert!(Body::new(&stray, one, Layout::Compact).is_err());
    }

    #[test]
    fn encoded_len_is_base64s() {
        for n in [0usize, 1, 2, 3, 4, 5, 6, BLOCK, 1 << 30] {
            assert_eq!(
                Some(encoded_len(n as u64) as usize),
                base64::encoded_len(n, true)
            );
        }
        assert_eq!(base64::encoded_len(BLOCK, true), Some(ENCODED_BLOCK));
    }

    /// The Content-Length header a server saw, and the body bytes it got
    /// (to that length, or to the client's close).
    type Received = (Option<u64>, Vec<u8>);

    /// A loopback server for one request: its URL, and what it received.
    fn serve_once() -> (String, std::thread::JoinHandle<Received>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            let head_end = loop {
                if let Some(i) = find(&got, b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            };
            let Some(head_end) = head_end else {
                return (None, got);
            };
            let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let mut body = got.split_off(head_end);
            while (body.len() as u64) < length.unwrap_or(u64::MAX) {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return (length, body),
                    Ok(n) => body.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            (length, body)
        });
        (url, server)
    }

    fn post(url: &str, body: &Body) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        // A global timeout only so that a regression fails instead of hanging.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(20)))
            .build()
            .into();
        agent
            .post(url)
            .header("content-type", "application/json")
            .header("content-length", body.len().to_string())
            .send(ureq::SendBody::from_owned_reader(body.reader()))
    }

    #[test]
    fn sent_through_ureq_with_an_exact_length() {
        let file = TempFile::new(&pattern(300_001));
        let body = Body::new(
            &request(vec![image(0)]),
            vec![file.source()],
            Layout::Compact,
        )
        .unwrap();
        let (url, server) = serve_once();
        let resp = post(&url, &body).unwrap();
        assert_eq!(resp.status(), 200);
        let (length, received) = server.join().unwrap();
        assert_eq!(length, Some(body.len()));
        assert_eq!(received, read_all(&body).unwrap());
    }

    /// ureq hands the reader's error back as `Error::Io`, with the
    /// `Failure` inside; it neither hangs nor retries.
    #[test]
    fn a_change_mid_send_reaches_the_ureq_caller() {
        let file = TempFile::new(&pattern(300_000));
        let body = Body::new(
            &request(vec![audio(0)]),
            vec![file.source()],
            Layout::Compact,
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file.0)
            .unwrap()
            .set_len(200_000)
            .unwrap();
        let (url, server) = serve_once();
        let err = post(&url, &body).unwrap_err();
        let ureq::Error::Io(io) = &err else {
            panic!("expected Error::Io, got {err:?}");
        };
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Failure>());
        assert_eq!(inner, body.failure().as_ref());
        assert!(inner.is_some());
        let (length, received) = server.join().unwrap();
        assert_eq!(length, Some(body.len()));
        assert!((received.len() as u64) < body.len());
    }

    /// The whole point: a 100 MiB file goes through without the process
    /// growing by anything near its size. Measured in a child process
    /// running only `flat_memory_child`: the tests running beside this one
    /// would move this process's peak.
    #[test]
    fn memory_stays_flat() {
        if peak_rss().is_none() {
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "body::tests::flat_memory_child", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    const CHILD: &str = "ORSTREAM_BODY_MEMORY_CHILD";

    /// Does nothing unless started by `memory_stays_flat`. The file is
    /// sparse: no disk needed.
    #[test]
    fn flat_memory_child() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let send = |size: u64| {
            let file = TempFile::new(b"");
            File::options()
                .write(true)
                .open(&file.0)
                .unwrap()
                .set_len(size)
                .unwrap();
            let body = Body::new(
                &request(vec![audio(0)]),
                vec![file.source()],
                Layout::Compact,
            )
            .unwrap();
            let mut counted = Counter(0);
            body.write_to(&mut counted).unwrap();
            assert_eq!(counted.0, body.len());
        };
        // A small body first: the code it runs is paged in before the
        // peak is taken, so only what the large one holds counts.
        send(1024 * 1024);
        let before = peak_rss().unwrap();
        send(100 * 1024 * 1024);
        let grown = peak_rss().unwrap().saturating_sub(before);
        eprintln!("peak RSS grew by {grown} bytes");
        assert!(grown < 4 * 1024 * 1024, "peak RSS grew by {grown} bytes");
    }

    struct Counter(u64);

    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// VmHWM of this process in bytes, where /proc has it.
    fn peak_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}
