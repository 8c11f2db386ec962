//! orstream: stream an LLM chat completion to stdout.
//!
//! `run` reads like the SPEC: parse, configure, gather the prompt, send,
//! stream, check, save, end. The modules form layers; each uses only the
//! ones below it (no circle, no arrow up):
//!
//! ```text
//! L5  lib, main        run() and the exit code
//! L4  engines (I/O)    input (stdin, --request, -a, --from-sse; the body
//!                      to send), body (sized, restartable, base64 on the
//!                      fly), client (one request path: agent, retries,
//!                      failures), stream (bytes → events → chunks → the
//!                      answer → one sink; how it ends), each (--each: a
//!                      window of workers on one agent, one rate gate),
//!                      outcome (how a run ended), conversation (-c, on
//!                      atomic_file: a locked, atomically replaced file that
//!                      knows no JSON), models (--list-models), ui (spinner,
//!                      warnings, usage line)
//! L3  config           Config { mode, net, output }, built once from
//!                      args, environment and terminals
//! L2  process edges    cli (the clap definition, argument errors, the
//!                      reference text), output (stdout, stderr,
//!                      the newline rule), signal (stop_reason(), the
//!                      streaming phase, socket shutdown), files (small
//!                      named files, read with a bound), process (what
//!                      std's runtime start did: standard fds, SIGPIPE)
//! L1  pure formats     sse, chunk (with the fast path), answer, result,
//!                      image, fence, schema, request (the one body parser
//!                      and builder), prompt, attach (magic bytes → content
//!                      parts), text (one-line messages), pem (the
//!                      certificates of a PEM bundle)
//! L0  vocabulary       exit (Failure, Kind, io_reason), secret
//!                      (redaction), url, fileid
//! ```

mod answer;
mod atomic_file;
mod attach;
mod body;
mod chunk;
mod cli;
mod client;
mod config;
mod conversation;
mod each;
mod exit;
mod fence;
mod fileid;
mod files;
mod image;
mod input;
mod models;
mod outcome;
mod output;
mod pem;
#[cfg(unix)]
mod process;
mod prompt;
mod request;
mod result;
mod schema;
mod secret;
mod signal;
mod sse;
mod stream;
#[cfg(test)]
mod test_support;
mod text;
mod ui;
mod url;

/// The pure parsers, for the fuzz targets in `fuzz/` only: not an API, and
/// nothing else may use it (the modules stay private to keep the layers).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::answer::{Answer, Carrier, Keep, Wants};
    pub use crate::attach::{could_be_text, is_url, sniff, text_of, url_part, UrlKind, SNIFF_LEN};
    pub use crate::body::{placeholder, Layout};
    pub use crate::chunk::{check_against_full_parse, error_body_message, Chunk, Template};
    pub use crate::fence::Extractor;
    pub use crate::schema::{concise, from_json, Schema};
    pub use crate::sse::{Event, Feed, Splitter};
    pub use crate::text::{escape_controls, escape_controls_but_lines, one_line};

    /// A request body from `value`, with `data[i]` held in memory in place
    /// of `placeholder(i)`: its length, and a fresh reader on each call.
    /// (`Body` itself stays private: exported, its `len` would want an
    /// `is_empty`.)
    pub fn body(
        value: &serde_json::Value,
        data: Vec<Vec<u8>>,
        layout: Layout,
    ) -> Result<(u64, impl Fn() -> Box<dyn std::io::Read>), String> {
        use crate::body::{Body, Data};
        let data = data
            .into_iter()
            .map(|d| Data::Bytes(std::sync::Arc::new(d)))
            .collect();
        let body = Body::new(value, data, layout).map_err(|e| e.to_string())?;
        let len = body.len();
        Ok((len, move || {
            Box::new(body.reader()) as Box<dyn std::io::Read>
        }))
    }
}

use crate::answer::Answer;
use crate::config::{ChatPlan, Config, Env, FileArg, Mode, OutputOptions, Ttys};
use crate::exit::{classify, Failure, Kind};
use crate::output::{say, Out};
use crate::stream::Session;
use crate::ui::Ui;
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::io::{self, Write};
use std::time::Instant;

