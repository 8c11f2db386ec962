//! The hand-written Server-Sent Events splitter: feed bytes in, pull events out.
//!
//! It follows the WHATWG "event stream interpretation" rules: lines end in
//! `\n`, `\r\n` or a lone `\r` (a `\r\n` pair cut across two pushes is one line
//! ending), a leading UTF-8 BOM is dropped, one space after the colon is
//! removed, `data` lines are joined with `\n`, and a blank line dispatches the
//! event. Lines are split as bytes, before any UTF-8 decoding, so a character
//! cut across two network reads is never garbled. No I/O happens here.

use std::fmt;

/// Longest line, and largest event data, accepted before the stream is
/// declared broken: memory stays bounded whatever the server sends.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the splitter hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A dispatched event's data (the `data` lines joined with `\n`).
    Data(&'a [u8]),
    /// A comment line (`: OPENROUTER PROCESSING`), without the leading colon.
    Comment(&'a [u8]),
}

/// The stream broke one of the size limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One line grew past [`MAX_LINE`] bytes without a line ending.
    LineTooLong,
    /// One event's data grew past [`MAX_LINE`] bytes.
    EventTooLarge,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong => write!(f, "event stream line longer than 16 MiB"),
            SseError::EventTooLarge => write!(f, "event stream event larger than 16 MiB"),
        }
    }
}

impl std::error::Error for SseError {}

/// Splits a byte stream into SSE events, one read at a time:
///
/// ```text
/// let mut feed = splitter.feed(bytes);
/// while let Some(event) = feed.next_event()? { … }
/// ```
///
/// An event that lies whole in one read is handed out as a slice of that
/// read, never copied; only a line cut across two reads is carried over,
/// and only an event with several `data` lines (or one cut across reads) is
/// assembled in a buffer of its own.
#[derive(Debug)]
pub struct Splitter {
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
    /// `carry` was handed out as a line: cleared on the next call.
    carry_used: bool,
    /// The previous line ended in `\r`: a `\n` that comes next belongs to it.
    skip_lf: bool,
    /// No line has ended yet: the first one may start with a BOM.
    first_line: bool,
    /// The data of the event being built, when it is not one slice of the
    /// current read.
    data: Vec<u8>,
    has_data: bool,
    /// Set when an event was handed out, so its data is cleared on the next call.
    dispatched: bool,
}

impl Default for Splitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Splitter {
    pub fn new() -> Splitter {
        Splitter {
            carry: Vec::new(),
            carry_used: false,
            skip_lf: false,
            first_line: true,
            data: Vec::new(),
            has_data: false,
            dispatched: false,
        }
    }

    /// Starts splitting the bytes of one read.
    ///
    /// At EOF simply stop feeding: an event without its closing blank line
    /// is discarded, as WHATWG says.
    pub fn feed<'s, 'i>(&'s mut self, input: &'i [u8]) -> Feed<'s, 'i> {
        Feed {
            splitter: self,
            input,
            pos: 0,
            pending: None,
        }
    }
}

/// One read being split. Dropping it keeps what the next read completes.
pub struct Feed<'s, 'i> {
    splitter: &'s mut Splitter,
    input: &'i [u8],
    /// Where the next line starts in `input`.
    pos: usize,
    /// The event's one `data` value so far, as a range of `input`.
    pending: Option<(usize, usize)>,
}

/// Where the line just found lies.
#[derive(Clone, Copy)]
enum LineAt {
    Input(usize, usize),
    Carry,
}

/// What [`Feed::next_event`] found, before it is borrowed out.
enum Found {
    /// Data that lies whole in the read.
    DataInput(usize, usize),
    /// Data assembled in the splitter's own buffer.
    DataBuffer,
    CommentInput(usize, usize),
    CommentCarry,
}

