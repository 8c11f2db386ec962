//! `-x`: push answer text, get what may be written now (pure, SPEC §9).
//!
//! The first fenced code block of the answer is cut out as it streams: the
//! text before it and after it, and both fence lines, are dropped. Content is
//! written as soon as it cannot be part of the closing fence, so only a line
//! that so far reads like the start of one is ever held back — as counts
//! (so many spaces, so many fence characters, runs of blanks), never as
//! text, so memory stays flat whatever the answer holds. The state machine
//! works a character at a time, so any split of the answer across pushes
//! gives the same output.

/// Cuts the first fenced code block out of an answer fed in pieces.
#[derive(Debug)]
pub struct Extractor {
    phase: Phase,
    found: bool,
}

#[derive(Debug)]
enum Phase {
    /// Looking for the opening fence, in the current line.
    Before(Opening),
    /// Inside the block.
    Inside(Block),
    /// The block ended (or the answer did): nothing more is written.
    After,
}

/// How far the current line reads as an opening fence. Text before the block
/// is never written, so only counts are kept, never the line itself.
#[derive(Debug, Clone, Copy)]
enum Opening {
    /// `indent` leading spaces so far.
    Indent(usize),
    /// The leading spaces, then `count` of `ch`.
    Run {
        indent: usize,
        ch: char,
        count: usize,
    },
    /// A complete run of three or more, then an info string so far valid.
    Info {
        indent: usize,
        ch: char,
        count: usize,
    },
    /// Not a fence: wait for the next line.
    Skip,
}

#[derive(Debug)]
struct Block {
    /// The opening fence's indentation: content lines lose up to this many spaces.
    indent: usize,
    /// The fence character, `` ` `` or `~`.
    ch: char,
    /// How many of them opened the block: a closing fence needs as many.
    count: usize,
    line: Line,
    /// The current line past the dropped indentation, while it still reads
    /// as the start of a closing fence.
    held: Held,
}

/// A held line, as counts: `spaces`, then `fence` fence characters, then
/// runs of blanks, then maybe a `\r`.
#[derive(Debug, Default)]
struct Held {
    spaces: usize,
    fence: usize,
    /// Runs of the same blank (`' '` or `'\t'`) and their lengths.
    blanks: Vec<(char, usize)>,
    cr: bool,
}

/// Where the current line inside the block stands.
#[derive(Debug, Clone, Copy)]
enum Line {
    /// At line start, `n` indentation spaces dropped so far.
    Indent(usize),
    /// Held: only spaces past the indentation so far.
    Spaces,
    /// Held: spaces, then fence characters.
    Fence,
    /// Held: enough fence characters, then spaces and tabs.
    Trailing,
    /// Held: enough fence characters (and maybe blanks), then a `\r` that
    /// ends the line if a `\n` follows.
    Cr,
    /// Not a closing fence: written as it comes, up to the line end.
    Content,
}

impl Default for Extractor {
    fn default() -> Extractor {
        Extractor::new()
    }
}

impl Extractor {
    pub fn new() -> Extractor {
        Extractor {
            phase: Phase::Before(Opening::Indent(0)),
            found: false,
        }
    }

    /// Feeds answer text (a delta, any split); gives `out` what may be
    /// written now, in pieces of bounded size.
    pub fn push(&mut self, text: &str, out: &mut dyn FnMut(&str)) {
        let mut rest = text;
        while !rest.is_empty() {
            match &mut self.phase {
                Phase::After => return,
                Phase::Before(opening) => {
                    let opened = rest
                        .char_indices()
                        .find_map(|(i, c)| opening.step(c).map(|b| (b, i + c.len_utf8())));
                    match opened {
                        Some((block, used)) => {
                            self.found = true;
                            self.phase = Phase::Inside(block);
                            rest = &rest[used..];
                        }
                        None => return,
                    }
                }
                Phase::Inside(block) => {
                    // Text past the closing fence is after the block.
                    if block.feed(rest, out) {
                        self.phase = Phase::After;
                    }
                    return;
                }
            }
        }
    }

    /// The answer ended, however it ended: gives `out` held-back text that
    /// is not a closing fence. Later pushes write nothing.
    pub fn finish(&mut self, out: &mut dyn FnMut(&str)) {
        match std::mem::replace(&mut self.phase, Phase::After) {
            Phase::Before(opening) => {
                // The last line had no line end: it is decided now.
                if opening.is_fence() {
                    self.found = true;
                }
            }
            Phase::Inside(mut block) => {
                if !block.closes_at_end() {
                    block.release(out);
                }
            }
            Phase::After => {}
        }
    }

