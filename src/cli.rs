//! The command-line definition: every flag, its help text, and the examples.
//!
//! Values are only parsed here; meaning (environment, defaults, conflicts
//! that need the environment) is decided once, in `config.rs`.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;

// One list of examples for `-h` and `--help` (and so the man page).
macro_rules! examples {
    () => {
        "\
Examples:
  echo \"Why is the sky blue?\" | orstream
  orstream -m anthropic/claude-sonnet-4 \"Write a haiku about pipes\"
  git diff | orstream -s \"You review code.\" \"Review this diff\"
  orstream --json \"hi\" | jq -r '.choices[0].delta.content // empty'
  orstream -m openai/gpt-4o,anthropic/claude-sonnet-4 -o provider='{\"sort\":\"price\"}' \"hi\"
  orstream --base-url http://localhost:11434/v1 -m llama3 \"hi\"
  orstream -a screenshot.png \"What is wrong in this dialog?\"
  orstream -a invoice.pdf --schema 'total float, due_date' \"extract\"
  orstream -x \"a bash script that renames *.jpeg to *.jpg\" > rename.sh
  orstream -c notes.json \"and what about the second point?\"
  orstream --from-sse examples/answer.sse"
    };
}

const EXAMPLES: &str = examples!();

const AFTER_LONG_HELP: &str = concat!(
    "\
Environment:
  OPENROUTER_API_KEY   API key (or --api-key-file); never taken as a command-line value
  OPENROUTER_BASE_URL  base URL when --base-url is not given
  OPENROUTER_MODEL     model when neither -m nor --request names one
  ALL_PROXY, HTTPS_PROXY, HTTP_PROXY, NO_PROXY   proxy for every request
  SSL_CERT_FILE        PEM bundle that replaces the built-in TLS roots
  NO_COLOR             turns off colour and dim styles

Exit status:
  0 completed   1 internal   2 usage/bad input   3 account (401/402/403)
  4 rate limited   5 request rejected (other 4xx, 3xx)   6 provider/server error
  7 network/timeout/truncated stream   8 answer not in the shape asked for
  (--schema, -x)   130 interrupted   141 stdout closed

Cancellation:
  Ctrl-C (or SIGTERM/SIGHUP) closes the connection at once, which stops
  generation and billing on providers that support it (OpenAI, Anthropic and
  others). Some providers (e.g. AWS Bedrock, Google, Groq, Mistral) keep
  generating, and billing, after a disconnect.

",
    examples!()
);

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
    after_long_help = AFTER_LONG_HELP,
    max_term_width = 100
)]
pub struct Args {
    /// The prompt; the words are joined with single spaces (use `--` before words starting with `-`).
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,

    /// Add a system message before the user message.
    #[arg(short, long, value_name = "TEXT", help_heading = "Prompt")]
    pub system: Option<String>,

    /// A whole JSON request body in OpenAI chat format (`-` = stdin); flags override its fields.
    #[arg(long, value_name = "FILE", help_heading = "Prompt")]
    pub request: Option<PathBuf>,

    /// Ignore stdin entirely (for scripts that spawn orstream with a pipe that never closes).
    #[arg(long, help_heading = "Prompt")]
    pub no_stdin: bool,

    /// Add a file to the message: image, PDF, audio, video or text, told by its first bytes;
    /// an http(s) URL is sent by URL; `-` = stdin (repeatable).
    #[arg(short = 'a', long = "attach", value_name = "PATH|URL|-", action = ArgAction::Append, help_heading = "Prompt")]
    pub attach: Vec<String>,

    /// Keep the conversation in FILE (a --request body): the prompt is appended, the answer
    /// saved on success.
    #[arg(short = 'c', long = "chat", value_name = "FILE", help_heading = "Prompt", conflicts_with_all = ["request", "from_sse", "list_models"])]
    pub chat: Option<PathBuf>,

    /// Model id; a comma-separated list sends the rest as fallbacks [default: openrouter/auto].
    #[arg(short, long, value_name = "MODEL", help_heading = "Request")]
    pub model: Option<String>,

