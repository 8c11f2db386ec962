//! One item of `--each`: its request through the shared agent and gate, its
//! stream into the answer, its result object (with `line` and `id`).

use super::gate::Gate;
use super::items;
use crate::answer::Answer;
use crate::chunk::Usage;
use crate::client::{self, Call, Pacer, Request};
use crate::config::{EachPlan, Net, OutputOptions};
use crate::exit::{classify, Failure, Kind};
use crate::input::Template;
use crate::outcome::{self, Ended, Shape};
use crate::output::{self, Out};
use crate::result::Item;
use crate::stream::{self, Session};
use crate::ui::Ui;
use serde_json::Value;
use std::io::{self, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What every item shares.
pub struct Shared<'a> {
    pub plan: &'a EachPlan,
    pub net: &'a Net,
    /// The options of one item: its answer goes into its object.
    pub opts: OutputOptions,
    pub shape: Shape,
    pub template: Template,
    pub agent: ureq::Agent,
    pub gate: Gate,
    pub url: String,
}

/// An item to run.
pub struct Job {
    pub seq: u64,
    pub line: u64,
    pub id: Value,
    /// The item's text, or why it fails alone (exit 2).
    pub text: Result<String, String>,
}

/// An item that ended.
pub struct Done {
    pub seq: u64,
    pub line: u64,
    /// Its result object, one line.
    pub object: String,
    pub exit: u8,
    pub usage: Option<Usage>,
}

/// Runs one item to its end, however it ends.
pub fn run(shared: &Shared<'_>, job: Job) -> Done {
    let started = Instant::now();
    output::set_item_line(Some(job.line));
    let (outcome, ended) = match job.text {
        Ok(text) => stream_item(shared, &text, started),
        Err(why) => (Err(Failure::usage(why).into()), None),
    };
    output::set_item_line(None);
    let usage = ended.as_ref().and_then(|e| e.answer.usage());
    let item = Item {
        line: job.line,
        id: &job.id,
    };
    Done {
        seq: job.seq,
        line: job.line,
        exit: outcome.as_ref().err().map_or(0, |e| classify(e).code()),
        object: shared.shape.line(&outcome, ended, started, Some(&item)),
        usage,
    }
}

/// The item's request and stream; the answer as it ended, if it began.
fn stream_item(
    shared: &Shared<'_>,
    text: &str,
    started: Instant,
) -> (anyhow::Result<()>, Option<Ended>) {
    let chat = &shared.plan.chat;
    let prompt = items::prompt(text, &chat.words);
    let (sent, body) = match shared.template.body(Some(prompt), chat) {
        Ok(built) => built,
        Err(e) => return (Err(e.into()), None),
    };
    let opts = &shared.opts;
    let resp = client::send(&Request {
        agent: &shared.agent,
        net: shared.net,
        verbose: opts.verbose,
        url: &shared.url,
        call: Call::Post {
            body: &body,
            names_model: sent.contains_key("model") || sent.contains_key("models"),
        },
        pacer: &shared.gate,
    });
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => return (Err(e.into()), None),
    };
    // The slot is held while the answer is read.
    let _slot = Slot(&shared.gate);
    let mut ui = Ui::for_item(opts, started);
    let mut session =
        Session::new(opts, Answer::new(outcome::wants(opts, false))).keep_reasoning_off_stderr();
    let mut out = Out::nowhere();
    let json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(stream::is_json_type);
    // What follows `[DONE]`, read once the item's figures are taken.
    let mut tail = None;
    let result = if json {
        client::read_body(resp, crate::sse::MAX_LINE, shared.net)
            .map_err(anyhow::Error::from)
            .and_then(|whole| stream::whole(&whole, &mut session, &mut out, &mut ui))
    } else {
        let mut reader = resp.into_body().into_reader();
        let pumped = stream::pump(&mut reader, &mut session, &mut out, &mut ui, &|e| {
            client::stream_read_error(e, shared.net)
        });
        if pumped.is_ok() {
            tail = Some(reader);
        }
        pumped
    };
    let result = stream::finish(opts, result, out, &mut ui, &mut session);
    let ended = Ended::new(session, &ui);
    if let Some(reader) = tail {
        give_back(reader);
    }
    (result, Some(ended))
}

/// What may follow `[DONE]` and still be read for the connection's sake.
const TAIL_LIMIT: u64 = 64 * 1024;
/// How long an item waits for that tail before it moves on.
const TAIL_WAIT: Duration = Duration::from_millis(100);

/// Reads what follows `[DONE]` (the chunked body's end) so the agent can
/// pool the connection for the next item, instead of a new connection (and
/// TLS handshake) per item. A server that keeps the body open costs this
/// item at most [`TAIL_WAIT`]: the read goes on in a thread of its own,
/// which ends with the read (or the process) and drops the connection.
fn give_back(reader: impl Read + Send + 'static) {
    let (done, waited) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = io::copy(&mut reader.take(TAIL_LIMIT), &mut io::sink());
            let _ = done.send(());
        });
    if spawned.is_ok() {
        let _ = waited.recv_timeout(TAIL_WAIT);
    }
}

/// A slot of the gate, given back when the item's answer has been read.
struct Slot<'a>(&'a Gate);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.after_try();
    }
}

/// Whether an exit status is an item's own failure, not the run's end.
pub fn is_stop(exit: u8) -> bool {
    exit == Kind::Interrupted.code() || exit == Kind::BrokenPipe.code()
}
