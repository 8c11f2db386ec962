//! The hand-written Server-Sent Events splitter: push bytes in, pull events out.
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

/// Splits a byte stream into SSE events.
///
/// ```text
/// splitter.push(bytes);
/// while let Some(event) = splitter.next_event()? { … }
/// ```
/// Where the event found by `next_line_event` lies.
enum Found {
    Data,
    Comment(usize, usize),
}

#[derive(Debug)]
pub struct Splitter {
    /// Bytes pushed but not yet consumed; `pos` is where the next line starts.
    buf: Vec<u8>,
    pos: usize,
    /// How far past `pos` we already looked for a line ending, so a long line
    /// arriving in many small reads is scanned once, not once per read.
    scanned: usize,
    /// The previous line ended in `\r`: a `\n` that comes next belongs to it.
    skip_lf: bool,
    /// Nothing but (a prefix of) a BOM has been seen yet.
    at_start: bool,
    /// The data buffer of the event being built.
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
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
            scanned: 0,
            skip_lf: false,
            at_start: true,
            data: Vec::new(),
            has_data: false,
            dispatched: false,
        }
    }

    /// Appends bytes read from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            // Drop consumed bytes before growing: the buffer then holds at most
            // one partial line plus one read.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event or comment from what was pushed so far, or
    /// `None` when more bytes are needed.
    ///
    /// At EOF simply stop calling: an event without its closing blank line is
    /// discarded, as WHATWG says.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, SseError> {
        if self.dispatched {
            self.dispatched = false;
            self.data.clear();
            self.has_data = false;
        }
        // Positions, not borrows, leave the loop: the borrow is taken on return.
        match self.next_line_event()? {
            None => Ok(None),
            Some(Found::Data) => Ok(Some(Event::Data(&self.data))),
            Some(Found::Comment(start, end)) => Ok(Some(Event::Comment(&self.buf[start..end]))),
        }
    }

    fn next_line_event(&mut self) -> Result<Option<Found>, SseError> {
        loop {
            if self.at_start && !self.strip_bom() {
                return Ok(None);
            }
            if self.skip_lf && self.pos < self.buf.len() {
                self.skip_lf = false;
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
            }
            let rest = &self.buf[self.pos..];
            let Some(len) = find_line_end(&rest[self.scanned..]).map(|i| i + self.scanned) else {
                self.scanned = rest.len();
                if rest.len() > MAX_LINE {
                    return Err(SseError::LineTooLong);
                }
                return Ok(None);
            };
            if len > MAX_LINE {
                return Err(SseError::LineTooLong);
            }
            let start = self.pos;
            self.scanned = 0;
            self.skip_lf = rest[len] == b'\r';
            self.pos += len + 1;
            let line = &self.buf[start..start + len];

            if line.is_empty() {
                if self.has_data {
                    self.dispatched = true;
                    return Ok(Some(Found::Data));
                }
                continue;
            }
            if line[0] == b':' {
                return Ok(Some(Found::Comment(start + 1, start + len)));
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &[][..]),
            };
            // `event`, `id`, `retry` and unknown fields are read and ignored:
            // a POST cannot be resumed, so there is nothing to reconnect with.
            if field == b"data" {
                let extra = value.len() + usize::from(self.has_data);
                if self.data.len() + extra > MAX_LINE {
                    return Err(SseError::EventTooLarge);
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
        }
    }

    /// Drops a leading BOM; false while the bytes so far could still be one.
    fn strip_bom(&mut self) -> bool {
        let rest = &self.buf[self.pos..];
        if rest.len() < BOM.len() && BOM.starts_with(rest) {
            return false;
        }
        if rest.starts_with(BOM) {
            self.pos += BOM.len();
        }
        self.at_start = false;
        true
    }
}

/// The first `\n` or `\r`, eight bytes at a time: a chunk is a few hundred
/// bytes of one line, and this scan is the splitter's main cost.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        if has_zero_byte(v ^ (ONES * u64::from(b'\n')))
            || has_zero_byte(v ^ (ONES * u64::from(b'\r')))
        {
            break;
        }
        start += 8;
    }
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| i + start)
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

    fn drain(s: &mut Splitter, out: &mut Vec<Owned>) -> bool {
        loop {
            match s.next_event() {
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
            s.push(p);
            if !drain(&mut s, &mut out) {
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
    fn line_end_scan_finds_the_first_at_any_offset() {
        for len in 0..40 {
            for at in 0..len {
                for end in [b'\n', b'\r'] {
                    let mut v = vec![b'x'; len];
                    v[at] = end;
                    if at + 3 < len {
                        v[at + 3] = b'\n';
                    }
                    assert_eq!(find_line_end(&v), Some(at), "len {len} at {at}");
                }
            }
            // Bytes that differ from CR/LF by one bit, and high bytes.
            let v: Vec<u8> = (0..len)
                .map(|i| [b'\x0b', b'\x0c', b'\x8a', b'\x8d', 0xff][i % 5])
                .collect();
            assert_eq!(find_line_end(&v), None, "len {len}");
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
        s.push(b"data: ");
        let mut ok = true;
        for _ in 0..17 {
            s.push(&piece);
            ok = drain(&mut s, &mut out);
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
            s.push(&line);
            ok = drain(&mut s, &mut out);
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
            s.push(&block);
            out.clear();
            assert!(drain(&mut s, &mut out));
            assert_eq!(out.len(), 200);
        }
        assert!(
            s.buf.capacity() < 64 * 1024,
            "capacity {}",
            s.buf.capacity()
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
