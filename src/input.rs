//! Reading local input — stdin, `--request`, `-a` files, `-c`, a
//! `--from-sse` recording — and turning it into the body to send. Every
//! problem here is exit 2, before any connection.

use crate::attach;
use crate::body::{self, Body, Data, Layout};
use crate::config::{chat_without_prompt_hint, ChatPlan, FileArg, StdinUse};
use crate::conversation::Conversation;
use crate::exit::{io_reason, Failure, Kind};
use crate::output::say;
use crate::prompt::{self, decode_utf8};
use crate::request::{build_body, parse_body};
use crate::signal;
use serde_json::Value;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// What a chat run sends, gathered before any connection.
pub struct Prepared {
    /// `-c FILE`, locked.
    pub conversation: Option<Conversation>,
    /// The body as a value, data placeholders in it (kept for `-c`).
    pub sent: serde_json::Map<String, Value>,
    /// The same body, sized and streamed with the attachments' data.
    pub body: Body,
}

/// Reads everything local — the conversation (locked first, so a second run
/// on it is refused before it reads stdin), stdin, `--request`, attachments
/// — and builds the body.
pub fn prepare(plan: &ChatPlan, verbose: bool) -> Result<Prepared, Failure> {
    let mut conversation = plan
        .conversation
        .as_deref()
        .map(Conversation::open)
        .transpose()?;
    let (stdin_text, stdin_bytes) = match plan.stdin {
        StdinUse::Prompt => (
            Some(decode_utf8(read_stdin(plan.stdin_hint)?, "stdin")?),
            None,
        ),
        StdinUse::Attachment => (None, Some(read_stdin_attachment(plan.stdin_hint)?)),
        StdinUse::Ignore | StdinUse::Input => (None, None),
    };
    let base = match &mut conversation {
        Some(c) => c.take_body(),
        None => read_base(plan)?,
    };
    let template = Template::read(plan, base, stdin_bytes, verbose)?;
    let prompt = prompt::user_text(&plan.words, stdin_text.as_deref());
    let (sent, body) = template.into_body(prompt, plan).map_err(|e| {
        // A conversation with nothing to append: replaying it is the way.
        match (&plan.conversation, e.kind) {
            (Some(file), Kind::Usage) => e.with_hint(chat_without_prompt_hint(file)),
            _ => e,
        }
    })?;
    Ok(Prepared {
        conversation,
        sent,
        body,
    })
}

/// The `--request` body, if one is named.
fn read_base(plan: &ChatPlan) -> Result<Option<serde_json::Map<String, Value>>, Failure> {
    let Some(source) = &plan.request else {
        return Ok(None);
    };
    let text = read_request(source, plan.stdin_hint)?;
    parse_body(&text, &format!("--request {}", source.name())).map(Some)
}

/// What every request of a run shares: the `--request` (or `-c`) body and
/// the attachments, read once (`--each` sends many prompts with them).
pub struct Template {
    base: Option<serde_json::Map<String, Value>>,
    attachments: Attachments,
    /// `-a` was given: the prompt may be empty.
    attach: bool,
    /// `--request` was given: no prompt sends the file as it is.
    request: bool,
}

impl Template {
    /// Reads the attachments (`stdin` holds `-a -`'s bytes) around `base`.
    pub fn read(
        plan: &ChatPlan,
        base: Option<serde_json::Map<String, Value>>,
        stdin: Option<Vec<u8>>,
        verbose: bool,
    ) -> Result<Template, Failure> {
        let attachments = attachments(&plan.attach, stdin)?;
        if verbose {
            for line in &attachments.listing {
                say(&format!("* attach {line}"));
            }
        }
        Ok(Template {
            base,
            attachments,
            attach: !plan.attach.is_empty(),
            request: plan.request.is_some(),
        })
    }

    /// For `--each`: reads `--request` and the attachments once.
    pub fn for_items(plan: &ChatPlan, verbose: bool) -> Result<Template, Failure> {
        Template::read(plan, read_base(plan)?, None, verbose)
    }

