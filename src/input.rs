//! Reading local input: stdin and the files named on the command line, with
//! short lowercase reasons for their errors.

use crate::config::Source;
use crate::exit::Failure;
use crate::{prompt, ui};
use std::io::{self, Read};
use std::time::Duration;

/// Reads all of stdin; with `hint`, says after 3 s of silence what it waits for.
pub fn read_stdin(hint: bool) -> Result<Vec<u8>, Failure> {
    let _guard = hint.then(|| ui::stdin_hint_after(Duration::from_secs(3)));
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
pub fn read_source(source: &Source, hint: bool) -> Result<String, Failure> {
    match source {
        Source::Stdin => prompt::decode_utf8(read_stdin(hint)?, "--request -"),
        Source::File(path) => {
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