impl Feed<'_, '_> {
    /// The next complete event or comment of what was fed so far, or `None`
    /// when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, SseError> {
        Ok(match self.find()? {
            None => None,
            Some(Found::DataInput(a, b)) => Some(Event::Data(&self.input[a..b])),
            Some(Found::DataBuffer) => Some(Event::Data(&self.splitter.data)),
            Some(Found::CommentInput(a, b)) => Some(Event::Comment(&self.input[a..b])),
            Some(Found::CommentCarry) => Some(Event::Comment(&self.splitter.carry[1..])),
        })
    }

    fn find(&mut self) -> Result<Option<Found>, SseError> {
        let s = &mut *self.splitter;
        if s.dispatched {
            s.dispatched = false;
            s.data.clear();
            s.has_data = false;
            self.pending = None;
        }
        loop {
            let at = match self.next_line()? {
                Some(at) => at,
                None => return Ok(None),
            };
            let s = &mut *self.splitter;
            let line: &[u8] = match at {
                LineAt::Input(a, b) => &self.input[a..b],
                LineAt::Carry => &s.carry,
            };
            if line.is_empty() {
                if !s.has_data {
                    continue;
                }
                s.dispatched = true;
                return Ok(Some(match self.pending {
                    Some((a, b)) => Found::DataInput(a, b),
                    None => Found::DataBuffer,
                }));
            }
            if line[0] == b':' {
                return Ok(Some(match at {
                    LineAt::Input(a, b) => Found::CommentInput(a + 1, b),
                    LineAt::Carry => Found::CommentCarry,
                }));
            }
            // The value, as offsets into the line.
            let (field, from) = match memchr::memchr(b':', line) {
                Some(colon) => {
                    let space = line.get(colon + 1) == Some(&b' ');
                    (&line[..colon], colon + 1 + usize::from(space))
                }
                None => (line, line.len()),
            };
            // `event`, `id`, `retry` and unknown fields are read and ignored:
            // a POST cannot be resumed, so there is nothing to reconnect with.
            if field != b"data" {
                continue;
            }
            let value_len = line.len() - from;
            let extra = value_len + usize::from(s.has_data);
            let held = self.pending.map_or(s.data.len(), |(a, b)| b - a);
            if held + extra > MAX_LINE {
                return Err(SseError::EventTooLarge);
            }
            match at {
                // The common case: the event's only data line, in this read.
                LineAt::Input(a, b) if !s.has_data => self.pending = Some((a + from, b)),
                _ => {
                    if let Some((a, b)) = self.pending.take() {
                        s.data.extend_from_slice(&self.input[a..b]);
                    }
                    if s.has_data {
                        s.data.push(b'\n');
                    }
                    match at {
                        LineAt::Input(a, b) => s.data.extend_from_slice(&self.input[a + from..b]),
                        LineAt::Carry => s.data.extend_from_slice(&s.carry[from..]),
                    }
                }
            }
            s.has_data = true;
        }
    }

    /// Finds the next whole line: in the read, or completed in the carry.
    fn next_line(&mut self) -> Result<Option<LineAt>, SseError> {
        let s = &mut *self.splitter;
        if s.carry_used {
            s.carry_used = false;
            s.carry.clear();
        }
        if s.skip_lf && self.pos < self.input.len() {
            s.skip_lf = false;
            if self.input[self.pos] == b'\n' {
                self.pos += 1;
            }
        }
        let rest = &self.input[self.pos..];
        let Some(len) = memchr::memchr2(b'\n', b'\r', rest) else {
            if s.carry.len() + rest.len() > MAX_LINE {
                return Err(SseError::LineTooLong);
            }
            return Ok(None);
        };
        if s.carry.len() + len > MAX_LINE {
            return Err(SseError::LineTooLong);
        }
        s.skip_lf = rest[len] == b'\r';
        let (start, end) = (self.pos, self.pos + len);
        self.pos = end + 1;
        let first = std::mem::replace(&mut s.first_line, false);
        if s.carry.is_empty() {
            let bom = if first && self.input[start..end].starts_with(BOM) {
                BOM.len()
            } else {
                0
            };
            return Ok(Some(LineAt::Input(start + bom, end)));
        }
        s.carry.extend_from_slice(&self.input[start..end]);
        if first && s.carry.starts_with(BOM) {
            s.carry.drain(..BOM.len());
        }
        s.carry_used = true;
        Ok(Some(LineAt::Carry))
    }
}

