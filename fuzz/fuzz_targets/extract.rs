//! `-x` on any text, split anywhere, against a line-at-a-time reference
//! written from the SPEC §9 rules: the same output after every push (so
//! text goes out as soon as it cannot be part of a closing fence, and a
//! closing fence never goes out), the same output at the end, the same
//! `found()`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::Extractor;

/// An opening fence: its indentation, character and length.
struct Fence {
    indent: usize,
    ch: char,
    count: usize,
}

fn leading(text: &str, c: char) -> usize {
    text.len() - text.trim_start_matches(c).len()
}

/// A line (without its `\n`) that, after I spaces, starts with three or
/// more backticks (and holds no other backtick) or three or more tildes.
fn opening(line: &str) -> Option<Fence> {
    let indent = leading(line, ' ');
    let rest = &line[indent..];
    let ch = rest.chars().next().filter(|&c| c == '`' || c == '~')?;
    let count = leading(rest, ch);
    let info = &rest[count..];
    (count >= 3 && !(ch == '`' && info.contains('`'))).then_some(Fence { indent, ch, count })
}

/// A line (without its line end) that, after any spaces, is the fence
/// character at least as many times, then only spaces and tabs.
fn closes(fence: &Fence, line: &str) -> bool {
    let rest = line.trim_start_matches(' ');
    let n = leading(rest, fence.ch);
    n >= fence.count && rest[n..].chars().all(|c| c == ' ' || c == '\t')
}

/// An unfinished line that may still turn out to be a closing fence.
fn might_close(fence: &Fence, partial: &str) -> bool {
    let rest = partial.trim_start_matches(' ');
    let n = leading(rest, fence.ch);
    let tail = &rest[n..];
    let tail = tail.strip_suffix('\r').unwrap_or(tail);
    rest.len() == n || (n >= fence.count && tail.chars().all(|c| c == ' ' || c == '\t'))
}

/// A content line loses up to I leading spaces.
fn dedent<'a>(fence: &Fence, line: &'a str) -> &'a str {
    &line[leading(line, ' ').min(fence.indent)..]
}

/// What `-x` should have written for `text`, and whether a block opened;
/// `ended`: the answer ended there (else more may follow).
fn reference(text: &str, ended: bool) -> (String, bool) {
    let mut out = String::new();
    let mut fence: Option<Fence> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let (line, end) = match rest.find('\n') {
            Some(i) => (&rest[..i], "\n"),
            None => (rest, ""),
        };
        rest = &rest[line.len() + end.len()..];
        let complete = !end.is_empty();
        match &fence {
            None => {
                if complete || ended {
                    fence = opening(line);
                }
            }
            Some(f) if complete || ended => {
                // `\r\n` ends a line as `\n` does; a lone `\r` does not.
                let body = if complete {
                    line.strip_suffix('\r').unwrap_or(line)
                } else {
                    line
                };
                if closes(f, body) {
                    return (out, true);
                }
                out.push_str(dedent(f, line));
                out.push_str(end);
            }
            Some(f) => {
                if !might_close(f, line) {
                    out.push_str(dedent(f, line));
                }
            }
        }
    }
    (out, fence.is_some())
}

/// Cuts `text` into pieces of 1 to 16 bytes, on character boundaries,
/// lengths drawn from `seed`.
fn pieces(text: &str, seed: u8) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut n = 1 + (state as usize % rest.len().min(16));
        while !rest.is_char_boundary(n) {
            n += 1;
        }
        let (piece, tail) = rest.split_at(n);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

fuzz_target!(|input: &[u8]| {
    let Some((&seed, text)) = input.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let mut x = Extractor::new();
    let mut out = String::new();
    let mut pushed = 0;
    for piece in pieces(&text, seed) {
        x.push(piece, &mut |s| out.push_str(s));
        pushed += piece.len();
        let (want, found) = reference(&text[..pushed], false);
        assert_eq!(out, want, "after {:?}", &text[..pushed]);
        assert_eq!(x.found(), found, "found() after {:?}", &text[..pushed]);
    }
    x.finish(&mut |s| out.push_str(s));
    let (want, found) = reference(&text, true);
    assert_eq!(out, want, "at the end of {text:?}");
    assert_eq!(x.found(), found, "found() at the end of {text:?}");
    // Nothing is written after the end.
    x.push(&text, &mut |s| out.push_str(s));
    assert_eq!(out, want, "a push after finish");
});
