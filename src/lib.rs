//! orstream: stream an LLM chat completion to stdout.
//!
//! `run` reads like the SPEC: parse, configure, gather the prompt, send,
//! stream, check, save, end. Pure logic lives in `prompt`, `request`, `sse`,
//! `chunk`, `exit`, `attach`, `fence`, `schema`; I/O at the edges in
//! `input`, `body`, `client`, `cancel`, `output`, `ui`, `stream`, `chat`.

pub mod attach;
pub mod body;
pub mod cancel;
pub mod chat;
pub mod chunk;
pub mod cli;
pub mod client;
pub mod config;
pub mod exit;
pub mod fence;
pub mod input;
pub mod output;
pub mod prompt;
pub mod request;
pub mod schema;
pub mod sse;
pub mod stream;
pub mod ui;

use crate::config::{Config, Env, Mode, Shape, Source, StdinUse, Ttys};
use crate::exit::{classify, Failure, Kind};
use crate::input::{io_reason, read_source, read_stdin};
use crate::output::{say, Out};
use crate::stream::Session;
use crate::ui::Ui;
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Instant;

/// The clap command, for generated completions and the man page.
pub fn command() -> clap::Command {
    cli::Args::command()
}

/// Runs orstream with these arguments. `exit_on_signal` ends the process
/// with 130 when a signal cannot be handled by returning (a hung connect).
pub fn run(argv: Vec<OsString>, exit_on_signal: fn() -> !) -> anyhow::Result<()> {
    let Some(args) = parse_args(argv)? else {
        return Ok(());
    };
    // Before any file is read: a key or schema file may be a FIFO that
    // blocks, and a signal then must still exit 130.
    cancel::install(exit_on_signal).context("cannot install the signal handler")?;
    let env = Env::from_process();
    let ttys = detect_ttys(&env);
    let config = Config::from_args(args, &env, ttys)?;
    if let Some(key) = &config.key {
        output::register_secret(key.expose());
    }
    Out::set_final_newline(config.output.final_newline);
    let started = Instant::now();
    match &config.mode {
        Mode::Chat => chat(&config, started),
        Mode::ListModels => list_models(&config),
        Mode::Replay(source) => replay(&config, source, started),
    }
}

/// Parses the command line; `None` when help or version was printed.
/// Errors are one line plus a hint, never clap's multi-line default.
fn parse_args(argv: Vec<OsString>) -> Result<Option<cli::Args>, anyhow::Error> {
    let matches = command()
        .color(clap::ColorChoice::Never)
        .try_get_matches_from(argv);
    let parsed = matches.and_then(|m| cli::Args::from_arg_matches(&m));
    match parsed {
        Ok(args) => Ok(Some(args)),
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let text = e.render().to_string();
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing stdout")?;
            Ok(None)
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
            Err(Failure::usage(message)
                .with_hint("see 'orstream --help'")
                .into())
        }
    }
}

fn detect_ttys(env: &Env) -> Ttys {
    use is_terminal::is_terminal;
    Ttys {
        stdin: is_terminal(io::stdin()),
        stdout: is_terminal(io::stdout()),
        stderr: is_terminal(io::stderr()) || ui::pretend_tty(env.get("ORSTREAM_PRETEND_TTY")),
    }
}

/// `orstream [PROMPT]…`: one chat request, streamed.
fn chat(config: &Config, started: Instant) -> anyhow::Result<()> {
    let Prepared {
        conversation,
        sent,
        body,
    } = prepare(config)?;

    cancel::set_phase(cancel::Phase::Request);
    let mut ui = Ui::new(config.output, started);
    ui.waiting("connecting");
    let agent = client::agent(config)?;
    let mut out = Out::stdout();
    if out.is_pipe() {
        cancel::watch_stdout();
    }
    let url = config.url("chat/completions");
    let resp = client::send(&agent, config, &url, client::Call::Post(&body))?;
    cancel::set_phase(cancel::Phase::Stream);
    let headers = resp.headers();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if config.output.verbose {
        if let Some(id) = headers.get("x-generation-id").and_then(|v| v.to_str().ok()) {
            say(&format!("< X-Generation-Id: {id}"));
        }
        say(&format!("< Content-Type: {content_type}"));
    }
    ui.waiting("waiting for the model");

    let mut session = new_session(config);
    let mut reader = resp.into_body().into_reader();
    let result = if is_json_type(&content_type) {
        read_capped(&mut reader, sse::MAX_LINE, config)
            .map_err(anyhow::Error::from)
            .and_then(|body| stream::whole(&body, &mut session, &mut out, &mut ui))
    } else {
        stream::pump(&mut reader, &mut session, &mut out, &mut ui, &|e| {
            client::stream_read_error(e, config)
        })
    };
    drop(reader);
    finish(config, result, out, ui, &mut session)?;
    if let Some(conversation) = &conversation {
        // A signal that came as the stream ended: 130, and FILE as it was.
        // From here on one exits at once (the save in progress is dropped).
        cancel::set_phase(cancel::Phase::Input);
        if cancel::cancelled() {
            return Err(Failure::interrupted().into());
        }
        // Its compact JSON copy is not needed any more, only the sources.
        let sources = body.sources().to_vec();
        drop(body);
        save_conversation(conversation, sent, sources, &session)?;
    }
    Ok(())
}

