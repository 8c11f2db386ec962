//! The attachment suite's files: a PDF-looking file of a given size, curl's
//! `body.json` of the same request, and a byte-for-byte comparison of two
//! bodies.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::body::WRITE_SIZE;

/// The prompt of every upload.
pub const ATTACH_PROMPT: &str = "summarise";

/// A PDF-looking file of `size` bytes: `%PDF-1.4\n`, then xorshift64*
/// bytes (written out, not sparse: base64 and the page cache see real data).
pub fn make_pdf(path: &Path, size: u64) -> io::Result<()> {
    let mut f = io::BufWriter::with_capacity(WRITE_SIZE, File::create(path)?);
    let head = b"%PDF-1.4\n";
    f.write_all(&head[..head.len().min(size as usize)])?;
    let mut left = size.saturating_sub(head.len() as u64);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; WRITE_SIZE];
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            word.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// The request body of `orstream -a FILE summarise` (SPEC §8; keys in the
/// order request.rs writes them) around the file's base64: (before, after).
fn attach_json(filename: &str) -> (String, String) {
    let before = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":"{ATTACH_PROMPT}"}},{{"type":"file","file":{{"filename":"{filename}","file_data":"data:application/pdf;base64,"#
    );
    let after = r#""}}]}],"stream":true,"stream_options":{"include_usage":true}}"#;
    (before, after.to_string())
}

/// Writes `body.json` for curl: the JSON around `pdf`'s data, base64-encoded
/// in 192 KiB blocks (a multiple of 3, so the pieces join without padding).
/// Returns its length.
pub fn make_body_json(pdf: &Path, out: &Path) -> io::Result<u64> {
    use base64::Engine;
    let name = pdf.file_name().unwrap().to_string_lossy();
    let (before, after) = attach_json(&name);
    let mut src = File::open(pdf)?;
    let mut f = io::BufWriter::with_capacity(WRITE_SIZE, File::create(out)?);
    f.write_all(before.as_bytes())?;
    let mut block = vec![0u8; 3 * 64 * 1024];
    let mut text = String::new();
    loop {
        let n = read_full(&mut src, &mut block)?;
        if n == 0 {
            break;
        }
        text.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&block[..n], &mut text);
        f.write_all(text.as_bytes())?;
    }
    f.write_all(after.as_bytes())?;
    f.flush()?;
    Ok(std::fs::metadata(out)?.len())
}

/// The first offset at which two files differ (the shorter one's length if
/// one is a prefix of the other); None if they are equal.
pub fn first_difference(a: &Path, b: &Path) -> io::Result<Option<u64>> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; WRITE_SIZE], vec![0u8; WRITE_SIZE]);
    let mut at = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if let Some(i) = (0..na.min(nb)).find(|&i| ba[i] != bb[i]) {
            return Ok(Some(at + i as u64));
        }
        if na != nb {
            return Ok(Some(at + na.min(nb) as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        at += na as u64;
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