    /// The body for one prompt; the template stays for the next.
    pub fn body(
        &self,
        prompt: Option<String>,
        plan: &ChatPlan,
    ) -> Result<(serde_json::Map<String, Value>, Body), Failure> {
        let user = self.user_content(prompt, self.attachments.parts.clone())?;
        let sent = build_body(self.base.clone(), user, &plan.body);
        let body = Body::new(&sent, self.attachments.data.clone(), Layout::Compact)?;
        Ok((sent, body))
    }

    /// The body for the one prompt of a run, without copying a long history.
    fn into_body(
        mut self,
        prompt: Option<String>,
        plan: &ChatPlan,
    ) -> Result<(serde_json::Map<String, Value>, Body), Failure> {
        let parts = std::mem::take(&mut self.attachments.parts);
        let user = self.user_content(prompt, parts)?;
        let sent = build_body(self.base, user, &plan.body);
        let body = Body::new(&sent, self.attachments.data, Layout::Compact)?;
        Ok((sent, body))
    }

    /// The user message's content (SPEC §1, §8).
    fn user_content(
        &self,
        prompt: Option<String>,
        parts: Vec<Value>,
    ) -> Result<Option<Value>, Failure> {
        if self.attach {
            // With an attachment the prompt may be empty: the files speak.
            return Ok(attach::user_content(
                &self.attachments.blocks,
                prompt.as_deref(),
                parts,
            ));
        }
        match (self.request, prompt) {
            // `--request` without PROMPT words sends the file as it is.
            (true, None) => Ok(None),
            (_, text) => Ok(Some(Value::String(prompt::require_text(text)?))),
        }
    }
}

/// Opens a `--from-sse` recording. Opening a FIFO waits for its writer:
/// nothing is printed yet, and a signal exits at once.
pub fn open_recording(source: &FileArg) -> Result<Box<dyn Read>, Failure> {
    let name = source.name();
    let open_error = |e: io::Error| Failure::usage(format!("--from-sse {name}: {}", io_reason(&e)));
    Ok(match source {
        FileArg::Stdin => {
            use std::os::fd::AsFd;
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(open_error)?;
            Box::new(Wakeable(fd))
        }
        FileArg::Path(path) => {
            let file = std::fs::File::open(path).map_err(open_error)?;
            match file.metadata() {
                // A FIFO, `/dev/stdin`, `<(curl -N …)`: it may block for ever.
                Ok(m) if !m.is_file() => Box::new(Wakeable(file.into())),
                _ => Box::new(file),
            }
        }
    })
}

/// Input a socket shutdown cannot wake (a replayed pipe): a signal makes
/// its read return 0, so the replay ends the way a live stream does.
struct Wakeable(std::os::fd::OwnedFd);

impl Read for Wakeable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        signal::read_or_wake(self.0.as_raw_fd(), buf)
    }
}

// The hints name no Ctrl-D: stdin is a pipe when they are given (a
// terminal stdin is not read, or refused), and only its writer can end it.

/// Reads all of stdin as the prompt; with `hint`, says after 3 s of
/// silence what it waits for.
fn read_stdin(hint: bool) -> Result<Vec<u8>, Failure> {
    read_all_stdin(
        hint.then_some(
            "waiting for stdin to close: it is read as the prompt (--no-stdin ignores it)",
        ),
    )
}

/// Reads stdin as the `--request -` body (where `--no-stdin` is no way out).
fn read_stdin_request(hint: bool) -> Result<Vec<u8>, Failure> {
    read_all_stdin(hint.then_some("waiting for stdin to close: it is the --request - body"))
}

/// Reads stdin for `-a -` (where `--no-stdin` is no way out).
fn read_stdin_attachment(hint: bool) -> Result<Vec<u8>, Failure> {
    read_all_stdin(hint.then_some("waiting for stdin to close: it is the -a - attachment"))
}

