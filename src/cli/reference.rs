//! The reference beyond the flags: environment, exit status, attachment
//! kinds, the schema syntax, conversation files, cancellation. One text for
//! `--help` (the sections marked for it) and the man page (all of them).
//!
//! Plain ASCII only, without Markdown: groff drops or mangles other
//! characters, and backticks would be printed as they are.

/// One section: paragraphs, then terms with their descriptions, then more
/// paragraphs.
#[derive(Debug)]
pub struct Section {
    /// As `--help` writes it ("Exit status"); the man page upper-cases it.
    pub title: &'static str,
    pub before: &'static [&'static str],
    pub entries: &'static [(&'static str, &'static str)],
    pub after: &'static [&'static str],
    /// Also in `--help` (the man page has every section).
    pub in_help: bool,
}

pub const SECTIONS: &[Section] = &[
    Section {
        title: "Environment",
        before: &[],
        entries: &[
            (
                "OPENROUTER_API_KEY",
                "API key, sent as a Bearer token (or --api-key-file); never taken as a \
                 command-line value. Required for openrouter.ai, optional elsewhere.",
            ),
            (
                "OPENROUTER_BASE_URL",
                "base URL when --base-url is not given (default https://openrouter.ai/api/v1)",
            ),
            (
                "OPENROUTER_MODEL",
                "model when neither -m nor the --request file names one",
            ),
            (
                "ALL_PROXY, HTTPS_PROXY, HTTP_PROXY",
                "the first one set (upper case, then lower) is the proxy for every request",
            ),
            (
                "NO_PROXY",
                "hosts (and their subdomains) reached without the proxy",
            ),
            (
                "SSL_CERT_FILE",
                "PEM bundle that replaces the built-in TLS roots (read only for https)",
            ),
            ("NO_COLOR", "turns off colour and dim styles"),
            ("TERM", "dumb: no spinner, no colour, no cursor movement"),
        ],
        after: &[],
        in_help: true,
    },
    Section {
        title: "Exit status",
        before: &[],
        entries: &[
            (
                "0",
                "the stream completed ([DONE], or EOF after a finish_reason)",
            ),
            ("1", "internal or local I/O error"),
            (
                "2",
                "usage or bad local input (arguments, stdin, a named file, missing key)",
            ),
            (
                "3",
                "account: 401, 402, 403 (bad key, no credits, moderation)",
            ),
            ("4", "rate limited: 429 after retries"),
            (
                "5",
                "request rejected: another 4xx (unknown model, context too long), or a 3xx",
            ),
            (
                "6",
                "provider or server: 5xx after retries, or a mid-stream error",
            ),
            (
                "7",
                "network: connect, DNS, TLS, timeout (408 too), or a stream cut short",
            ),
            (
                "8",
                "the answer completed but is not in the shape asked for: not JSON \
                 matching --schema, or no fenced code block for -x",
            ),
            (
                "9",
                "--each stopped starting items because --max-cost was reached",
            ),
            ("130", "interrupted by SIGINT, SIGTERM or SIGHUP"),
            ("141", "stdout closed by the reader (| head), silently"),
        ],
        after: &[],
        in_help: true,
    },
    Section {
        title: "Cancellation",
        before: &[
            "Ctrl-C (or SIGTERM, SIGHUP) closes the connection at once, which stops \
             generation and billing on providers that support it (OpenAI, Anthropic and \
             others). Some providers (e.g. AWS Bedrock, Google, Groq, Mistral) keep \
             generating, and billing, after a disconnect.",
        ],
        entries: &[],
        after: &[],
        in_help: true,
    },
    Section {
        title: "Attachments",
        before: &[
            "-a PATH adds a file to the user message. Its kind comes from its first bytes, \
             never from its name:",
        ],
        entries: &[
            (
                "PNG, JPEG, GIF, WebP",
                "an image_url part with a base64 data: URL",
            ),
            (
                "PDF",
                "a file part with the base name as filename and a base64 data: URL",
            ),
            (
                "WAV, MP3, AAC, FLAC, OGG, AIFF, M4A",
                "an input_audio part with the base64 data and its format",
            ),
            (
                "MP4, QuickTime, WebM",
                "a video_url part with a base64 data: URL",
            ),
            (
                "text (UTF-8, no NUL byte)",
                "inlined in the user text as <file name=\"NAME\">...</file>, before the prompt",
            ),
            ("anything else", "exit 2: unsupported file type"),
        ],
        after: &[
            "The content stays a plain string when every attachment is text. An http(s) URL \
             is never downloaded: it is sent by URL, its kind told by the extension of its \
             path (.png .jpg .jpeg .gif .webp, .pdf, .mp4 .webm .mov, and YouTube links); \
             any other URL is exit 2. -a - reads the attachment from stdin. With an \
             attachment the prompt may be empty. Files are read and encoded while the body \
             is sent: memory stays flat whatever they weigh.",
        ],
        in_help: false,
    },
    Section {
        title: "Schema syntax",
        before: &[
            "--schema SCHEMA asks for JSON matching a JSON Schema, sent as response_format \
             json_schema (strict). SCHEMA is inline JSON (it starts with {), a file holding \
             one, or the concise syntax: fields separated by commas, or by newlines when \
             there is one, each",
        ],
        entries: &[
            (
                "NAME [TYPE][: DESCRIPTION]",
                "NAME is [A-Za-z_][A-Za-z0-9_]*",
            ),
            ("TYPE", "str (the default), int, float or bool"),
        ],
        after: &[
            "For example 'name, age int, bio: one sentence'. The properties keep the order \
             written (the model answers in that order) and all are required. \
             --schema-multi wraps the schema for a list: the answer is {\"items\": [...]}. \
             On openrouter.ai, provider.require_parameters is set so that only providers \
             that honour the schema are used. An answer that completed but is not such JSON \
             exits 8; what was printed stays.",
        ],
        in_help: false,
    },
    Section {
        title: "Conversations",
        before: &[
            "-c FILE keeps a conversation in FILE, a JSON request body (the format \
             --request reads):",
        ],
        entries: &[
            (
                "a missing or empty FILE",
                "starts a conversation; -c needs a prompt like any run (words, stdin or -a); \
                 to send FILE as it is, use --request FILE",
            ),
            (
                "the prompt",
                "is appended as a user message; -s replaces a leading system message; flags \
                 override the file's fields and are remembered",
            ),
            (
                "exit 0",
                "FILE is rewritten atomically with the body as sent plus the answer as an \
                 assistant message (a new FILE gets mode 0600)",
            ),
            (
                "any other exit",
                "(an error, 8, 130, 141) leaves FILE byte for byte as it was",
            ),
            (
                "a second run on FILE",
                "exits 2 at once: FILE is in use by another orstream",
            ),
        ],
        after: &[
            "-c does not go with --request, --from-sse or --list-models, and -c - is exit 2. \
                  The assistant message keeps the structured reasoning (reasoning_details) the \
                  stream sent, so the next turn hands it back to the model.",
        ],
        in_help: false,
    },
    Section {
        title: "The result object",
        before: &[
            "--result writes no text while streaming; when the run ends, stdout gets one \
             compact JSON object, keys in this order:",
        ],
        entries: &[
            ("text", "the whole answer text"),
            (
                "finish_reason",
                "the first non-null finish_reason, else null",
            ),
            (
                "exit, error",
                "the exit status, and the message of the error line (null on 0)",
            ),
            ("warnings", "the run's warnings, even with -q"),
            (
                "model, provider, generation_id, usage",
                "as the stream last reported them",
            ),
            ("citations", "the sources: url and title"),
            (
                "images",
                "path (null without --images), type, bytes; or url for a link",
            ),
            ("tool_calls", "assembled from their fragments by index"),
            ("reasoning, reasoning_details", "with --reasoning"),
            ("json", "with --schema: the parsed answer, or null"),
            ("code", "with -x: the extracted block, or null"),
            ("ttft_ms, elapsed_ms", "from the start of the run"),
        ],
        after: &[
            "The object is written on every exit but 2 and 141. --images DIR saves each \
             image as DIR/image-N.EXT (the first free N; EXT from the magic bytes), never \
             overwriting a file, and asks for images with modalities. --web adds \
             OpenRouter's web search tool; the sources are listed on stderr after the answer.",
        ],
        in_help: false,
    },
    Section {
        title: "Running many prompts",
        before: &[
            "--each FILE runs the prompt once per non-blank line of FILE, the line as if \
             piped on stdin (a line starting with { is an item object with text and an \
             optional id). stdout gets one --result object per item, with line and id first, \
             in line order.",
        ],
        entries: &[
            ("-P N", "items in flight at once (1 to 64, default 4)"),
            (
                "429 or 503",
                "pauses every new request for its Retry-After and halves the requests in \
                 flight; each success gives one back",
            ),
            (
                "--max-cost USD",
                "no item starts once the finished ones cost USD; exit 9",
            ),
            (
                "--resume RESULTS",
                "skips the lines whose result in RESULTS had exit 0",
            ),
        ],
        after: &[
            "The exit status is the first failed item's, in line order; a summary line on \
             stderr says how many items were done and which lines failed.",
        ],
        in_help: false,
    },
];

