//! The command-line definition: every flag, its help text, and the examples.
//!
//! Values are only parsed here; meaning (environment, defaults, conflicts
//! that need the environment) is decided once, in `config.rs`.

use clap::{ArgAction, Parser, ValueEnum, ValueHint};
use std::path::PathBuf;

mod reference;
mod usage;

pub use reference::{Section, SECTIONS};
pub use usage::usage_failure;

// One list of examples for `-h` and `--help` (and so the man page).
pub const EXAMPLES: &str = "\
Examples:
  echo \"Why is the sky blue?\" | orstream
  orstream -m anthropic/claude-sonnet-4 \"Write a haiku about pipes\"
  git diff | orstream -s \"You review code.\" \"Review this diff\"
  orstream --json \"hi\" | jq -j '.choices[0].delta.content // empty'
  orstream -m openai/gpt-4o,anthropic/claude-sonnet-4 -o provider='{\"sort\":\"price\"}' \"hi\"
  orstream --base-url http://localhost:11434/v1 -m llama3 \"hi\"
  orstream -a screenshot.png \"What is wrong in this dialog?\"
  orstream -a invoice.pdf --schema 'total float, due_date' \"extract\"
  orstream -x \"a bash script that renames *.jpeg to *.jpg\" > rename.sh
  orstream -c notes.json \"and what about the second point?\"
  orstream --result --web \"latest stable Rust?\" | jq .citations
  orstream -m google/gemini-2.5-flash-image --images out/ \"a red fox\"
  orstream --each reviews.txt -P 16 \"Sentiment: pos, neg or neutral?\" > out.jsonl
  orstream --from-sse examples/answer.sse";

/// `--help`'s text after the flags: the reference sections, then the examples.
/// Not in the derive: wrapping it costs as much as parsing the arguments, and
/// only `--help` shows it (`crate::command` adds it).
pub fn after_long_help() -> String {
    format!("{}{EXAMPLES}", reference::help_text(100))
}

