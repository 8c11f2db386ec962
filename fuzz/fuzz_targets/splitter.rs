//! Random bytes in random splits through the SSE splitter and the chunk
//! decoder: no panic, bounded memory, and the same events however the bytes
//! are split.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{Chunk, Event, Splitter};

#[derive(Debug, PartialEq)]
enum Owned {
    Data(Vec<u8>),
    Comment(Vec<u8>),
    Error,
}

fn run(pieces: &[&[u8]]) -> Vec<Owned> {
    let mut s = Splitter::new();
    let mut out = Vec::new();
    for p in pieces {
        let mut feed = s.feed(p);
        loop {
            match feed.next_event() {
                Ok(Some(Event::Data(d))) => {
                    // The decoder must take any data without panicking.
                    let text = String::from_utf8_lossy(d);
                    if let Ok(c) = Chunk::parse(&text) {
                        let _ = c.errored_choice();
                        if let Some(e) = &c.error {
                            let _ = e.describe(None);
                        }
                    }
                    out.push(Owned::Data(d.to_vec()));
                }
                Ok(Some(Event::Comment(c))) => out.push(Owned::Comment(c.to_vec())),
                Ok(None) => break,
                Err(_) => {
                    out.push(Owned::Error);
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    // The first byte picks the split points; the rest is the stream.
    let Some((&seed, stream)) = input.split_first() else {
        return;
    };
    let whole = run(&[stream]);
    let mut pieces = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = 1 + (state as usize % rest.len().min(16));
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    assert_eq!(run(&pieces), whole, "split-invariance");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte-by-byte");
});
