//! A request body from any JSON value with held data spliced in (SPEC §8):
//! `len()` (the `Content-Length`) is exactly what the reader yields, read in
//! any buffer size and again for a retry, and the bytes are the JSON the
//! value would be with each placeholder replaced by its data's base64.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::arbitrary::{Error, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{body, placeholder, Layout};
use serde_json::{Map, Value};
use std::io::Read;

/// Builds the value twice: with placeholders (what `Body::new` gets) and
/// with the base64 text in their place (what the reader must yield).
struct Builder {
    data: Vec<Vec<u8>>,
    /// The placeholders' per-process nonce. Text holding it is skipped:
    /// no user can know it, but libFuzzer reads it from the comparisons
    /// and writes it in, and `Body::new` then rightly refuses the body.
    nonce: String,
}

impl Builder {
    /// A new data source: the placeholder and its base64 text. Mostly
    /// small; one in eight up to 150 KiB (blocks are 48 KiB) while the
    /// total stays under 1 MiB.
    fn source(&mut self, u: &mut Unstructured) -> Result<(String, String)> {
        let total: usize = self.data.iter().map(Vec::len).sum();
        let most = if total < 1 << 20 && u.ratio(1, 8)? {
            150 * 1024
        } else {
            200
        };
        let len = u.int_in_range(0..=most)?;
        let pattern: Vec<u8> = u.arbitrary()?;
        let bytes: Vec<u8> = if pattern.is_empty() {
            vec![0; len]
        } else {
            pattern.iter().copied().cycle().take(len).collect()
        };
        let encoded = STANDARD.encode(&bytes);
        self.data.push(bytes);
        Ok((placeholder(self.data.len() - 1), encoded))
    }

    fn text(&self, u: &mut Unstructured) -> Result<String> {
        let text: String = u.arbitrary()?;
        if text.contains(&self.nonce) {
            return Err(Error::IncorrectFormat);
        }
        Ok(text)
    }

    /// A string that may hold a placeholder (bare, in a data URL, or
    /// between text).
    fn string(&mut self, u: &mut Unstructured) -> Result<(String, String)> {
        let text = self.text(u)?;
        Ok(match u.int_in_range(0..=3)? {
            0 => (text.clone(), text),
            1 => self.source(u)?,
            2 => {
                let (p, e) = self.source(u)?;
                (
                    format!("data:image/png;base64,{p}"),
                    format!("data:image/png;base64,{e}"),
                )
            }
            _ => {
                let after = self.text(u)?;
                let (p, e) = self.source(u)?;
                (format!("{text}{p}{after}"), format!("{text}{e}{after}"))
            }
        })
    }

    fn value(&mut self, u: &mut Unstructured, depth: u32) -> Result<(Value, Value)> {
        let kind = if depth == 0 {
            u.int_in_range(0..=4)?
        } else {
            u.int_in_range(0..=6)?
        };
        Ok(match kind {
            0 => (Value::Null, Value::Null),
            1 => {
                let b: bool = u.arbitrary()?;
                (b.into(), b.into())
            }
            2 => {
                let n: f64 = u.arbitrary()?;
                (n.into(), n.into())
            }
            3 => {
                let n: i64 = u.arbitrary()?;
                (n.into(), n.into())
            }
            4 => {
                let (p, e) = self.string(u)?;
                (p.into(), e.into())
            }
            5 => {
                let (mut ps, mut es) = (Vec::new(), Vec::new());
                for _ in 0..u.int_in_range(0..=6)? {
                    let (p, e) = self.value(u, depth - 1)?;
                    ps.push(p);
                    es.push(e);
                }
                (Value::Array(ps), Value::Array(es))
            }
            _ => {
                let (mut ps, mut es) = (Map::new(), Map::new());
                for i in 0..u.int_in_range(0..=6)? {
                    // `i:` first keeps the keys apart, so none is lost.
                    let (pk, ek) = self.string(u)?;
                    let (p, e) = self.value(u, depth - 1)?;
                    ps.insert(format!("{i}:{pk}"), p);
                    es.insert(format!("{i}:{ek}"), e);
                }
                (Value::Object(ps), Value::Object(es))
            }
        })
    }
}

fn read_all(mut reader: Box<dyn Read>, size: usize) -> Vec<u8> {
    let mut buf = vec![0; size];
    let mut out = Vec::new();
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading held data failed: {e}"),
        }
    }
}

fn check(u: &mut Unstructured) -> Result<()> {
    let nonce = placeholder(0)
        .trim_matches('\u{1}')
        .trim_end_matches('0')
        .to_string();
    let mut builder = Builder {
        data: Vec::new(),
        nonce,
    };
    let (value, expected) = builder.value(u, 4)?;
    let pretty: bool = u.arbitrary()?;
    let size = u.int_in_range(1..=70_000)?;
    let (layout, want) = if pretty {
        let want = serde_json::to_vec_pretty(&expected).unwrap();
        (Layout::Pretty, want)
    } else {
        (Layout::Compact, serde_json::to_vec(&expected).unwrap())
    };
    let (len, reader) = match body(&value, builder.data, layout) {
        Ok(body) => body,
        Err(e) => panic!("Body::new: {e}"),
    };
    let got = read_all(reader(), size);
    assert_eq!(len, got.len() as u64, "len() is what the reader yields");
    assert!(got == want, "not the JSON with the data in place");
    assert!(
        read_all(reader(), 1 + size / 3) == want,
        "a second read differs"
    );
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let _ = check(&mut Unstructured::new(input));
});