impl Drop for Feed<'_, '_> {
    fn drop(&mut self) {
        let s = &mut *self.splitter;
        if s.carry_used {
            s.carry_used = false;
            s.carry.clear();
        }
        // The event's data so far must outlive this read.
        if let Some((a, b)) = self.pending.take() {
            s.data.extend_from_slice(&self.input[a..b]);
        }
        s.carry
            .extend_from_slice(&self.input[self.pos.min(self.input.len())..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Owned {
        Data(Vec<u8>),
        Comment(Vec<u8>),
        Error(SseError),
    }

    fn drain(s: &mut Splitter, input: &[u8], out: &mut Vec<Owned>) -> bool {
        let mut feed = s.feed(input);
        loop {
            match feed.next_event() {
                Ok(Some(Event::Data(d))) => out.push(Owned::Data(d.to_vec())),
                Ok(Some(Event::Comment(c))) => out.push(Owned::Comment(c.to_vec())),
                Ok(None) => return true,
                Err(e) => {
                    out.push(Owned::Error(e));
                    return false;
                }
            }
        }
    }

    fn feed(pieces: &[&[u8]]) -> Vec<Owned> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for p in pieces {
            if !drain(&mut s, p, &mut out) {
                break;
            }
        }
        out
    }

    fn data(s: &str) -> Owned {
        Owned::Data(s.as_bytes().to_vec())
    }

    fn comment(s: &str) -> Owned {
        Owned::Comment(s.as_bytes().to_vec())
    }

    /// Streams that exercise every rule; each is checked whole, then split at
    /// every offset, in three pieces, and one byte at a time.
    const CASES: &[(&str, &[u8])] = &[
        ("lf", b"data: a\n\ndata: b\n\n"),
        ("crlf", b"data: a\r\n\r\ndata: b\r\n\r\n"),
        ("cr", b"data: a\r\rdata: b\r\r"),
        ("mixed", b"data: a\r\n\rdata: b\n\r\n"),
        ("bom", b"\xEF\xBB\xBFdata: a\n\n"),
        ("no space", b"data:a\n\n"),
        ("two spaces", b"data:  a\n\n"),
        ("multi", b"data: a\ndata: b\ndata:\n\n"),
        ("comment", b": OPENROUTER PROCESSING\n\ndata: x\n\n"),
        ("no colon", b"data\n\ndata: y\n\n"),
        (
            "fields",
            b"event: e\nid: 1\nretry: 5\nfoo: bar\ndata: z\n\n",
        ),
        ("utf8", "data: héllo 🌍 wörld\n\n".as_bytes()),
        ("trailing", b"data: a\n\ndata: never dispatched\n"),
        ("done", b"data: {\"a\":1}\n\ndata: [DONE]\n\n"),
        ("blank lines", b"\n\n\r\n\rdata: a\n\n"),
    ];

    fn expected(name: &str) -> Vec<Owned> {
        match name {
            "lf" | "crlf" | "cr" | "mixed" => vec![data("a"), data("b")],
            "bom" | "no space" => vec![data("a")],
            "two spaces" => vec![data(" a")],
            "multi" => vec![data("a\nb\n")],
            "comment" => vec![comment(" OPENROUTER PROCESSING"), data("x")],
            "no colon" => vec![data(""), data("y")],
            "fields" => vec![data("z")],
            "utf8" => vec![data("héllo 🌍 wörld")],
            "trailing" => vec![data("a")],
            "done" => vec![data("{\"a\":1}"), data("[DONE]")],
            "blank lines" => vec![data("a")],
            other => panic!("no expectation for {other}"),
        }
    }

    #[test]
    fn whole_streams() {
        for (name, input) in CASES {
            assert_eq!(feed(&[input]), expected(name), "case {name}");
        }
    }

    #[test]
    fn split_at_every_offset_gives_identical_events() {
        for (name, input) in CASES {
            let want = expected(name);
            for i in 0..=input.len() {
                let (a, b) = input.split_at(i);
                assert_eq!(feed(&[a, b]), want, "case {name} split at {i}");
                for j in i..=input.len() {
                    let (b1, b2) = b.split_at(j - i);
                    assert_eq!(feed(&[a, b1, b2]), want, "case {name} split at {i},{j}");
                }
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(feed(&bytes), want, "case {name} byte by byte");
        }
    }

    #[test]
    fn cr_then_lf_across_reads_is_one_line_ending() {
        // Were the `\n` a second line ending, it would dispatch `a` early.
        assert_eq!(feed(&[b"data: a\r", b"\ndata: b\n\n"]), vec![data("a\nb")]);
    }

    #[test]
    fn bom_only_at_start() {
        assert_eq!(
            feed(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]),
            vec![data("a")],
            "a BOM later is part of the field name, which is then unknown"
        );
        assert_eq!(feed(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]), vec![data("a")]);
    }

    #[test]
    fn event_without_blank_line_at_eof_is_discarded() {
        assert_eq!(feed(&[b"data: [DONE]"]), vec![]);
        assert_eq!(feed(&[b"data: [DONE]\n"]), vec![]);
    }

    #[test]
    fn line_too_long_is_an_error_not_a_crash() {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        let piece = vec![b'x'; 1024 * 1024];
        let mut ok = drain(&mut s, b"data: ", &mut out);
        for _ in 0..17 {
            ok = drain(&mut s, &piece, &mut out);
            if !ok {
                break;
            }
        }
        assert!(!ok);
        assert_eq!(out, vec![Owned::Error(SseError::LineTooLong)]);
    }

    #[test]
    fn event_too_large_is_an_error() {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        let mut line = b"data: ".to_vec();
        line.extend(vec![b'x'; 1024 * 1024]);
        line.push(b'\n');
        let mut ok = true;
        for _ in 0..17 {
            ok = drain(&mut s, &line, &mut out);
            if !ok {
                break;
            }
        }
        assert!(!ok);
        assert_eq!(out, vec![Owned::Error(SseError::EventTooLarge)]);
    }

    #[test]
    fn buffer_stays_bounded_over_a_long_stream() {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        let event = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        let block: Vec<u8> = event
            .iter()
            .copied()
            .cycle()
            .take(event.len() * 200)
            .collect();
        for _ in 0..2000 {
            out.clear();
            // Cut mid-event, so a part is carried each time.
            let (a, b) = block.split_at(block.len() / 3);
            assert!(drain(&mut s, a, &mut out));
            assert!(drain(&mut s, b, &mut out));
            assert_eq!(out.len(), 200);
        }
        assert!(
            s.carry.capacity() < 64 * 1024 && s.data.capacity() < 64 * 1024,
            "capacity {} and {}",
            s.carry.capacity(),
            s.data.capacity()
        );
    }

    /// A deterministic pseudo-random splitter check over generated streams.
    #[test]
    fn random_splits_are_invariant() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[&[u8]] = &[
            b"data",
            b":",
            b" ",
            b"\r",
            b"\n",
            b"x",
            b"\xEF\xBB\xBF",
            b"event",
            b"\xC3",
            b"\xA9",
            b"[DONE]",
        ];
        for _ in 0..300 {
            let mut input = Vec::new();
            for _ in 0..(next() % 40) {
                input.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            let want = feed(&[&input]);
            let mut pieces = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize % rest.len().min(7));
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(
                feed(&pieces),
                want,
                "input {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