    /// Sampling temperature.
    #[arg(
        short,
        long,
        value_name = "T",
        allow_negative_numbers = true,
        value_parser = parse_finite,
        help_heading = "Request"
    )]
    pub temperature: Option<f64>,

    /// Maximum number of tokens to generate.
    #[arg(long, value_name = "N", help_heading = "Request")]
    pub max_tokens: Option<u64>,

    /// Nucleus sampling probability mass.
    #[arg(long, value_name = "P", value_parser = parse_finite, help_heading = "Request")]
    pub top_p: Option<f64>,

    /// Seed for deterministic sampling, where supported.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Request"
    )]
    pub seed: Option<i64>,

    /// Stop sequence (repeatable; always sent as an array).
    #[arg(long, value_name = "TEXT", action = ArgAction::Append, help_heading = "Request")]
    pub stop: Vec<String>,

    /// Reasoning effort, sent as "reasoning": {"effort": …}; `none` turns reasoning off.
    #[arg(long, value_name = "LEVEL", help_heading = "Request")]
    pub reasoning_effort: Option<Effort>,

    /// Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "Request")]
    pub options: Vec<String>,

    /// Add or replace a request header, 'Name: value'; 'Name:' removes it (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", action = ArgAction::Append, help_heading = "Request")]
    pub headers: Vec<String>,

    /// Base URL of the API [env: OPENROUTER_BASE_URL] [default: https://openrouter.ai/api/v1].
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub base_url: Option<String>,

    /// Read the API key from the first line of this file (instead of OPENROUTER_API_KEY).
    #[arg(long, value_name = "PATH", help_heading = "Connection")]
    pub api_key_file: Option<PathBuf>,

    /// Seconds allowed for TCP connect, proxy and TLS handshake.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs, help_heading = "Connection")]
    pub connect_timeout: f64,

    /// Seconds without any byte from the server (keep-alives count), or taken by it while a
    /// body is sent, before giving up; no total limit.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse_secs, help_heading = "Connection")]
    pub idle_timeout: f64,

    /// Retries on connection failures, 408, 429, 500, 502, 503 and 504, never once output began;
    /// waits 0.5 s doubling (±25 %), or Retry-After, at most 60 s.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2,
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
        help_heading = "For scripts",
        conflicts_with = "schema_multi"
    )]
    pub schema: Option<String>,

    /// Like --schema, for a list: the answer is {"items": [...]}.
    #[arg(long, value_name = "SCHEMA", help_heading = "For scripts")]
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
    #[arg(long, value_name = "DIR", help_heading = "The whole answer")]
    pub images: Option<PathBuf>,

    /// Let the model search the web (OpenRouter's web_search tool); the sources are listed after
    /// the answer.
    #[arg(long, help_heading = "The whole answer")]
    pub web: bool,

    /// Run the prompt once per line of FILE (`-` = stdin), the line as if piped on stdin; one
    /// --result object per line on stdout, in line order.
    #[arg(long, value_name = "FILE", help_heading = "Many prompts", conflicts_with_all = ["chat", "json", "from_sse", "list_models"])]
    pub each: Option<PathBuf>,

    /// With --each: how many items are in flight at once (1-64).
    #[arg(short = 'P', long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), help_heading = "Many prompts")]
    pub parallel: u32,

    /// With --each: start no further item once the finished items cost USD dollars in all.
    #[arg(long, value_name = "USD", value_parser = parse_cost, requires = "each", help_heading = "Many prompts")]
    pub max_cost: Option<f64>,

    /// With --each: skip the lines whose result in RESULTS (an earlier --each output) had exit 0.
    #[arg(
        long,
        value_name = "RESULTS",
        requires = "each",
        help_heading = "Many prompts"
    )]
    pub resume: Option<PathBuf>,

    /// Replay a recorded SSE stream (`-` = stdin) exactly as a live one; no request is made.
    #[arg(long, value_name = "FILE", help_heading = "Other commands", conflicts_with_all = ["request", "list_models"])]
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

/// A number JSON can carry (no NaN or infinity).
fn parse_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a finite number")),
    }
}

fn parse_cost(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not an amount of US dollars (e.g. 0.50)")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
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
    }
}
