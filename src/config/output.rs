//! How the answer is written and judged: the sink, the shape check, and
//! what goes to stderr (SPEC §4, §9).

use super::{Env, Ttys};
use crate::cli::Args;
use crate::exit::Failure;
use crate::files;
use crate::schema::{self, Schema};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the answer goes as it streams; chosen once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// The answer text, as it arrives.
    Text,
    /// `--json`: each chunk as one JSON line.
    JsonLines,
    /// `-x`: only the first fenced code block.
    Extract,
    /// `--result`: nothing while streaming, one object at the end.
    Result,
}

/// What the completed answer must be (SPEC §9); exit 8 when it is not.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Any text.
    None,
    /// JSON matching this schema (`--schema`, or `--schema-multi` wrapped),
    /// compiled once, as the config is built (and shared by `--each`'s
    /// items).
    Schema(Arc<Schema>),
    /// `-x`: a fenced code block.
    CodeBlock,
}

impl Check {
    pub fn schema(&self) -> Option<&Map<String, Value>> {
        match self {
            Check::Schema(s) => Some(s),
            _ => None,
        }
    }
}

/// What stderr is, for the spinner, styles and escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// A file or pipe: no spinner, no styles, reasoning raw.
    Plain,
    /// A terminal: reasoning escaped; a spinner unless it is `TERM=dumb`
    /// (no cursor movement there); dim reasoning unless `color` is off
    /// (`NO_COLOR`, or `TERM=dumb`).
    Terminal { spinner: bool, color: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputOptions {
    pub sink: SinkKind,
    pub check: Check,
    /// End a partial last line of answer text (no `-n`).
    pub final_newline: bool,
    /// `--reasoning`: reasoning text to stderr.
    pub reasoning: bool,
    /// `-u`: the usage line after the stream.
    pub usage: bool,
    /// `-v`: trace lines on stderr.
    pub verbose: bool,
    /// `-q`: no spinner, no warnings.
    pub quiet: bool,
    pub stderr: Stderr,
    /// `--images DIR`: where the answer's images are saved.
    pub images: Option<PathBuf>,
}

impl OutputOptions {
    pub(super) fn from_args(args: &Args, env: &Env, ttys: Ttys) -> Result<OutputOptions, Failure> {
        let check = match (&args.schema, &args.schema_multi, args.extract) {
            (Some(s), _, _) => Check::Schema(Arc::new(load_schema(s, "--schema", Schema::new)?)),
            (None, Some(s), _) => {
                Check::Schema(Arc::new(load_schema(s, "--schema-multi", Schema::multi)?))
            }
            (None, None, true) => Check::CodeBlock,
            (None, None, false) => Check::None,
        };
        let sink = match (args.json, args.result, &check) {
            (true, _, _) => SinkKind::JsonLines,
            (false, true, _) => SinkKind::Result,
            (false, false, Check::CodeBlock) => SinkKind::Extract,
            (false, false, _) => SinkKind::Text,
        };
        let images = args.images.as_deref().map(images_dir).transpose()?;
        let dumb = env.get("TERM") == Some("dumb");
        let stderr = if ttys.stderr {
            Stderr::Terminal {
                spinner: !dumb,
                color: !dumb && env.get("NO_COLOR").is_none(),
            }
        } else {
            Stderr::Plain
        };
        Ok(OutputOptions {
            sink,
            check,
            final_newline: !args.no_newline,
            reasoning: args.reasoning,
            usage: args.usage,
            verbose: args.verbose,
            quiet: args.quiet,
            stderr,
            images,
        })
    }
}

/// How S becomes a [`Schema`]: as it is, or wrapped for `--schema-multi`.
type Compile = fn(Map<String, Value>, &str) -> Result<Schema, Failure>;

/// `--images DIR`: an existing, writable directory, checked before the
/// request (exit 2, naming DIR).
fn images_dir(dir: &Path) -> Result<PathBuf, Failure> {
    let bad = |why: &str| Failure::usage(format!("--images {}: {why}", dir.display()));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad("not a directory")),
        Err(e) => return Err(bad(&crate::exit::io_reason(&e))),
    }
    if !crate::files::may_write_in(dir) {
        return Err(bad("not a writable directory"));
    }
    Ok(dir.to_path_buf())
}