    /// Whether an opening fence has been seen (none at all is exit 8).
    pub fn found(&self) -> bool {
        self.found
    }
}

impl Opening {
    /// Takes one character of a line before the block; the block when this
    /// character ended an opening fence line.
    fn step(&mut self, c: char) -> Option<Block> {
        if c == '\n' {
            let block = match *self {
                Opening::Run { indent, ch, count } | Opening::Info { indent, ch, count }
                    if count >= 3 =>
                {
                    Some(Block::new(indent, ch, count))
                }
                _ => None,
            };
            *self = Opening::Indent(0);
            return block;
        }
        *self = match *self {
            Opening::Indent(n) if c == ' ' => Opening::Indent(n + 1),
            Opening::Indent(indent) if c == '`' || c == '~' => Opening::Run {
                indent,
                ch: c,
                count: 1,
            },
            Opening::Run { indent, ch, count } if c == ch => Opening::Run {
                indent,
                ch,
                count: count + 1,
            },
            // Backticks in a backtick fence's info string mean inline code.
            Opening::Run { indent, ch, count } | Opening::Info { indent, ch, count }
                if count >= 3 && !(ch == '`' && c == '`') =>
            {
                Opening::Info { indent, ch, count }
            }
            _ => Opening::Skip,
        };
        None
    }

    /// Whether the line so far is an opening fence, were it to end here.
    fn is_fence(&self) -> bool {
        matches!(
            *self,
            Opening::Run { count, .. } | Opening::Info { count, .. } if count >= 3
        )
    }
}

impl Block {
    fn new(indent: usize, ch: char, count: usize) -> Block {
        Block {
            indent,
            ch,
            count,
            line: Line::Indent(0),
            held: Held::default(),
        }
    }

    /// Takes text inside the block; true when a closing fence ended it.
    fn feed(&mut self, text: &str, out: &mut dyn FnMut(&str)) -> bool {
        let mut i = 0;
        while i < text.len() {
            if let Line::Content = self.line {
                // The common case: copy up to the line end in one go.
                match text[i..].find('\n') {
                    Some(at) => {
                        out(&text[i..=i + at]);
                        i += at + 1;
                        self.line = Line::Indent(0);
                        continue;
                    }
                    None => {
                        out(&text[i..]);
                        return false;
                    }
                }
            }
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            i += c.len_utf8();
            if self.step(c, out) {
                return true;
            }
        }
        false
    }

    /// Takes one character at a line start or in a held line; true when it
    /// ended a closing fence line.
    fn step(&mut self, c: char, out: &mut dyn FnMut(&str)) -> bool {
        let enough = self.held.fence >= self.count;
        self.line = match (self.line, c) {
            (Line::Indent(n), ' ') if n < self.indent => Line::Indent(n + 1),
            (Line::Indent(_) | Line::Spaces, ' ') => {
                self.held.spaces += 1;
                Line::Spaces
            }
            (Line::Indent(_) | Line::Spaces | Line::Fence, c) if c == self.ch => {
                self.held.fence += 1;
                Line::Fence
            }
            (Line::Fence, ' ' | '\t') if enough => {
                self.held.blank(c);
                Line::Trailing
            }
            (Line::Trailing, ' ' | '\t') => {
                self.held.blank(c);
                Line::Trailing
            }
            (Line::Fence, '\r') if enough => {
                self.held.cr = true;
                Line::Cr
            }
            (Line::Trailing, '\r') => {
                self.held.cr = true;
                Line::Cr
            }
            (Line::Fence, '\n') if enough => return self.close(),
            (Line::Trailing | Line::Cr, '\n') => return self.close(),
            // Anything else shows the line is content: what was held goes
            // out, then this character as content.
            (_, c) => {
                self.release(out);
                out(c.encode_utf8(&mut [0; 4]));
                if c == '\n' {
                    Line::Indent(0)
                } else {
                    Line::Content
                }
            }
        };
        false
    }

    fn close(&mut self) -> bool {
        self.held = Held::default();
        true
    }

    /// Writes the held line as it came, and forgets it.
    fn release(&mut self, out: &mut dyn FnMut(&str)) {
        let held = std::mem::take(&mut self.held);
        repeat(' ', held.spaces, out);
        repeat(self.ch, held.fence, out);
        for (blank, n) in held.blanks {
            repeat(blank, n, out);
        }
        if held.cr {
            out("\r");
        }
    }