fn read_all_stdin(hint: Option<&'static str>) -> Result<Vec<u8>, Failure> {
    let _guard = hint.map(|text| hint_after(Duration::from_secs(3), text));
    let mut stdin = io::stdin().lock();
    let mut bytes = Vec::new();
    // The first read alone, so the hint is called off as soon as stdin
    // answers; `read_to_end` then grows the buffer with what comes, without
    // zeroing it (a 64 KiB zeroed buffer cost 16 fresh pages even for an
    // empty stdin).
    let mut first = [0u8; 512];
    let read = loop {
        match stdin.read(&mut first) {
            Ok(n) => {
                stdin_answered();
                bytes.extend_from_slice(&first[..n]);
                break if n == 0 {
                    Ok(0)
                } else {
                    stdin.read_to_end(&mut bytes)
                };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    stdin_answered();
    match read {
        Ok(_) => Ok(bytes),
        Err(e) => Err(Failure::usage(format!("reading stdin: {}", io_reason(&e)))),
    }
}

static STDIN_WAITING: AtomicBool = AtomicBool::new(false);

/// Prints a hint when stdin stays silent for `delay` (stderr is a
/// terminal). Returns a guard: dropping it (stdin answered) cancels the hint.
fn hint_after(delay: Duration, text: &'static str) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    STDIN_WAITING.store(true, Ordering::SeqCst);
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(delay) {
            if STDIN_WAITING.load(Ordering::SeqCst) {
                say(&format!("hint: {text}"));
            }
        }
    });
    tx
}

/// Stdin sent its first byte (or closed): no hint any more.
fn stdin_answered() {
    STDIN_WAITING.store(false, Ordering::SeqCst);
}

/// Reads the `--request` argument as UTF-8 text, naming it on any problem.
fn read_request(source: &FileArg, hint: bool) -> Result<String, Failure> {
    match source {
        FileArg::Stdin => decode_utf8(read_stdin_request(hint)?, "--request -"),
        FileArg::Path(path) => {
            let name = format!("--request {}", path.display());
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::usage(format!("{name}: {}", io_reason(&e))))?;
            decode_utf8(bytes, &name)
        }
    }
}

/// The `-a` arguments, read and sorted into what the user message needs
/// (SPEC §8): text inlined, binary data left in files to be streamed.
#[derive(Debug, Default)]
struct Attachments {
    /// `<file name="…">` blocks, in command-line order.
    pub blocks: Vec<String>,
    /// Content parts for binary files and URLs, in command-line order; their
    /// data strings hold [`body::placeholder`]s for `data`.
    pub parts: Vec<Value>,
    /// Where each placeholder's bytes are read from while the body is sent.
    pub data: Vec<Data>,
    /// One line per attachment for `-v`: argument, kind, size.
    pub listing: Vec<String>,
}

/// How much of a file is looked at before it must at least look like text:
/// a large binary file of an unknown kind is refused without reading it all.
const TEXT_PROBE: usize = 64 * 1024;

/// Reads every `-a` argument: URLs are described, never fetched; files are
/// sniffed by their first bytes; `-a -` takes `stdin`, already read. Any
/// problem is exit 2 naming the argument, before a connection is made.
fn attachments(args: &[String], stdin: Option<Vec<u8>>) -> Result<Attachments, Failure> {
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
                let data = Data::file(path, arg.as_str())?;
                found
                    .listing
                    .push(format!("-a {arg}: {}, {} bytes", kind.name(), data.size()));
                push_binary(&mut found, kind, arg, data);
            }
            (Some(kind), None) => {
                found
                    .listing
                    .push(format!("-a {arg}: {}, {} bytes", kind.name(), bytes.len()));
                push_binary(&mut found, kind, arg, Data::Bytes(Arc::new(bytes)));
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
                let text = attach::text_of(bytes).ok_or_else(|| attach::unsupported(arg))?;
                found.listing.push(format!("-a {arg}: text, {size} bytes"));
                found
                    .blocks
                    .push(attach::file_block(attach::block_name(arg), &text));
            }
        }
    }
    Ok(found)
}

fn push_binary(found: &mut Attachments, kind: attach::FileKind, arg: &str, data: Data) {
    let placeholder = body::placeholder(found.data.len());
    found
        .parts
        .push(kind.data_part(&attach::base_name(arg), &placeholder));
    found.data.push(data);
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