/// Stream an LLM answer from OpenRouter (or any OpenAI-compatible server) to stdout.
#[derive(Debug, Parser)]
#[command(
    name = "orstream",
    version,
    about = "Stream an LLM answer from OpenRouter (or any OpenAI-compatible server) to stdout",
    long_about = "Sends one chat-completion request with \"stream\": true and writes the answer \
to stdout as the bytes arrive. The prompt is the PROMPT words, the text piped on stdin, or \
both (stdin first, then a blank line, then the words).",
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Args {
    /// The prompt; the words are joined with single spaces (put -- before words that start
    /// with -).
    #[arg(value_name = "PROMPT", value_hint = ValueHint::Other)]
    pub prompt: Vec<String>,

    /// Add a system message before the user message.
    #[arg(short, long, value_name = "TEXT", value_hint = ValueHint::Other, help_heading = "Prompt")]
    pub system: Option<String>,

    /// A whole JSON request body in OpenAI chat format (- = stdin); flags override its fields.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Prompt")]
    pub request: Option<PathBuf>,

    /// Ignore stdin entirely (for scripts that spawn orstream with a pipe that never closes).
    #[arg(long, help_heading = "Prompt")]
    pub no_stdin: bool,

    /// Add a file to the message: image, PDF, audio, video or text, told by its first bytes;
    /// an http(s) URL is sent by URL; - = stdin (repeatable).
    #[arg(short = 'a', long = "attach", value_name = "PATH|URL|-", value_hint = ValueHint::FilePath, action = ArgAction::Append, help_heading = "Prompt")]
    pub attach: Vec<String>,

    /// Keep the conversation in FILE (a --request body): the prompt is appended, the answer
    /// saved on success.
    #[arg(short = 'c', long = "chat", value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Prompt", conflicts_with_all = ["request", "from_sse", "list_models"])]
    pub chat: Option<PathBuf>,

    /// Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL]
    /// [default: openrouter/auto on openrouter.ai, none elsewhere].
    #[arg(short, long, value_name = "MODEL", value_hint = ValueHint::Other, help_heading = "Request")]
    pub model: Option<String>,

    /// Sampling temperature.
    #[arg(
        short,
        long,
        value_name = "T",
        value_hint = ValueHint::Other,
        allow_negative_numbers = true,
        value_parser = parse_temperature,
        help_heading = "Request"
    )]
    pub temperature: Option<f64>,

    /// Maximum number of tokens to generate.
    #[arg(long, value_name = "N", value_hint = ValueHint::Other, allow_negative_numbers = true, value_parser = parse_count::<u64>, help_heading = "Request")]
    pub max_tokens: Option<u64>,

    /// Nucleus sampling probability mass, from 0 to 1.
    #[arg(long, value_name = "P", value_hint = ValueHint::Other, allow_negative_numbers = true, value_parser = parse_top_p, help_heading = "Request")]
    pub top_p: Option<f64>,

    /// Seed for deterministic sampling, where supported (any whole number).
    #[arg(
        long,
        value_name = "N",
        value_hint = ValueHint::Other,
        allow_negative_numbers = true,
        value_parser = parse_seed,
        help_heading = "Request"
    )]
    pub seed: Option<i64>,

    /// Stop sequence (repeatable; always sent as an array).
    #[arg(long, value_name = "TEXT", value_hint = ValueHint::Other, action = ArgAction::Append, help_heading = "Request")]
    pub stop: Vec<String>,

    /// Reasoning effort: sent as "reasoning": {"effort": LEVEL} to openrouter.ai, as
    /// "reasoning_effort": LEVEL to other servers; none turns reasoning off.
    #[arg(long, value_name = "LEVEL", help_heading = "Request")]
    pub reasoning_effort: Option<Effort>,

    /// Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", value_hint = ValueHint::Other, action = ArgAction::Append, help_heading = "Request")]
    pub options: Vec<String>,

    /// Add or replace a request header, 'Name: value'; 'Name:' removes it (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_hint = ValueHint::Other, action = ArgAction::Append, help_heading = "Request")]
    pub headers: Vec<String>,

    /// Base URL of the API, up to /v1 or the like [env: OPENROUTER_BASE_URL] [default:
    /// https://openrouter.ai/api/v1].
    #[arg(long, value_name = "URL", value_hint = ValueHint::Url, help_heading = "Connection")]
    pub base_url: Option<String>,

    /// Read the API key from the first line of this file (instead of OPENROUTER_API_KEY).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath, help_heading = "Connection")]
    pub api_key_file: Option<PathBuf>,

    /// Seconds allowed for TCP connect, proxy and TLS handshake.
    #[arg(long, value_name = "SECS", value_hint = ValueHint::Other, default_value = "30", allow_negative_numbers = true, value_parser = parse_secs, help_heading = "Connection")]
    pub connect_timeout: f64,

    /// Seconds without any byte from the server (keep-alives count), or taken by it while a
    /// body is sent, before giving up; no total limit.
    #[arg(long, value_name = "SECS", value_hint = ValueHint::Other, default_value = "120", allow_negative_numbers = true, value_parser = parse_secs, help_heading = "Connection")]
    pub idle_timeout: f64,

    /// Retries on connection failures, 408, 429, 500, 502, 503 and 504, never once output began;
    /// waits 0.5 s doubling (give or take 25%), or Retry-After, at most 60 s.
    #[arg(
        long,
        value_name = "N",
        value_hint = ValueHint::Other,
        default_value = "2",
        allow_negative_numbers = true,
        value_parser = parse_count::<u32>,
        help_heading = "Connection"
    )]
    pub retries: u32,

    /// Write each raw chunk as one JSON line (JSON Lines) instead of the text.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Do not add a final newline when the answer does not end in one.
    #[arg(short = 'n', long, help_heading = "Output")]
    pub no_newline: bool,

    /// Write the model's reasoning to stderr (dimmed on a terminal).
    #[arg(long, help_heading = "Output")]
    pub reasoning: bool,

    /// After the stream, print model, provider, tokens, cost and speed on stderr.
    #[arg(short, long, help_heading = "Output")]
    pub usage: bool,

    /// Trace the request, status, generation id, provider, comments and timing on stderr.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// No spinner and no warnings (errors still print).
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,

    /// Ask for JSON matching SCHEMA: inline JSON Schema, a file, or 'name, age int, bio: a short
    /// bio'; exit 8 if the answer is not such JSON.
    #[arg(
        long,
        value_name = "SCHEMA",
        value_hint = ValueHint::FilePath,
        help_heading = "For scripts",
        conflicts_with = "schema_multi"
    )]
    pub schema: Option<String>,

    /// Like --schema, for a list: the answer is {"items": [...]}.
    #[arg(long, value_name = "SCHEMA", value_hint = ValueHint::FilePath, help_heading = "For scripts")]
    pub schema_multi: Option<String>,

    /// Write only the contents of the first fenced code block, as it streams; exit 8 if there is
    /// none.
    #[arg(short = 'x', long, help_heading = "For scripts", conflicts_with_all = ["json", "schema", "schema_multi"])]
    pub extract: bool,

    /// Write no text while streaming; at the end, one JSON object on stdout: text, finish reason,
    /// exit status, error, warnings, model, usage, sources, images, tool calls, timing.
    #[arg(long, help_heading = "The whole answer", conflicts_with = "json")]
    pub result: bool,

    /// Save the answer's images into DIR as image-N.EXT (never overwriting), and ask the model
    /// for images ("modalities": ["image", "text"]).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, help_heading = "The whole answer")]
    pub images: Option<PathBuf>,

    /// Let the model search the web (OpenRouter's web_search tool); the sources are listed after
    /// the answer.
    #[arg(long, help_heading = "The whole answer")]
    pub web: bool,

    /// Run the prompt once per line of FILE (- = stdin), the line as if piped on stdin; one
    /// --result object per line on stdout, in line order.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Many prompts", conflicts_with_all = ["chat", "json", "from_sse", "list_models"])]
    pub each: Option<PathBuf>,

    /// With --each: how many items are in flight at once (1 to 64).
    #[arg(short = 'P', long, value_name = "N", default_value_t = 4, allow_negative_numbers = true, value_hint = ValueHint::Other, value_parser = parse_parallel, help_heading = "Many prompts")]
    pub parallel: u32,

    /// With --each: start no further item once the finished items cost USD dollars in all.
    #[arg(long, value_name = "USD", allow_negative_numbers = true, value_hint = ValueHint::Other, value_parser = parse_cost, requires = "each", help_heading = "Many prompts")]
    pub max_cost: Option<f64>,

    /// With --each: skip the lines whose result in RESULTS (an earlier --each output) had exit 0.
    #[arg(long, value_name = "RESULTS", value_hint = ValueHint::FilePath, requires = "each", help_heading = "Many prompts")]
    pub resume: Option<PathBuf>,

    /// Replay a recorded SSE stream (- = stdin) exactly as a live one; no request is made.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Other commands", conflicts_with_all = ["request", "list_models"])]
    pub from_sse: Option<PathBuf>,

    /// List the model ids the server offers, sorted, one per line.
    #[arg(long, help_heading = "Other commands", conflicts_with = "request")]
    pub list_models: bool,
}