/// The widest term column `--help` gives; a longer term gets a line of
/// its own, its description below.
const TERM_COLUMN: usize = 20;

/// The `--help` text of the sections marked for it, each ending in a blank
/// line, wrapped to `width` columns.
pub fn help_text(width: usize) -> String {
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| s.in_help) {
        out.push_str(section.title);
        out.push_str(":\n");
        for paragraph in section.before {
            wrap_into(&mut out, "  ", paragraph, 2, width);
        }
        let column = section
            .entries
            .iter()
            .map(|(t, _)| t.len())
            .filter(|&n| n <= TERM_COLUMN)
            .max()
            .unwrap_or(0);
        let indent = 2 + column + 2;
        for (term, text) in section.entries {
            if term.len() > column {
                out.push_str(&format!("  {term}\n"));
                wrap_into(&mut out, &" ".repeat(indent), text, indent, width);
            } else {
                let lead = format!("  {term:<column$}  ");
                wrap_into(&mut out, &lead, text, indent, width);
            }
        }
        for paragraph in section.after {
            wrap_into(&mut out, "  ", paragraph, 2, width);
        }
        out.push('\n');
    }
    out
}

/// Appends `lead` and `text` wrapped at word boundaries to `width`
/// columns, the following lines indented by `indent`.
fn wrap_into(out: &mut String, lead: &str, text: &str, indent: usize, width: usize) {
    let mut line = lead.to_string();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_plain_ascii_without_markdown() {
        for s in SECTIONS {
            let texts = s
                .before
                .iter()
                .chain(s.after)
                .chain(s.entries.iter().flat_map(|(t, d)| [t, d]));
            for text in texts.chain([&s.title]) {
                assert!(text.is_ascii(), "{text}");
                assert!(!text.contains('`'), "{text}");
            }
        }
    }

    #[test]
    fn help_text_wraps_with_a_hanging_indent() {
        let text = help_text(70);
        assert!(
            text.starts_with(
                "Environment:\n  OPENROUTER_API_KEY   API key, sent as a Bearer token"
            ),
            "{text}"
        );
        assert!(text.lines().all(|l| l.len() <= 70), "{text}");
        assert!(
            text.contains(
                "\n  ALL_PROXY, HTTPS_PROXY, HTTP_PROXY\n                       the first"
            ),
            "{text}"
        );
        assert!(text.contains("\n  141  stdout closed"), "{text}");
        assert!(!text.contains("Schema syntax"), "man page only");
        let mut out = String::new();
        wrap_into(&mut out, "  x ", "aa bb cc", 4, 10);
        assert_eq!(out, "  x aa bb\n    cc\n");
    }
}
