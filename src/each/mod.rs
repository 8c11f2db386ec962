//! `--each FILE` (SPEC §12): the same question over many inputs, on `-P N`
//! threads sharing one agent and one rate limit; one result object per item
//! in line order, each as soon as it and every item before it have ended;
//! a budget, a resume, a progress line and a summary.
//!
//! The main thread reads FILE as items start (no item more than 4 × N past
//! the oldest unfinished one), hands them to the workers, and writes the
//! objects in order; memory stays flat however long FILE is.

mod gate;
mod items;
mod progress;
mod summary;
mod worker;

use crate::client;
use crate::config::{Config, EachPlan, FileArg, SinkKind, Stderr};
use crate::exit::{io_reason, Failure, Kind};
use crate::input::Template;
use crate::outcome::Shape;
use crate::output::{say, Out};
use crate::signal;
use anyhow::Context;
use gate::Gate;
use items::{Line, Lines};
use progress::Progress;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;
use summary::Tally;
use worker::{Done, Job, Shared};

/// Runs every item of FILE; the exit status is the first failed item's
/// (in line order), 9 when the budget stopped the run.
pub fn run(config: &Config, plan: &EachPlan) -> anyhow::Result<()> {
    let resumed = match &plan.resume {
        Some(path) => summary::succeeded_lines(path)?,
        None => HashSet::new(),
    };
    let reader = open(&plan.file)?;
    let total = match (&plan.file, show_progress(config)) {
        (FileArg::Path(path), true) => Some(count_items(path, &resumed)?),
        _ => None,
    };
    let template = Template::for_items(&plan.chat, config.output.verbose)?;
    let _streaming = signal::streaming();
    let mut out = Out::stdout();
    if out.is_pipe() {
        signal::watch_stdout();
    }
    // Every item is a --result run whose stderr goes into its object.
    let mut opts = config.output.clone();
    opts.sink = SinkKind::Result;
    opts.quiet = true;
    opts.usage = false;
    let shared = Shared {
        plan,
        net: &config.net,
        shape: Shape::of(&opts),
        opts,
        template,
        agent: client::agent(&config.net)?,
        gate: Gate::new(plan.parallel),
        url: config.net.url("chat/completions"),
    };
    let mut progress = Progress::new(show_progress(config), total);
    let mut tally = Tally::default();
    let result = dispatch(
        &shared,
        Lines::new(reader),
        &resumed,
        &mut out,
        &mut tally,
        &mut progress,
    );
    progress.erase();
    let stopped = result?;
    if !config.output.quiet {
        say(&tally.summary());
    }
    if config.output.usage {
        say(&tally.usage_line());
    }
    match (stopped, tally.first_failure()) {
        (true, _) => Err(Failure::silent(Kind::Budget).into()),
        (false, Some(kind)) => Err(Failure::silent(kind).into()),
        (false, None) => Ok(()),
    }
}

/// Whether the progress line is drawn: stderr a terminal that moves its
/// cursor, and no `-q`.
fn show_progress(config: &Config) -> bool {
    !config.output.quiet && matches!(config.output.stderr, Stderr::Terminal { spinner: true, .. })
}

/// FILE, or stdin for `-`.
fn open(file: &FileArg) -> Result<Box<dyn BufRead + Send>, Failure> {
    match file {
        FileArg::Stdin => Ok(Box::new(BufReader::new(io::stdin()))),
        FileArg::Path(path) => std::fs::File::open(path)
            .map(|f| Box::new(BufReader::new(f)) as Box<dyn BufRead + Send>)
            .map_err(|e| Failure::usage(format!("--each {}: {}", path.display(), io_reason(&e)))),
    }
}

/// The item lines of FILE (bad ones included, resumed ones not), for the
/// progress line's total.
fn count_items(path: &std::path::Path, resumed: &HashSet<u64>) -> Result<u64, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("--each {}: {}", path.display(), io_reason(&e))))?;
    let mut lines = Lines::new(BufReader::new(file));
    let mut n = 0;
    while let Some((line, _)) = lines
        .next_item()
        .map_err(|e| Failure::usage(format!("--each {}: {}", path.display(), io_reason(&e))))?
    {
        if !resumed.contains(&line) {
            n += 1;
        }
    }
    Ok(n)
}