/// What a chat run sends, gathered before any connection.
struct Prepared {
    /// `-c FILE`, locked.
    conversation: Option<chat::Chat>,
    /// The body as a value, data placeholders in it (kept for `-c`).
    sent: serde_json::Value,
    /// The same body, sized and streamed with the attachments' data.
    body: body::Body,
}

/// Reads everything local — the conversation (locked first, so a second run
/// on it is refused before it reads stdin), stdin, `--request`, attachments
/// — and builds the body. Every problem here is exit 2 before a connection.
fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    cancel::set_phase(cancel::Phase::Input);
    let mut conversation = config.chat.as_deref().map(chat::Chat::open).transpose()?;
    let (stdin_text, stdin_bytes) = match config.stdin {
        StdinUse::Prompt => {
            let text = prompt::decode_utf8(read_stdin(config.stdin_hint)?, "stdin")?;
            (Some(text), None)
        }
        StdinUse::Attachment => (None, Some(input::read_stdin_attachment(config.stdin_hint)?)),
        _ => (None, None),
    };
    let base = match (&mut conversation, &config.request) {
        (Some(c), _) => c.take_body(),
        (None, Some(source)) => {
            let text = read_source(source, config.stdin_hint)?;
            Some(prompt::parse_request(&text, &source.name())?)
        }
        (None, None) => None,
    };
    let attachments = input::attachments(&config.attach, stdin_bytes)?;
    if config.output.verbose {
        for line in &attachments.listing {
            say(&format!("* attach {line}"));
        }
    }
    let prompt = prompt::user_text(&config.words, stdin_text.as_deref());
    let user = if !config.attach.is_empty() {
        // With an attachment the prompt may be empty: the files speak.
        attach::user_content(&attachments.blocks, prompt.as_deref(), attachments.parts)
    } else {
        match (config.request.is_some(), prompt) {
            // `--request` without PROMPT words sends the file as it is.
            (true, None) => None,
            (_, text) => Some(serde_json::Value::String(prompt::require_text(text)?)),
        }
    };
    let sent = serde_json::Value::Object(request::build_body(base, user, &config.body));
    let body = body::Body::new(&sent, attachments.sources, false)?;
    Ok(Prepared {
        conversation,
        sent,
        body,
    })
}

/// Rewrites the conversation file: the body as sent (attachments streamed
/// into it as they were sent), plus the whole answer (SPEC §10).
fn save_conversation(
    conversation: &chat::Chat,
    sent: serde_json::Value,
    sources: Vec<body::Source>,
    session: &Session,
) -> anyhow::Result<()> {
    let serde_json::Value::Object(sent) = sent else {
        return Ok(());
    };
    let answer = session.answer.text().unwrap_or_default();
    let saved = serde_json::Value::Object(chat::saved_body(sent, answer));
    let file = body::Body::new(&saved, sources, true)?;
    // Only its text is needed now: a long history is not held twice.
    drop(saved);
    conversation.save(&mut |w| {
        file.write_to(w)?;
        w.write_all(b"\n")
    })?;
    Ok(())
}

/// The stream's bookkeeping for this run: what `-x`, `--schema` and `-c`
/// need of the answer.
fn new_session(config: &Config) -> Session {
    let keep = match (&config.chat, &config.shape) {
        // A conversation saves the whole answer, whatever its size.
        (Some(_), _) => usize::MAX,
        (None, Shape::Schema(_)) => SCHEMA_CHECK_LIMIT,
        (None, _) => 0,
    };
    let session = Session::new(config.output).keep_answer(stream::Answer::keep(keep));
    match config.shape {
        Shape::Extract => session.extract(),
        _ => session,
    }
}

/// Answers larger than this are not checked against `--schema` (SPEC §9).
const SCHEMA_CHECK_LIMIT: usize = 16 * 1024 * 1024;

/// `--from-sse FILE`: a recorded stream, printed as a live one would be.
fn replay(config: &Config, source: &Source, started: Instant) -> anyhow::Result<()> {
    // Opening a FIFO waits for its writer: nothing is printed yet.
    cancel::set_phase(cancel::Phase::Input);
    let name = source.name();
    let open_error = |e: io::Error| Failure::usage(format!("--from-sse {name}: {}", io_reason(&e)));
    let mut reader: Box<dyn Read> = match source {
        Source::Stdin => Box::new(Wakeable(
            io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(open_error)?,
        )),
        Source::File(path) => {
            let file = std::fs::File::open(path).map_err(open_error)?;
            match file.metadata() {
                // A FIFO, `/dev/stdin`, `<(curl -N …)`: it may block for ever.
                Ok(m) if !m.is_file() => Box::new(Wakeable(file.into())),
                _ => Box::new(file),
            }
        }
    };
    cancel::set_phase(cancel::Phase::Stream);
    let mut out = Out::stdout();
    let mut session = new_session(config);
    let mut ui = Ui::new(config.output, started);
    let read_error = |e: io::Error| {
        Some(Failure::usage(format!(
            "--from-sse {name}: {}",
            io_reason(&e)
        )))
    };
    let result = stream::pump(&mut reader, &mut session, &mut out, &mut ui, &read_error);
    finish(config, result, out, ui, &mut session)
}