/// The clap command, for generated completions, the man page and `--help`.
pub fn command() -> clap::Command {
    cli::Args::command().after_long_help(cli::after_long_help())
}

/// The reference beyond the flags (environment, exit status, attachment
/// kinds, schema syntax, conversations), for the man page; `--help` shows
/// the sections marked for it.
pub fn reference() -> &'static [cli::Section] {
    cli::SECTIONS
}

/// The examples `-h` and `--help` end with, for the man page.
pub fn examples() -> impl Iterator<Item = &'static str> {
    cli::EXAMPLES.lines().skip(1).map(str::trim)
}

/// The process's start and end for a C `main`, in place of std's runtime
/// start (see `process.rs`): `begin` before [`run`], `end` after it.
#[cfg(unix)]
pub use process::{begin, end};

/// Runs orstream with these arguments. `exit_on_signal` ends the process
/// with the code [`on_forced_exit`] gives when a signal cannot be handled
/// by returning (a hung connect).
pub fn run(argv: Vec<OsString>, exit_on_signal: fn() -> !) -> anyhow::Result<()> {
    // A file-size limit must be an error to report, not a death by signal
    // (and a core dump that could hold the key).
    signal::ignore_file_size_limit_signal();
    let Some(args) = parse_args(argv)? else {
        return Ok(());
    };
    // Before any file is read: a key or schema file may be a FIFO that
    // blocks, and a signal then must still exit 130.
    signal::install(exit_on_signal).context("cannot install the signal handler")?;
    let env = Env::from_process();
    let ttys = Ttys::detect(&env);
    output::set_same_terminal(ttys.same_terminal);
    let config = Config::from_args(args, &env, ttys)?;
    if let Some(key) = &config.net.key {
        secret::register(key);
    }
    Out::set_final_newline(config.output.final_newline);
    let started = Instant::now();
    outcome::expect_result(&config.output, started);
    let mut ended = None;
    let result = match &config.mode {
        Mode::Chat(plan) => chat(&config, plan, started, &mut ended),
        Mode::ListModels => return models::list(&config.net, &config.output),
        Mode::Replay(source) => replay(&config.output, source, started, &mut ended),
        Mode::Each(plan) => return each::run(&config, plan),
    };
    outcome::write_result(&result, ended).context("writing stdout")?;
    result
}

/// Called from the signal thread right before the process exits (the main
/// thread cannot return in time): the partial answer line is ended, as on
/// every other exit path, and a conversation file being saved is left as it
/// was. Returns the exit code: 130, or 0 when the turn was already saved
/// (its new file renamed over FILE), so a wrapper that retries on 130 does
/// not add the turn twice.
pub fn on_forced_exit() -> u8 {
    output::end_line_on_exit();
    if atomic_file::cleanup_on_exit() {
        // The turn was saved: a run that ends now has done its work.
        0
    } else {
        outcome::write_interrupted();
        Kind::Interrupted.code()
    }
}

/// Parses the command line; `None` when help or version was printed.
/// Errors are one line plus a hint, never clap's multi-line default.
fn parse_args(argv: Vec<OsString>) -> Result<Option<cli::Args>, anyhow::Error> {
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    // Parsed without `--help`'s reference text (the command is built for
    // every run; that text only for help), and in place, not on a clone.
    let mut cmd = cli::Args::command().color(clap::ColorChoice::Never);
    let matches = cmd.try_get_matches_from_mut(&argv);
    let parsed = matches.and_then(|mut m| cli::Args::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(args) => Ok(Some(args)),
        Err(e) if matches!(e.kind(), DisplayHelp | DisplayVersion) => {
            let e = match e.kind() {
                // Again with the whole command, for the text it shows.
                DisplayHelp => command()
                    .color(clap::ColorChoice::Never)
                    .try_get_matches_from(&argv)
                    .err()
                    .unwrap_or(e),
                _ => e,
            };
            let text = e.render().to_string();
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing stdout")?;
            Ok(None)
        }
        Err(e) => Err(cli::usage_failure(&e, &cmd).into()),
    }
}

