//! Reading local input: stdin and the files named on the command line, with
//! short lowercase reasons for their errors.

use crate::body::{self, Source};
use crate::config;
use crate::exit::Failure;
use crate::{attach, prompt, ui};
use serde_json::Value;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Reads all of stdin; with `hint`, says after 3 s of silence what it waits for.
pub fn read_stdin(hint: bool) -> Result<Vec<u8>, Failure> {
    read_all_stdin(
        hint.then_some("waiting for stdin to close (Ctrl-D ends it; --no-stdin ignores stdin)"),
    )
}

/// Reads stdin for `-a -` (where `--no-stdin` is no way out).
pub fn read_stdin_attachment(hint: bool) -> Result<Vec<u8>, Failure> {
    read_all_stdin(
        hint.then_some("waiting for stdin to close: it is the -a - attachment (Ctrl-D ends it)"),
    )
}

fn read_all_stdin(hint: Option<&'static str>) -> Result<Vec<u8>, Failure> {
    let _guard = hint.map(|text| ui::stdin_hint_after(Duration::from_secs(3), text));
    let mut stdin = io::stdin().lock();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                ui::stdin_answered();
                bytes.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ui::stdin_answered();
                return Err(Failure::usage(format!("reading stdin: {}", io_reason(&e))));
            }
        }
    }
    ui::stdin_answered();
    Ok(bytes)
}

/// Reads a `-`-or-path argument as UTF-8 text, naming it on any problem.
pub fn read_source(source: &config::Source, hint: bool) -> Result<String, Failure> {
    match source {
        config::Source::Stdin => prompt::decode_utf8(read_stdin(hint)?, "--request -"),
        config::Source::File(path) => {
            let name = format!("--request {}", path.display());
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::usage(format!("{name}: {}", io_reason(&e))))?;
            prompt::decode_utf8(bytes, &name)
        }
    }
}

/// A short lowercase reason for a file error.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => {
            let text = e.to_string();
            // "Is a directory (os error 21)" → "is a directory"
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => text.to_string(),
            }
        }
    }
}

/// The `-a` arguments, read and sorted into what the user message needs
/// (SPEC §8): text inlined, binary data left in files to be streamed.
#[derive(Debug, Default)]
pub struct Attachments {
    /// `<file name="…">` blocks, in command-line order.
    pub blocks: Vec<String>,
    /// Content parts for binary files and URLs, in command-line order; their
    /// data strings hold [`body::placeholder`]s for `sources`.
    pub parts: Vec<Value>,
    /// Where each placeholder's bytes are read from while the body is sent.
    pub sources: Vec<Source>,
    /// One line per attachment for `-v`: argument, kind, size.
    pub listing: Vec<String>,
}

/// How much of a file is looked at before it must at least look like text:
/// a large binary file of an unknown kind is refused without reading it all.
const TEXT_PROBE: usize = 64 * 1024;

/// Reads every `-a` argument: URLs are described, never fetched; files are
/// sniffed by their first bytes; `-a -` takes `stdin`, already read. Any
/// problem is exit 2 naming the argument, before a connection is made.
pub fn attachments(args: &[String], stdin: Option<Vec<u8>>) -> Result<Attachments, Failure> {
    let mut stdin = stdin;
    let mut found = Attachments::default();
    for arg in args {
        if attach::is_url(arg) {
            let (kind, part) = attach::url_part(arg)?;
            found.parts.push(part);
            found.listing.push(format!("-a {arg}: {}", kind.name()));
            continue;
        }
        let (bytes, path) = if arg == "-" {
            (stdin.take().unwrap_or_default(), None)
        } else {
            read_head_or_all(arg)?
        };
        let kind = attach::sniff(&bytes);
        match (kind, path) {
            (Some(kind), Some(path)) => {
                let source = body::Source::file(path, arg.as_str())?;
                found.listing.push(format!(
                    "-a {arg}: {}, {} bytes",
                    kind.name(),
                    source.size()
                ));
                push_binary(&mut found, kind, arg, source);
            }
            (Some(kind), None) => {
                found
                    .listing
                    .push(format!("-a {arg}: {}, {} bytes", kind.name(), bytes.len()));
                push_binary(&mut found, kind, arg, Source::Bytes(Arc::new(bytes)));
            }
            (None, path) => {
                let bytes = match path {
                    // Only the head was read: the rest is needed to inline it.
                    Some(path) if bytes.len() == attach::SNIFF_LEN => read_text_file(&path, arg)?,
                    _ => bytes,
                };
                // Valid UTF-8 without a NUL byte (SPEC §8): checked once, as
                // the bytes become the string that is inlined.
                let size = bytes.len();
                let text = String::from_utf8(bytes)
                    .ok()
                    .filter(|t| !t.as_bytes().contains(&0))
                    .ok_or_else(|| attach::unsupported(arg))?;
                found.listing.push(format!("-a {arg}: text, {size} bytes"));
                found
                    .blocks
                    .push(attach::file_block(attach::block_name(arg), &text));
            }
        }
    }
    Ok(found)
}

fn push_binary(found: &mut Attachments, kind: attach::Kind, arg: &str, source: Source) {
    let placeholder = body::placeholder(found.sources.len());
    if let Some(part) = kind.data_part(&attach::base_name(arg), &placeholder) {
        found.parts.push(part);
        found.sources.push(source);
    }
}

/// A regular file's first bytes (enough to sniff it), with its path to be
/// streamed later; anything else (a pipe such as `<(cmd)`, a device) cannot
/// be read twice, so it is read whole and held, like `-a -`.
fn read_head_or_all(arg: &str) -> Result<(Vec<u8>, Option<PathBuf>), Failure> {
    let path = PathBuf::from(arg);
    let meta = std::fs::metadata(&path).map_err(|e| attach::io_failure(arg, &e))?;
    if meta.is_dir() {
        return Err(Failure::usage(format!("-a {arg}: is a directory")));
    }
    let mut file = std::fs::File::open(&path).map_err(|e| attach::io_failure(arg, &e))?;
    if !meta.is_file() {
        // Looked at before it is read to the end: `-a /dev/zero` is refused
        // after 64 KiB instead of filling memory.
        let mut bytes = Vec::new();
        (&mut file)
            .take(TEXT_PROBE as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| attach::io_failure(arg, &e))?;
        if attach::sniff(&bytes).is_none() && !attach::could_be_text(&bytes) {
            return Err(attach::unsupported(arg));
        }
        file.read_to_end(&mut bytes)
            .map_err(|e| attach::io_failure(arg, &e))?;
        return Ok((bytes, None));
    }
    let mut head = Vec::with_capacity(attach::SNIFF_LEN);
    file.take(attach::SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| attach::io_failure(arg, &e))?;
    Ok((head, Some(path)))
}

/// A whole file that should be text; a file whose start is already not
/// text is refused before the rest is read.
fn read_text_file(path: &Path, arg: &str) -> Result<Vec<u8>, Failure> {
    let mut file = std::fs::File::open(path).map_err(|e| attach::io_failure(arg, &e))?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(TEXT_PROBE as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| attach::io_failure(arg, &e))?;
    if !attach::could_be_text(&bytes) {
        return Err(attach::unsupported(arg));
    }
    file.read_to_end(&mut bytes)
        .map_err(|e| attach::io_failure(arg, &e))?;
    Ok(bytes)
}