/// Input a socket shutdown cannot wake (a replayed pipe): a signal makes
/// its read return 0, so the replay ends the way a live stream does.
struct Wakeable(std::os::fd::OwnedFd);

impl Read for Wakeable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        cancel::read_or_wake(self.0.as_raw_fd(), buf)
    }
}

/// Ends a stream on every path: what `-x` held back is written, the partial
/// line is ended (except when the reader is gone), the answer's shape is
/// checked when it completed, the usage line printed, and the outcome passed on.
fn finish(
    config: &Config,
    result: anyhow::Result<stream::Ending>,
    mut out: Out,
    mut ui: Ui,
    session: &mut Session,
) -> anyhow::Result<()> {
    ui.stop_spinner();
    if let Err(e) = &result {
        if classify(e) == Kind::BrokenPipe {
            // Close the socket now, so the provider stops generating.
            cancel::shutdown();
            return result.map(|_| ());
        }
    }
    session.end(&mut out, &mut ui);
    if let Err(e) = out.finish(config.output.final_newline) {
        cancel::shutdown();
        return Err(anyhow::Error::new(e).context("writing stdout"));
    }
    let result = match result {
        Ok(_) => check_shape(config, session, &mut ui),
        Err(e) => Err(e),
    };
    // Warnings wait for the answer's last line, so they never land inside it.
    ui.flush_warnings();
    if config.output.verbose {
        let total = ui.elapsed().as_secs_f64();
        match ui.time_to_first_token() {
            Some(t) => say(&format!(
                "* first token after {:.3} s, done after {total:.3} s",
                t.as_secs_f64()
            )),
            None => say(&format!("* done after {total:.3} s, no answer text")),
        }
    }
    if config.output.usage {
        say(&ui.usage_line(
            session.model.as_deref(),
            session.provider.as_deref(),
            session.usage.as_ref(),
        ));
    }
    result
}

/// Exit 8 when a completed answer is not in the shape asked for (SPEC §9).
fn check_shape(config: &Config, session: &Session, ui: &mut Ui) -> anyhow::Result<()> {
    match &config.shape {
        Shape::Free => Ok(()),
        Shape::Extract if session.no_code_block() => {
            Err(Failure::new(Kind::Shape, "the answer has no fenced code block (-x)").into())
        }
        Shape::Extract => Ok(()),
        Shape::Schema(s) => match session.answer.text() {
            Some(answer) if answer.len() <= SCHEMA_CHECK_LIMIT => {
                schema::check(answer, s).map_err(|why| {
                    Failure::new(
                        Kind::Shape,
                        format!("the answer is not valid JSON for --schema: {why}"),
                    )
                    .into()
                })
            }
            _ => {
                ui.warn("the answer is larger than 16 MiB: it was not checked against --schema");
                Ok(())
            }
        },
    }
}

/// `--list-models`: ids sorted, one per line; `--json`: the raw body.
fn list_models(config: &Config) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Models {
        data: Vec<Model>,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        id: String,
    }
    cancel::set_phase(cancel::Phase::Request);
    let agent = client::agent(config)?;
    let url = config.url("models");
    let resp = client::send(&agent, config, &url, client::Call::Get)?;
    let body = read_capped(
        &mut resp.into_body().into_reader(),
        256 * 1024 * 1024,
        config,
    )?;
    let mut out = Out::stdout();
    if config.output.format == config::Format::Json {
        // The raw body, ending in a newline.
        match body.last() {
            Some(b'\n') => out.line(&body[..body.len() - 1]),
            _ => out.line(&body),
        }
    } else {
        let models: Models = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                Kind::Server,
                format!("the model list from {url} is not valid: {e}"),
            )
        })?;
        let mut ids: Vec<String> = models.data.into_iter().map(|m| m.id).collect();
        ids.sort();
        for id in ids {
            out.line(id.as_bytes());
        }
    }
    out.flush().context("writing stdout")
}

fn is_json_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("application/json")
}

/// Reads a whole response body to EOF; past `limit` bytes it is a server
/// error (exit 6), like an oversized event: memory stays bounded.
fn read_capped(reader: &mut dyn Read, limit: usize, config: &Config) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| client::read_failure(e, config))?;
    if body.len() > limit {
        let mib = limit / (1024 * 1024);
        return Err(Failure::new(
            Kind::Server,
            format!("the response body is larger than {mib} MiB"),
        ));
    }
    Ok(body)
}

/// Prints an error per the one-line rule and picks the exit code.
pub fn report(err: &anyhow::Error) -> u8 {
    let kind = classify(err);
    match kind {
        Kind::BrokenPipe | Kind::Interrupted => {}
        _ => output::error_line(&format!("{err:#}"), exit::hint(err)),
    }
    kind.code()
}