/// SCHEMA argument → S, the JSON Schema object: inline JSON, a file, or
/// the concise syntax (SPEC §9) — compiled, so an invalid S is exit 2 here,
/// before any request. `flag` names it in errors.
fn load_schema(arg: &str, flag: &str, compile: Compile) -> Result<Schema, Failure> {
    if arg.trim_start().starts_with('{') {
        return compile(schema::from_json(arg, flag)?, flag);
    }
    let path = Path::new(arg);
    // `exists` rather than `is_file`: `--schema <(…)` names a pipe.
    if path.exists() && !path.is_dir() {
        let what = format!("{flag} {arg}");
        let bytes = files::read_capped(path, files::SMALL_FILE_LIMIT)
            .map_err(|e| Failure::usage(format!("{what}: {}", e.reason("16 MiB"))))?;
        let text = crate::prompt::decode_utf8(bytes, &what)?;
        // Editors on Windows start files with a BOM; jq accepts it, so do we.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        return compile(schema::from_json(text, &what)?, &what);
    }
    let s = schema::concise(arg, flag).map_err(|e| {
        // A mistyped file name would otherwise read as one bad field.
        let one_word = !arg.contains([',', ':']) && arg.split_whitespace().count() == 1;
        if one_word && arg.contains(['/', '.']) {
            let name = arg.trim();
            if Path::new(name).is_dir() {
                e.with_hint(format!("'{name}' is a directory, not a schema file"))
            } else {
                e.with_hint(format!("there is no file '{name}'"))
            }
        } else {
            e
        }
    })?;
    compile(s, flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn text(s: &Map<String, Value>) -> String {
        serde_json::to_string(s).unwrap()
    }

    /// A directory of its own under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("orstream-schema-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, bytes: &[u8]) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, bytes).unwrap();
            path.to_str().unwrap().to_string()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn inline_json_keeps_key_order() {
        let arg = r#"  {"type":"object","properties":{"z":{"type":"string"},"a":{"type":"integer"}},"required":["z","a"]}"#;
        assert_eq!(
            text(&load_schema(arg, "--schema", Schema::new).unwrap()),
            arg.trim_start()
        );
    }

    #[test]
    fn inline_json_errors() {
        let e = load_schema("{\"type\":", "--schema", Schema::new).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(
            e.message.starts_with("--schema: invalid JSON: ")
                && e.message.contains("line 1 column"),
            "{}",
            e.message
        );
        let e = load_schema("{\n  \"a\": 1,\n}", "--schema-multi", Schema::multi).unwrap_err();
        assert!(
            e.message.starts_with("--schema-multi: invalid JSON: ")
                && e.message.contains("line 3 column 1"),
            "{}",
            e.message
        );
        let e = schema::from_json("[1, 2]", "--schema").unwrap_err();
        assert!(
            e.message.starts_with("--schema: not a JSON object: ")
                && e.message.contains("line 1 column"),
            "{}",
            e.message
        );
        let e = schema::from_json("{} x", "--schema").unwrap_err();
        assert!(
            e.message.contains("invalid JSON: trailing characters"),
            "{}",
            e.message
        );
    }

    #[test]
    fn schema_files() {
        let dir = TempDir::new("files");
        let json =
            r#"{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}}}"#;
        let plain = dir.file("s.json", format!("{json}\n").as_bytes());
        assert_eq!(
            text(&load_schema(&plain, "--schema", Schema::new).unwrap()),
            json
        );

        let bom = dir.file("bom.json", format!("\u{feff}{json}").as_bytes());
        assert_eq!(
            text(&load_schema(&bom, "--schema", Schema::new).unwrap()),
            json
        );

        let bad = dir.file("bad.json", b"{\n\"a\":\n");
        let e = load_schema(&bad, "--schema", Schema::new).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(
            e.message
                .starts_with(&format!("--schema {bad}: invalid JSON: "))
                && e.message.contains("line 3 column 0"),
            "{}",
            e.message
        );

        let list = dir.file("list.json", b"[]");
        let e = load_schema(&list, "--schema-multi", Schema::multi).unwrap_err();
        assert!(
            e.message
                .starts_with(&format!("--schema-multi {list}: not a JSON object: ")),
            "{}",
            e.message
        );

        let latin1 = dir.file("latin1.json", b"{\"d\":\"caf\xE9\"}");
        let e = load_schema(&latin1, "--schema", Schema::new).unwrap_err();
        assert_eq!(
            e.message,
            format!("--schema {latin1} is not valid UTF-8 (first bad byte at offset 9)")
        );

        // A directory, or a file that is not there, is read as the concise syntax.
        let dir_arg = dir.0.to_str().unwrap().to_string();
        let e = load_schema(&dir_arg, "--schema", Schema::new).unwrap_err();
        assert!(e.message.contains("bad name"), "{}", e.message);
        let missing = format!("{dir_arg}/missing.json");
        let e = load_schema(&missing, "--schema", Schema::new).unwrap_err();
        assert!(e.message.contains("bad name"), "{}", e.message);
        assert_eq!(e.hint, Some(format!("there is no file '{missing}'")));
    }

    #[test]
    fn load_picks_concise_otherwise() {
        assert_eq!(
            text(&load_schema("a int", "--schema", Schema::new).unwrap()),
            r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}"#
        );
        let e = load_schema("a, b.c", "--schema", Schema::new).unwrap_err();
        assert_ne!(e.hint.as_deref(), Some("there is no file 'a, b.c'"));
    }
}
