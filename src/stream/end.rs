//! How a stream ends, on every path: what `-x` held back is written, the
//! partial line is ended (unless the reader is gone), a completed answer's
//! shape is checked, warnings and the usage line follow it.

use super::Session;
use crate::answer::Citation;
use crate::config::{Check, OutputOptions};
use crate::exit::{classify, Failure, Kind};
use crate::output::{say, say_plain, Out};
use crate::signal;
use crate::ui::Ui;

/// Answers larger than this are not checked against `--schema` (SPEC §9).
pub const SCHEMA_CHECK_LIMIT: usize = 16 * 1024 * 1024;

/// Ends the stream whose outcome is `result`, and passes the outcome on.
pub fn finish(
    opts: &OutputOptions,
    result: anyhow::Result<()>,
    mut out: Out,
    ui: &mut Ui,
    session: &mut Session,
) -> anyhow::Result<()> {
    ui.stop_spinner();
    if let Err(e) = &result {
        if classify(e) == Kind::BrokenPipe {
            // Close the socket now, so the provider stops generating.
            signal::shutdown();
            return result;
        }
    }
    session.end(&mut out, ui);
    if let Err(e) = out.finish(opts.final_newline) {
        signal::shutdown();
        return Err(anyhow::Error::new(e).context("writing stdout"));
    }
    let result = result.and_then(|()| check_shape(&opts.check, session, ui).map_err(Into::into));
    // Sources and warnings wait for the answer's last line, so they never
    // land inside it.
    if !opts.quiet {
        list_sources(session.answer.citations());
    }
    ui.flush_warnings();
    if opts.verbose {
        trace_timing(ui);
    }
    if opts.usage {
        let a = &session.answer;
        say(&ui.usage_line(
            a.model.as_deref(),
            a.provider.as_deref(),
            a.usage().as_ref(),
        ));
    }
    result
}

/// The answer's sources: `orstream: sources:`, then `  [N] TITLE <URL>`.
fn list_sources(citations: &[Citation]) {
    if citations.is_empty() {
        return;
    }
    say("sources:");
    for (n, c) in citations.iter().enumerate() {
        match &c.title {
            Some(title) => say_plain(&format!("  [{}] {title} <{}>", n + 1, c.url)),
            None => say_plain(&format!("  [{}] <{}>", n + 1, c.url)),
        }
    }
}

/// `-v`: time to first token and in all (a replay has no such timing).
fn trace_timing(ui: &Ui) {
    if ui.is_replay() {
        return;
    }
    let total = ui.elapsed().as_secs_f64();
    match ui.time_to_first_token() {
        Some(t) => say(&format!(
            "* first token after {:.3} s, done after {total:.3} s",
            t.as_secs_f64()
        )),
        None => say(&format!("* done after {total:.3} s, no answer text")),
    }
}

/// Exit 8 when a completed answer is not in the shape asked for (SPEC §9).
fn check_shape(check: &Check, session: &Session, ui: &mut Ui) -> Result<(), Failure> {
    match check {
        Check::None => Ok(()),
        Check::CodeBlock if session.missed_code_block() => Err(Failure::new(
            Kind::Shape,
            "the answer has no fenced code block (-x)",
        )
        // -x wrote nothing; --json conflicts with -x, so say it instead.
        .with_hint("to see the whole answer, run again without -x (or with --json instead)")),
        Check::CodeBlock => Ok(()),
        Check::Schema(s) => match session.answer.text() {
            Some(answer) if answer.len() <= SCHEMA_CHECK_LIMIT => s.check(answer),
            _ => {
                ui.warn("the answer is larger than 16 MiB: it was not checked against --schema");
                Ok(())
            }
        },
    }
}
