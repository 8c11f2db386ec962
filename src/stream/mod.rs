//! Reading a stream: bytes → events → chunks → the answer → one sink.
//!
//! The same loop serves a live response and a `--from-sse` recording, so a
//! replay prints and exits exactly as the live stream would have.

mod end;
mod images;
mod session;
mod sink;

pub use end::{finish, SCHEMA_CHECK_LIMIT};
pub use session::Session;

use crate::answer::Carrier;
use crate::chunk::Chunk;
use crate::exit::{Failure, Kind};
use crate::output::{say, Out};
use crate::signal;
use crate::sse::{Event, Feed, Splitter};
use crate::ui::Ui;
use session::Flow;
use std::io::{self, Read};

/// What a read error means: `None` when it only ends the stream (a dropped
/// connection, judged like EOF), or the failure to report (a timeout, a bad
/// file).
pub type ReadError<'a> = &'a dyn Fn(io::Error) -> Option<Failure>;

/// Reads an event stream to its end, writing the answer as it arrives.
/// Ok when it completed: `[DONE]`, or EOF after a `finish_reason`.
pub fn pump(
    reader: &mut dyn Read,
    session: &mut Session,
    out: &mut Out,
    ui: &mut Ui,
    read_error: ReadError<'_>,
) -> anyhow::Result<()> {
    let mut splitter = Splitter::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => {
                signal::check()?;
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                signal::check()?;
                match read_error(e) {
                    Some(failure) => {
                        out.flush()?;
                        return Err(failure.into());
                    }
                    None => {
                        if session.verbose() {
                            say("* the connection dropped");
                        }
                        break;
                    }
                }
            }
        };
        signal::check()?;
        let flow = drain(&mut splitter.feed(&buf[..n]), session, out, ui);
        ui.flush_reasoning();
        out.flush()?;
        match flow {
            Ok(Flow::More) => {}
            Ok(Flow::Done) => {
                session.warn_not_json(ui);
                return Ok(());
            }
            Err(failure) => {
                session.warn_not_json(ui);
                return Err(failure.into());
            }
        }
    }
    session.warn_not_json(ui);
    if session.answer.finish_reason.is_none() {
        return Err(Failure::new(Kind::Network, "stream ended before completion").into());
    }
    if session.verbose() {
        say("* the stream ended after a finish_reason but without [DONE]");
    }
    Ok(())
}

/// Handles every whole event of one read.
fn drain(
    feed: &mut Feed<'_, '_>,
    session: &mut Session,
    out: &mut Out,
    ui: &mut Ui,
) -> Result<Flow, Failure> {
    loop {
        match feed.next_event() {
            Ok(Some(Event::Data(data))) => {
                if let Flow::Done = session.on_data(data, out, ui)? {
                    return Ok(Flow::Done);
                }
            }
            Ok(Some(Event::Comment(c))) => ui.comment(&String::from_utf8_lossy(c)),
            Ok(None) => return Ok(Flow::More),
            Err(e) => return Err(Failure::new(Kind::Server, format!("{e}: stream aborted"))),
        }
    }
}

/// Whether a response is a whole completion rather than a stream.
pub fn is_json_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("application/json")
}

/// Handles a 200 `application/json` body: one whole completion.
pub fn whole(body: &[u8], session: &mut Session, out: &mut Out, ui: &mut Ui) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(body);
    let chunk = match Chunk::parse(&text) {
        Ok(c) => c,
        Err(_) => {
            session.on_odd_data(&text, out, ui)?;
            return Err(Failure::new(
                Kind::Server,
                "the server sent a JSON body that is not a completion",
            )
            .into());
        }
    };
    session.write_data(text.trim_end(), out, ui);
    let result = session.on_chunk(&chunk, Carrier::Message, out, ui);
    ui.flush_reasoning();
    out.flush()?;
    result?;
    Ok(())
}