/// `orstream [PROMPT]…`: one chat request, streamed; `ended` gets the
/// answer once the stream has ended, however it ended.
fn chat(
    config: &Config,
    plan: &ChatPlan,
    started: Instant,
    ended: &mut Option<outcome::Ended>,
) -> anyhow::Result<()> {
    let output = &config.output;
    let input::Prepared {
        conversation,
        sent,
        body,
    } = input::prepare(plan, output.verbose)?;

    let mut ui = Ui::new(output, started);
    ui.waiting("connecting");
    let agent = client::agent(&config.net)?;
    let mut out = Out::stdout();
    if out.is_pipe() {
        signal::watch_stdout_lazily();
    }
    let url = config.net.url("chat/completions");
    let resp = client::send(&client::Request {
        agent: &agent,
        net: &config.net,
        verbose: output.verbose,
        url: &url,
        call: client::Call::Post {
            body: &body,
            names_model: sent.contains_key("model") || sent.contains_key("models"),
        },
        pacer: &client::Alone,
    })?;
    let streaming = signal::streaming();
    let content_type = header(&resp, "content-type").unwrap_or("").to_string();
    if output.verbose {
        if let Some(id) = header(&resp, "x-generation-id") {
            say(&format!("< X-Generation-Id: {id}"));
        }
        say(&format!("< Content-Type: {content_type}"));
    }
    ui.waiting("waiting for the model");

    let wants = outcome::wants(output, conversation.is_some());
    let mut session = Session::new(output, Answer::new(wants));
    let result = if stream::is_json_type(&content_type) {
        client::read_body(resp, sse::MAX_LINE, &config.net)
            .map_err(anyhow::Error::from)
            .and_then(|whole| stream::whole(&whole, &mut session, &mut out, &mut ui))
    } else {
        let mut reader = resp.into_body().into_reader();
        stream::pump(&mut reader, &mut session, &mut out, &mut ui, &|e| {
            client::stream_read_error(e, &config.net)
        })
    };
    let finished = stream::finish(output, result, out, &mut ui, &mut session);
    // From here on a signal exits at once: the save in progress is dropped.
    drop(streaming);
    let saved = finished.and_then(|()| match &conversation {
        // A signal that came as the stream ended: 130, and FILE as it was.
        Some(_) if signal::interrupted() => Err(Failure::interrupted().into()),
        Some(conversation) => {
            // Its compact JSON copy is not needed any more, only the data.
            let data = body.data().to_vec();
            drop(body);
            Ok(conversation.save(sent, data, &session.answer)?)
        }
        None => Ok(()),
    });
    *ended = Some(outcome::Ended::new(session, &ui));
    saved
}

fn header<'a>(resp: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `--from-sse FILE`: a recorded stream, printed as a live one would be.
fn replay(
    output: &OutputOptions,
    source: &FileArg,
    started: Instant,
    ended: &mut Option<outcome::Ended>,
) -> anyhow::Result<()> {
    let mut reader = input::open_recording(source)?;
    let _streaming = signal::streaming();
    let mut out = Out::stdout();
    let mut session = Session::new(output, Answer::new(outcome::wants(output, false)));
    let mut ui = Ui::new(output, started).for_replay();
    let name = source.name();
    let read_error = |e: io::Error| {
        Some(Failure::usage(format!(
            "--from-sse {name}: {}",
            exit::io_reason(&e)
        )))
    };
    let result = stream::pump(&mut *reader, &mut session, &mut out, &mut ui, &read_error);
    let finished = stream::finish(output, result, out, &mut ui, &mut session);
    *ended = Some(outcome::Ended::new(session, &ui));
    finished
}

/// Prints an error per the one-line rule and picks the exit code.
pub fn report(err: &anyhow::Error) -> u8 {
    output::answer_over();
    let kind = classify(err);
    let silent = err
        .downcast_ref::<Failure>()
        .is_some_and(|f| f.message.is_empty());
    match kind {
        Kind::BrokenPipe | Kind::Interrupted => {}
        _ if silent => {}
        _ => output::error_line(&format!("{err:#}"), exit::hint(err)),
    }
    kind.code()
}
