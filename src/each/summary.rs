//! What the items came to: the summary line, the exit status of the first
//! failed item in line order, the budget, the `-u` totals, and the lines an
//! earlier run already finished (`--resume`).

use super::worker::{is_stop, Done};
use crate::exit::{io_reason, Failure, Kind};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How many failed lines the summary names.
const NAMED: usize = 10;

#[derive(Debug, Default)]
pub struct Tally {
    pub done: u64,
    failed: u64,
    /// The first failed lines, in line order (at most [`NAMED`] + 1).
    failed_lines: Vec<(u64, u8)>,
    /// Items that never started because the budget was reached.
    pub not_started: u64,
    cost: f64,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl Tally {
    pub fn record(&mut self, done: &Done) {
        if done.exit == 0 {
            self.done += 1;
        } else if !is_stop(done.exit) {
            self.failed += 1;
            let at = self.failed_lines.partition_point(|(l, _)| *l < done.line);
            if at <= NAMED {
                self.failed_lines.insert(at, (done.line, done.exit));
                self.failed_lines.truncate(NAMED + 1);
            }
        }
        if let Some(u) = &done.usage {
            self.cost += u.cost.unwrap_or(0.0);
            add(&mut self.prompt_tokens, u.prompt_tokens);
            add(&mut self.completion_tokens, u.completion_tokens);
        }
    }

    /// Whether the finished items reached the budget.
    pub fn over_budget(&self, max_cost: Option<f64>) -> bool {
        max_cost.is_some_and(|max| self.cost >= max)
    }

    pub fn cost(&self) -> f64 {
        self.cost
    }

    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The kind of the first failed item in line order.
    pub fn first_failure(&self) -> Option<Kind> {
        self.failed_lines
            .first()
            .map(|(_, exit)| Kind::from_code(*exit))
    }

    /// `each: D done, F failed (lines L1, L2, …), N not started (--max-cost)`.
    pub fn summary(&self) -> String {
        let mut line = format!("each: {} done, {} failed", self.done, self.failed);
        if self.failed > 0 {
            let named: Vec<String> = self
                .failed_lines
                .iter()
                .take(NAMED)
                .map(|(l, _)| l.to_string())
                .collect();
            let more = if self.failed > NAMED as u64 {
                ", …"
            } else {
                ""
            };
            line.push_str(&format!(" (lines {}{more})", named.join(", ")));
        }
        if self.not_started > 0 {
            line.push_str(&format!(", {} not started (--max-cost)", self.not_started));
        }
        line
    }

    /// `-u`: the totals of the items.
    pub fn usage_line(&self) -> String {
        let items = self.done + self.failed;
        let mut parts = vec![format!("{items} items")];
        if let Some(n) = self.prompt_tokens {
            parts.push(format!("{n} prompt tokens"));
        }
        if let Some(n) = self.completion_tokens {
            parts.push(format!("{n} completion tokens"));
        }
        parts.push(format!("${:.6}", self.cost));
        format!("usage: {}", parts.join(", "))
    }
}

fn add(total: &mut Option<u64>, n: Option<u64>) {
    if let Some(n) = n {
        *total = Some(total.unwrap_or(0) + n);
    }
}

/// `--resume RESULTS`: the lines whose result had `"exit": 0`. A line of
/// RESULTS that is not such an object is ignored; an unreadable RESULTS is
/// exit 2.
pub fn succeeded_lines(path: &Path) -> Result<HashSet<u64>, Failure> {
    let bad = |e: std::io::Error| {
        Failure::usage(format!("--resume {}: {}", path.display(), io_reason(&e)))
    };
    let file = std::fs::File::open(path).map_err(bad)?;
    let mut done = HashSet::new();
    for line in BufReader::new(file).split(b'\n') {
        if let Some(n) = succeeded(&line.map_err(bad)?) {
            done.insert(n);
        }
    }
    Ok(done)
}

/// The `line` of a result object that had exit 0.
fn succeeded(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Result {
        line: u64,
        exit: i64,
    }
    let r: Result = serde_json::from_slice(line).ok()?;
    (r.exit == 0).then_some(r.line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Usage;

    fn done(line: u64, exit: u8, cost: Option<f64>) -> Done {
        Done {
            seq: line,
            line,
            object: String::new(),
            exit,
            usage: cost.map(|c| Usage {
                cost: Some(c),
                prompt_tokens: Some(2),
                ..Usage::default()
            }),
        }
    }

    #[test]
    fn summaries() {
        let mut t = Tally::default();
        t.record(&done(1, 0, None));
        assert_eq!(t.summary(), "each: 1 done, 0 failed");
        t.record(&done(9, 5, None));
        t.record(&done(3, 7, None));
        assert_eq!(t.summary(), "each: 1 done, 2 failed (lines 3, 9)");
        assert_eq!(
            t.first_failure(),
            Some(Kind::Network),
            "line 3's, not line 9's"
        );
        for l in 10..30 {
            t.record(&done(l, 6, None));
        }
        assert_eq!(
            t.summary(),
            "each: 1 done, 22 failed (lines 3, 9, 10, 11, 12, 13, 14, 15, 16, 17, …)"
        );
        t.not_started = 4;
        assert!(t.summary().ends_with(", …), 4 not started (--max-cost)"));
    }

    #[test]
    fn budget_and_totals() {
        let mut t = Tally::default();
        assert!(!t.over_budget(Some(0.5)));
        assert!(!t.over_budget(None));
        t.record(&done(1, 0, Some(0.25)));
        t.record(&done(2, 0, Some(0.25)));
        assert!(t.over_budget(Some(0.5)), "reached counts");
        assert_eq!(t.usage_line(), "usage: 2 items, 4 prompt tokens, $0.500000");
    }

    #[test]
    fn resumed_lines() {
        assert_eq!(
            succeeded(br#"{"line":3,"id":null,"text":"x","exit":0}"#),
            Some(3)
        );
        assert_eq!(succeeded(br#"{"line":4,"exit":6}"#), None);
        assert_eq!(succeeded(b"not json"), None);
        assert_eq!(succeeded(br#"{"exit":0}"#), None);
        let dir = crate::test_support::Dir::new("resume");
        let f = dir.file("out.jsonl");
        std::fs::write(
            &f,
            "{\"line\":1,\"exit\":0}\ngarbage\n{\"line\":2,\"exit\":7}\n{\"line\":5,\"exit\":0}",
        )
        .unwrap();
        assert_eq!(succeeded_lines(&f).unwrap(), HashSet::from([1, 5]));
        let e = succeeded_lines(&dir.file("none")).unwrap_err();
        assert_eq!(e.kind.code(), 2);
    }
}