/// `--reasoning-effort` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Effort {
    /// Reasoning off.
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
    Max,
}

impl Effort {
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

/// `-t`: a number JSON can carry (no NaN or infinity), not negative.
fn parse_temperature(s: &str) -> Result<f64, String> {
    match parse_finite(s)? {
        v if v >= 0.0 => Ok(v),
        _ => Err("expected a number, 0 or more".into()),
    }
}

/// `--top-p`: a probability.
fn parse_top_p(s: &str) -> Result<f64, String> {
    match parse_finite(s)? {
        v if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

/// A number JSON can carry (no NaN or infinity).
fn parse_finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("expected a finite number".into()),
        Err(_) => Err("expected a number, 0 or more".into()),
    }
}

/// `--max-tokens`, `--retries`: a count.
fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a whole number, 0 or more".to_string())
}

/// `--seed`: any 64-bit whole number, negative ones too.
fn parse_seed(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a whole number".to_string())
}

/// `-P`: items in flight.
fn parse_parallel(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 64".into()),
    }
}

/// `--max-cost`: US dollars.
fn parse_cost(s: &str) -> Result<f64, String> {
    match parse_finite(s)? {
        v if v >= 0.0 => Ok(v),
        _ => Err("expected an amount of US dollars, 0 or more".into()),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        _ => Err("expected a positive number of seconds".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn flags_after_prompt_words_are_flags() {
        let a = Args::try_parse_from(["orstream", "hi", "-q", "there", "--", "-n"]).unwrap();
        assert!(a.quiet && !a.no_newline);
        assert_eq!(a.prompt, ["hi", "there", "-n"]);
    }

    #[test]
    fn secs_parser() {
        assert_eq!(parse_secs("1.5"), Ok(1.5));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("nan").is_err());
        assert!(parse_secs("abc").is_err());
        assert!(parse_finite("nan").is_err());
        assert!(parse_finite("inf").is_err());
        assert_eq!(parse_finite("-0.5"), Ok(-0.5));
        assert!(parse_temperature("-0.5").is_err());
        assert_eq!(parse_temperature("0"), Ok(0.0));
        assert!(parse_top_p("1.01").is_err());
        assert_eq!(parse_count::<u64>("7"), Ok(7));
        assert!(parse_count::<u32>("-1").is_err());
        assert_eq!(parse_seed("-3"), Ok(-3));
    }
}
