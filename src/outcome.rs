//! What a run leaves behind for `--result` (SPEC §11): the answer as it
//! ended, and the one object written on every exit but 2 and 141 — by the
//! main thread, or by the signal thread when a signal ends a run that never
//! reached its stream.

use crate::answer::{Answer, Keep, Wants};
use crate::config::{Check, OutputOptions, SinkKind};
use crate::exit::{classify, Kind};
use crate::result::{self, Item, Run};
use crate::stream::{Session, SCHEMA_CHECK_LIMIT};
use crate::ui::Ui;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// What of the answer a run keeps: the text a check, a conversation or a
/// result object needs; reasoning for `--result --reasoning`; structured
/// reasoning for a conversation too.
pub fn wants(opts: &OutputOptions, conversation: bool) -> Wants {
    let result = opts.sink == SinkKind::Result;
    let text = match (conversation || result, opts.check.schema()) {
        // A conversation or a result keeps the whole answer, whatever its size.
        (true, _) => Keep::All,
        (false, Some(_)) => Keep::UpTo(SCHEMA_CHECK_LIMIT),
        (false, None) => Keep::Nothing,
    };
    Wants {
        text,
        reasoning: result && opts.reasoning,
        details: conversation || (result && opts.reasoning),
    }
}

/// A stream's end, as the result object reports it.
pub struct Ended {
    pub answer: Answer,
    /// `--result -x`: the extracted block.
    code: Option<String>,
    warnings: Vec<String>,
    ttft_ms: Option<u64>,
}

impl Ended {
    pub fn new(session: Session, ui: &Ui) -> Ended {
        Ended {
            code: session.code().map(str::to_string),
            answer: session.answer,
            warnings: ui.warnings().to_vec(),
            ttft_ms: ui.time_to_first_token().map(|t| t.as_millis() as u64),
        }
    }
}

/// What a result object holds beyond the answer: the flags it depends on.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    reasoning: bool,
    json: bool,
    code: bool,
}

impl Shape {
    pub fn of(opts: &OutputOptions) -> Shape {
        Shape {
            reasoning: opts.reasoning,
            json: opts.check.schema().is_some(),
            code: opts.check == Check::CodeBlock,
        }
    }

    /// The object of a run (or an item) that ended with `outcome`.
    pub fn line(
        &self,
        outcome: &anyhow::Result<()>,
        ended: Option<Ended>,
        started: Instant,
        item: Option<&Item<'_>>,
    ) -> String {
        let kind = outcome.as_ref().err().map(classify);
        let error = match outcome {
            Ok(()) => None,
            Err(_) if kind == Some(Kind::Interrupted) => Some("interrupted".to_string()),
            Err(e) => Some(format!("{e:#}")),
        };
        let ended = ended.unwrap_or_else(Ended::nothing);
        let text = ended.answer.text().unwrap_or_default();
        let json = self.json.then(|| serde_json::from_str(text.trim()).ok());
        let run = Run {
            exit: kind.map_or(0, Kind::code),
            error: error.as_deref(),
            warnings: &ended.warnings,
            ttft_ms: ended.ttft_ms,
            elapsed_ms: started.elapsed().as_millis() as u64,
            reasoning: self.reasoning,
            json,
            code: self.code.then_some(ended.code.as_deref()),
        };
        result::line(&ended.answer, &run, item)
    }
}

impl Ended {
    /// A run that never reached its stream.
    fn nothing() -> Ended {
        Ended {
            answer: Answer::new(Wants::text(Keep::Nothing)),
            code: None,
            warnings: Vec::new(),
            ttft_ms: None,
        }
    }
}

/// The result object's shape and the run's start, kept for the signal
/// thread.
static SHAPE: OnceLock<(Shape, Instant)> = OnceLock::new();
static WRITTEN: AtomicBool = AtomicBool::new(false);

/// `--result`: remembers what the object holds, so that a signal that
/// ends the run before its stream still leaves one.
pub fn expect_result(opts: &OutputOptions, started: Instant) {
    if opts.sink == SinkKind::Result {
        let _ = SHAPE.set((Shape::of(opts), started));
    }
}

/// Writes the result object for a run that ended with `outcome` (nothing
/// without `--result`, on exit 2 or 141). A closed stdout is returned.
pub fn write_result(outcome: &anyhow::Result<()>, ended: Option<Ended>) -> std::io::Result<()> {
    let Some((shape, started)) = SHAPE.get() else {
        return Ok(());
    };
    let kind = outcome.as_ref().err().map(classify);
    if matches!(kind, Some(Kind::Usage | Kind::BrokenPipe)) {
        return Ok(());
    }
    write_line(&shape.line(outcome, ended, *started, None))
}

/// The object for a run a signal ends before its stream: exit 130.
pub fn write_interrupted() {
    let Some((shape, started)) = SHAPE.get() else {
        return;
    };
    let interrupted = Err(crate::exit::Failure::interrupted().into());
    let _ = write_line(&shape.line(&interrupted, None, *started, None));
}

/// One line on stdout, once per run.
fn write_line(line: &str) -> std::io::Result<()> {
    if WRITTEN.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.write_all(b"\n")?;
    stdout.flush()
}