/// Starts items as the window allows, writes the objects in line order;
/// `true` when the budget stopped the run.
fn dispatch(
    shared: &Shared<'_>,
    mut lines: Lines<Box<dyn BufRead + Send>>,
    resumed: &HashSet<u64>,
    out: &mut Out,
    tally: &mut Tally,
    progress: &mut Progress,
) -> anyhow::Result<bool> {
    let n = shared.plan.parallel;
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|scope| {
        spawn_workers(scope, n, shared, &job_rx, done_tx);
        let mut window = Window::new(n);
        let result = (|| -> anyhow::Result<bool> {
            loop {
                while window.may_start() && !tally.over_budget(shared.plan.max_cost) {
                    if signal::stop_reason().is_some() {
                        break;
                    }
                    match next_job(&mut lines, resumed, window.next_seq)? {
                        Some(job) => {
                            window.started();
                            progress.started();
                            jobs.send(job).context("starting an item")?;
                        }
                        None => {
                            window.eof = true;
                            break;
                        }
                    }
                }
                if window.running == 0 {
                    break;
                }
                let done = match done_rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(done) => done,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        progress.draw(tally);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                window.running -= 1;
                if let Some(stop) = signal::stop_reason() {
                    return Err(stop.failure().into());
                }
                progress.finished();
                tally.record(&done);
                window.pending.insert(done.seq, done);
                while let Some(done) = window.pending.remove(&window.oldest) {
                    write_object(out, &done.object)?;
                    window.oldest += 1;
                }
                progress.draw(tally);
            }
            if let Some(stop) = signal::stop_reason() {
                return Err(stop.failure().into());
            }
            if tally.over_budget(shared.plan.max_cost) && !window.eof {
                tally.not_started = lines.count_rest(resumed).context("reading --each FILE")?;
            }
            Ok(tally.not_started > 0)
        })();
        // Workers end once no more jobs come.
        drop(jobs);
        if result.is_err() {
            signal::shutdown();
        }
        result
    })
}

/// `n` workers that run the jobs they receive until no more come.
fn spawn_workers<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    n: usize,
    shared: &'env Shared<'env>,
    job_rx: &'env Mutex<mpsc::Receiver<Job>>,
    done_tx: mpsc::Sender<Done>,
) {
    for _ in 0..n {
        let done_tx = done_tx.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, move || loop {
                let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(job) = job else { return };
                if done_tx.send(worker::run(shared, job)).is_err() {
                    return;
                }
            })
            .expect("a worker thread");
    }
}

/// The next item to start, reading FILE as far as it takes; resumed lines
/// are skipped. `None` at the end of FILE.
fn next_job(
    lines: &mut Lines<Box<dyn BufRead + Send>>,
    resumed: &HashSet<u64>,
    seq: u64,
) -> anyhow::Result<Option<Job>> {
    loop {
        let Some((line, item)) = lines.next_item().context("reading --each FILE")? else {
            return Ok(None);
        };
        if resumed.contains(&line) {
            continue;
        }
        let (id, text) = match item {
            Line::Item { text, id } => (id, Ok(text)),
            Line::Bad { id, why } => (id, Err(why)),
        };
        return Ok(Some(Job {
            seq,
            line,
            id,
            text,
        }));
    }
}

/// One object on stdout, as soon as it may be written.
fn write_object(out: &mut Out, object: &str) -> anyhow::Result<()> {
    out.line(object.as_bytes());
    out.flush().context("writing stdout")
}

/// Which items may start: at most N running, none more than 4 × N past the
/// oldest unfinished one, so results waiting for a slow item stay bounded.
struct Window {
    n: u64,
    next_seq: u64,
    oldest: u64,
    running: usize,
    eof: bool,
    pending: BTreeMap<u64, Done>,
}

impl Window {
    fn new(n: usize) -> Window {
        Window {
            n: n as u64,
            next_seq: 0,
            oldest: 0,
            running: 0,
            eof: false,
            pending: BTreeMap::new(),
        }
    }

    fn may_start(&self) -> bool {
        !self.eof && (self.running as u64) < self.n && self.next_seq < self.oldest + 4 * self.n
    }

    fn started(&mut self) {
        self.next_seq += 1;
        self.running += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_bounds_items_past_the_oldest() {
        let mut w = Window::new(2);
        w.started();
        w.started();
        assert!(!w.may_start(), "two running");
        w.running = 0;
        for _ in 0..6 {
            w.started();
            w.running = 0;
        }
        assert_eq!(w.next_seq, 8);
        assert!(!w.may_start(), "8 = 4 × 2 past the oldest (0)");
        w.oldest = 1;
        assert!(w.may_start());
    }
}
