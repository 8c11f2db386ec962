//! The progress line of `--each` on a terminal: `D/T done · R running · F
//! failed · $C`, redrawn in place and erased at the end.

use super::summary::Tally;
use crate::output::{erase_spinner, spinner_frame};
use std::time::{Duration, Instant};

/// Redraws no more often than this.
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    on: bool,
    /// The item lines of FILE (unknown for stdin).
    total: Option<u64>,
    running: u64,
    drawn: Option<Instant>,
}

impl Progress {
    pub fn new(on: bool, total: Option<u64>) -> Progress {
        Progress {
            on,
            total,
            running: 0,
            drawn: None,
        }
    }

    pub fn started(&mut self) {
        self.running += 1;
    }

    pub fn finished(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    pub fn draw(&mut self, tally: &Tally) {
        if !self.on || self.drawn.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.drawn = Some(Instant::now());
        spinner_frame(&format!(
            "\r{}\x1b[K",
            line(tally, self.total, self.running)
        ));
    }

    pub fn erase(&mut self) {
        if self.on {
            erase_spinner();
        }
    }
}

/// The line itself.
fn line(tally: &Tally, total: Option<u64>, running: u64) -> String {
    let done = match total {
        Some(t) => format!("{}/{t} done", tally.done),
        None => format!("{} done", tally.done),
    };
    format!(
        "{done} · {running} running · {} failed · ${:.4}",
        tally.failed(),
        tally.cost()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = Tally::default();
        assert_eq!(
            line(&t, Some(10), 2),
            "0/10 done · 2 running · 0 failed · $0.0000"
        );
        assert_eq!(line(&t, None, 0), "0 done · 0 running · 0 failed · $0.0000");
    }
}