    /// Whether the held text, with the answer ending here, is a closing fence.
    /// A held `\r` stays content: alone it does not end a line.
    fn closes_at_end(&self) -> bool {
        match self.line {
            Line::Fence => self.held.fence >= self.count,
            Line::Trailing => true,
            Line::Indent(_) | Line::Spaces | Line::Cr | Line::Content => false,
        }
    }
}

impl Held {
    /// One more blank, added to the last run when it is the same.
    fn blank(&mut self, c: char) {
        match self.blanks.last_mut() {
            Some((last, n)) if *last == c => *n += 1,
            _ => self.blanks.push((c, 1)),
        }
    }
}

/// Gives `out` `n` times `c` (an ASCII fence character or blank), in
/// pieces of at most 1 KiB.
fn repeat(c: char, mut n: usize, out: &mut dyn FnMut(&str)) {
    const PIECE: usize = 1024;
    static SPACES: [u8; PIECE] = [b' '; PIECE];
    static TABS: [u8; PIECE] = [b'\t'; PIECE];
    static BACKTICKS: [u8; PIECE] = [b'`'; PIECE];
    static TILDES: [u8; PIECE] = [b'~'; PIECE];
    let piece: &[u8] = match c {
        ' ' => &SPACES,
        '\t' => &TABS,
        '`' => &BACKTICKS,
        _ => &TILDES,
    };
    while n > 0 {
        let k = n.min(PIECE);
        // ASCII bytes: always valid UTF-8.
        out(std::str::from_utf8(&piece[..k]).unwrap_or_default());
        n -= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push` into a string.
    fn push(x: &mut Extractor, text: &str, out: &mut String) {
        x.push(text, &mut |s| out.push_str(s));
    }

    /// `finish` into a string.
    fn finish(x: &mut Extractor, out: &mut String) {
        x.finish(&mut |s| out.push_str(s));
    }

    fn one_push(answer: &str) -> (String, bool) {
        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, answer, &mut out);
        finish(&mut x, &mut out);
        (out, x.found())
    }

    fn extract(answer: &str) -> String {
        one_push(answer).0
    }

    fn pieces(parts: &[&str]) -> (String, bool) {
        let mut x = Extractor::new();
        let mut out = String::new();
        for p in parts {
            push(&mut x, p, &mut out);
        }
        finish(&mut x, &mut out);
        (out, x.found())
    }

    #[test]
    fn backticks_and_tildes() {
        assert_eq!(extract("```\nfn main() {}\n```\n"), "fn main() {}\n");
        assert_eq!(extract("~~~\na\nb\n~~~\n"), "a\nb\n");
        assert_eq!(extract("````\nx\n````"), "x\n");
    }

    #[test]
    fn info_string_is_not_written() {
        assert_eq!(extract("```rust ignore\nlet x = 1;\n```\n"), "let x = 1;\n");
        assert_eq!(extract("~~~ py `weird` info\nx\n~~~\n"), "x\n");
    }

    #[test]
    fn inline_backticks_are_not_a_fence() {
        let (out, found) = one_push("Use ```rust`` here\nno fence\n");
        assert_eq!(out, "");
        assert!(!found);
        assert_eq!(extract("```a`b\nnot\n```\nyes\n```\n"), "yes\n");
        // Only a line start opens a block.
        assert!(!one_push("say ```\nx ```\n").1);
    }

    #[test]
    fn too_short_is_no_fence() {
        let (out, found) = one_push("``\nx\n``\n");
        assert_eq!(out, "");
        assert!(!found);
        assert!(!one_push("").1);
        assert!(!one_push("just prose\n").1);
    }

    #[test]
    fn closing_fence_rules() {
        // Longer closes; shorter is content; the other character is content.
        assert_eq!(extract("```\na\n`````\nafter\n"), "a\n");
        assert_eq!(extract("````\na\n```\nb\n````\n"), "a\n```\nb\n");
        assert_eq!(extract("```\na\n~~~\n```\n"), "a\n~~~\n");
        assert_eq!(extract("~~~\na\n```\n~~~\n"), "a\n```\n");
        // Trailing blanks are allowed, anything else makes it content.
        assert_eq!(extract("```\na\n```  \t \nafter"), "a\n");
        assert_eq!(extract("```\na\n```x\n```\n"), "a\n```x\n");
        assert_eq!(extract("```\na\n``` x\n```\n"), "a\n``` x\n");
        assert_eq!(extract("```\na\n\t```\n```\n"), "a\n\t```\n");
        // Any indentation closes.
        assert_eq!(extract("```\na\n        ```\nafter"), "a\n");
    }

    #[test]
    fn indentation() {
        assert_eq!(
            extract("  ```\n  a\n b\nc\n    d\n  ```\n"),
            "a\nb\nc\n  d\n"
        );
        assert_eq!(extract("    ~~~\n      x\n  y\n~~~\n"), "  x\ny\n");
        assert_eq!(extract("```\n  a\n```\n"), "  a\n");
        // A line of only spaces inside the block, indented or not.
        assert_eq!(extract("```\na\n   \nb\n```\n"), "a\n   \nb\n");
        assert_eq!(extract("  ```\na\n   \n \nb\n```\n"), "a\n \n\nb\n");
        // Spaces only, at the end of an unclosed block.
        assert_eq!(extract("  ```\na\n     "), "a\n   ");
    }

    #[test]
    fn crlf_is_a_line_end_written_as_it_came() {
        assert_eq!(extract("```py\r\na\r\nb\r\n```\r\nafter\r\n"), "a\r\nb\r\n");
        assert_eq!(extract("```\r\na\r\n``` \t\r\n"), "a\r\n");
        // A lone `\r` is not a line end.
        assert_eq!(extract("```\na\n```\rx\n```\n"), "a\n```\rx\n");
        assert_eq!(extract("```\na\rb\n```\n"), "a\rb\n");
        assert_eq!(extract("```\na\n```\r"), "a\n```\r");
        assert_eq!(extract("```\na\n  \r\n```\n"), "a\n  \r\n");
    }

    #[test]
    fn unclosed_block_runs_to_the_end() {
        assert_eq!(extract("Here:\n```\nline 1\nline 2"), "line 1\nline 2");
        assert_eq!(extract("```\nline\n"), "line\n");
    }

    #[test]
    fn text_before_and_after_is_dropped() {
        assert_eq!(
            extract("Sure! Here it is:\n\n```sh\nls -l\n```\n\nHope that helps.\n"),
            "ls -l\n"
        );
    }

    #[test]
    fn only_the_first_block_counts() {
        assert_eq!(extract("```\none\n```\ntext\n```\ntwo\n```\n"), "one\n");
    }

    #[test]
    fn empty_block_is_a_block() {
        assert_eq!(one_push("```\n```\n"), (String::new(), true));
        assert_eq!(one_push("x\n~~~\n~~~"), (String::new(), true));
        // An opening fence as the very last line, without a line end.
        assert_eq!(one_push("prose\n```json"), (String::new(), true));
        assert_eq!(one_push("```"), (String::new(), true));
        assert!(!one_push("```a`").1);
    }

    #[test]
    fn closing_prefix_at_the_end() {
        // Too short to close: written.
        assert_eq!(extract("```\nabc\n``"), "abc\n``");
        assert_eq!(extract("````\nabc\n```"), "abc\n```");
        // A complete closing fence without a line end: not written.
        assert_eq!(extract("```\nabc\n```"), "abc\n");
        assert_eq!(extract("```\nabc\n```  "), "abc\n");
        // Not a prefix at all once another character came.
        assert_eq!(extract("```\nabc\n```x"), "abc\n```x");
    }

    #[test]
    fn arbitrary_utf8() {
        assert_eq!(extract("```\nhé 🦀\n 日本\n```\nß"), "hé 🦀\n 日本\n");
        assert_eq!(extract("é```\nx\n```é\n```\n"), "");
    }

    #[test]
    fn writes_as_soon_as_it_can() {
        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, "```\nhello wor", &mut out);
        assert_eq!(out, "hello wor");
        assert!(x.found());

        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, "```\nabc\n``", &mut out);
        assert_eq!(out, "abc\n");
        push(&mut x, "`\n", &mut out);
        assert_eq!(out, "abc\n");
        push(&mut x, "after\n", &mut out);
        finish(&mut x, &mut out);
        assert_eq!(out, "abc\n");

        // Held only while it could still close.
        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, "```\n  ``", &mut out);
        assert_eq!(out, "");
        push(&mut x, "x", &mut out);
        assert_eq!(out, "  ``x");
        push(&mut x, "\n```  \r", &mut out);
        assert_eq!(out, "  ``x\n");
        push(&mut x, "\n", &mut out);
        finish(&mut x, &mut out);
        assert_eq!(out, "  ``x\n");

        // The opening fence is decided at its line end.
        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, "```rust", &mut out);
        assert!(!x.found());
        push(&mut x, "\n", &mut out);
        assert!(x.found());
    }

    #[test]
    fn finish_is_final() {
        let mut x = Extractor::new();
        let mut out = String::new();
        push(&mut x, "```\na", &mut out);
        finish(&mut x, &mut out);
        push(&mut x, "b\n", &mut out);
        finish(&mut x, &mut out);
        assert_eq!(out, "a");
    }

    #[test]
    fn a_long_held_line_is_counts_not_text() {
        // Spaces, fence characters, and blanks after a complete fence.
        for (start, filler) in [("", " "), ("", "`"), ("```", " "), ("```\t", "\t")] {
            let mut x = Extractor::new();
            let mut out = String::new();
            push(&mut x, "```\n", &mut out);
            push(&mut x, start, &mut out);
            // 8 MiB of a line that could still close the block.
            let piece = filler.repeat(8192);
            for _ in 0..1024 {
                push(&mut x, &piece, &mut out);
            }
            assert!(
                out.is_empty(),
                "{filler:?}: nothing is written while it may close"
            );
            let Phase::Inside(block) = &x.phase else {
                panic!("{filler:?}: not inside the block")
            };
            assert!(block.held.blanks.len() <= 2, "{filler:?}: runs, not text");
            // It turns out to be content: written as it came, in bounded pieces.
            let (mut total, mut largest, mut last) = (0, 0, String::new());
            x.push("x", &mut |s| {
                total += s.len();
                largest = largest.max(s.len());
                last = s.to_string();
            });
            assert_eq!(total, start.len() + 8192 * 1024 + 1, "{filler:?}");
            assert!(largest <= 1024, "{filler:?}: a piece of {largest} bytes");
            assert_eq!(last, "x");
        }
    }

    const ANSWERS: &[&str] = &[
        "",
        "no fence at all\n",
        "```\nfn main() {}\n```\n",
        "Text\n```rust\nlet x = 1;\r\nlet y = 2;\n```\nafter\n```\nsecond\n```\n",
        "  ~~~ info `x`\n  a\n b\n    c\n\n   \n  ~~~~ \t\nafter",
        "````\n```\n``\n`\n ````x\n````\r\n",
        "```\nabc\n``",
        "```\nabc\n```",
        "```\na\n```\r",
        "```\r\n\r\n  \r\n```\r",
        "inline ```a`b\n```\nhé 🦀\r\nend",
        "```",
        "x\n   ```py\n      deep\n  shallow\n   ```",
    ];

    #[test]
    fn any_split_gives_the_same_output() {
        for answer in ANSWERS {
            let whole = one_push(answer);
            let cuts: Vec<usize> = (0..=answer.len())
                .filter(|&i| answer.is_char_boundary(i))
                .collect();
            for &a in &cuts {
                assert_eq!(
                    pieces(&[&answer[..a], &answer[a..]]),
                    whole,
                    "{answer:?} cut at {a}"
                );
                for &b in cuts.iter().filter(|&&b| b >= a) {
                    assert_eq!(
                        pieces(&[&answer[..a], &answer[a..b], &answer[b..]]),
                        whole,
                        "{answer:?} cut at {a} and {b}"
                    );
                }
            }
            let chars: Vec<String> = answer.chars().map(String::from).collect();
            let chars: Vec<&str> = chars.iter().map(String::as_str).collect();
            assert_eq!(pieces(&chars), whole, "{answer:?} one char at a time");
        }
    }

    #[test]
    fn every_short_answer_splits_the_same() {
        // Every string of up to five of these characters, also inside a block.
        const ALPHABET: [char; 6] = ['`', '~', ' ', '\n', '\r', 'a'];
        let mut answers = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|s| ALPHABET.iter().map(move |&c| format!("{s}{c}")))
                .collect();
            answers.extend(last.iter().cloned());
        }
        for prefix in ["", "```\n", "  ~~~~\n"] {
            for tail in &answers {
                let answer = format!("{prefix}{tail}");
                let whole = one_push(&answer);
                for a in 0..=answer.len() {
                    assert_eq!(
                        pieces(&[&answer[..a], &answer[a..]]),
                        whole,
                        "{answer:?} cut at {a}"
                    );
                }
            }
        }
    }
}
