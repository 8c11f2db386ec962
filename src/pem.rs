//! PEM bundles (`SSL_CERT_FILE`): the certificates in them, decoded.
//!
//! The rules are those of the reader in rustls-pki-types that
//! `ureq::tls::parse_pem` uses (a test below compares the two on every kind
//! of input): lines end at `\n` or `\r`; text outside a section is ignored;
//! a line that starts with `-----BEGIN ` opens a section and must end in
//! exactly five dashes; `-----END LABEL-----` closes it; a section without
//! its END line is an error; the sections of the kinds rustls knows (keys,
//! CRLs, CSRs…) are decoded and dropped, others are skipped undecoded.
//! Base64 may be unpadded and holds ASCII whitespace anywhere.
//!
//! What differs is the speed: rustls-pki-types splits lines and decodes
//! base64 a byte at a time (in constant time for keys); here lines are
//! found a word at a time (`memchr`) and decoded by the `base64` crate, in
//! place. A certificate is public: nothing here needs
//! constant time. An https short request with `SSL_CERT_FILE` = the system
//! bundle (145 certificates) went from 13.1 M to 7.1 M instructions (3.6 M
//! with a one-certificate file).

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
// memchr's word-at-a-time search, not its SIMD one: that one first asks the
// CPU what it has (std_detect: about ten CPUID instructions, 7 µs each in a
// virtual machine, 70 µs, more than all the searching here).
use memchr::arch::all::memchr::{One, Two};
use std::fmt;
use std::ops::Range;

/// What rustls-pki-types accepts: the standard alphabet, the unused bits
/// of the last character not checked, and either the whole padding or none
/// (`Indifferent` would also take `AA=`).
const fn engine(padding: DecodePaddingMode) -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(padding)
            .with_decode_allow_trailing_bits(true),
    )
}
const PADDED: GeneralPurpose = engine(DecodePaddingMode::RequireCanonical);
const UNPADDED: GeneralPurpose = engine(DecodePaddingMode::RequireNone);

/// The section labels rustls-pki-types decodes (its `SectionKind`).
const KNOWN: [&[u8]; 8] = [
    b"CERTIFICATE",
    b"PUBLIC KEY",
    b"RSA PRIVATE KEY",
    b"PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"X509 CRL",
    b"CERTIFICATE REQUEST",
    b"ECHCONFIG",
];

/// Why a bundle does not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// A section has no END line.
    MissingEnd(String),
    /// A `-----BEGIN ` line that does not end in five dashes.
    BadBegin,
    /// A section's base64 does not decode.
    Base64(String, String),
}

/// Why a section did not decode, in words: the offset base64 reports
/// counts the section's text without its line ends, so the byte is named
/// instead.
fn decode_reason(e: &base64::DecodeSliceError) -> String {
    use base64::{DecodeError as D, DecodeSliceError as S};
    let byte = |b: u8| match b {
        0x21..=0x7e => format!("'{}'", char::from(b)),
        _ => format!("byte 0x{b:02x}"),
    };
    match e {
        S::DecodeError(D::InvalidByte(_, b)) => format!("{} is not a base64 character", byte(*b)),
        S::DecodeError(D::InvalidLastSymbol { symbol, .. }) => {
            format!("{} cannot end it", byte(*symbol))
        }
        S::DecodeError(D::InvalidLength(_)) => "its length is not that of base64".into(),
        S::DecodeError(D::InvalidPadding) => "its = padding is misplaced".into(),
        S::OutputSliceTooSmall => "it decodes to more than it holds".into(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingEnd(label) => write!(f, "no END line for a {label} section"),
            Error::BadBegin => write!(f, "a BEGIN line that does not end in -----"),
            Error::Base64(label, why) => write!(f, "a {label} section is not base64 ({why})"),
        }
    }
}

/// Reads the certificates of a bundle one after the other, each decoded in
/// place: its DER bytes overwrite text of the bundle already read (a
/// certificate is shorter than its base64), so decoding needs no buffer and
/// touches no memory of its own.
pub struct Reader<'a> {
    buf: &'a mut [u8],
    /// Where reading goes on.
    pos: usize,
    /// Where the next certificate's bytes go: never past `pos`.
    written: usize,
    /// A section's base64, whitespace removed (kept from one to the next).
    text: Vec<u8>,
    failed: bool,
}

impl<'a> Reader<'a> {
    pub fn new(pem: &'a mut [u8]) -> Reader<'a> {
        Reader {
            buf: pem,
            pos: 0,
            written: 0,
            text: Vec::new(),
            failed: false,
        }
    }

    /// Decodes the next certificate and returns where its DER bytes are in
    /// the buffer given to [`Reader::new`] (see [`Reader::der`]); `None` at
    /// the end. After an error, always `None`.
    pub fn next_certificate(&mut self) -> Result<Option<Range<usize>>, Error> {
        if self.failed {
            return Ok(None);
        }
        loop {
            match self.section() {
                Ok(Some((label, n))) if label == b"CERTIFICATE" => {
                    let range = self.written..self.written + n;
                    self.written += n;
                    return Ok(Some(range));
                }
                // Decoded to be checked, as rustls-pki-types does, then dropped.
                Ok(Some(_)) => {}
                Ok(None) => return Ok(None),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
    }

    /// The bytes of a range [`Reader::next_certificate`] returned.
    pub fn der(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Where the text before the next line that starts with a dash ends
    /// (base64 lines never do, and only such lines open or close a
    /// section), and that line without its line end; no line when none is
    /// left.
    fn until_dash_line(&mut self) -> (usize, Option<Range<usize>>) {
        let rest = &self.buf[self.pos..];
        let at_line_start = |&i: &usize| i == 0 || matches!(rest[i - 1], b'\n' | b'\r');
        let Some(start) = One::new(b'-').iter(rest).find(at_line_start) else {
            self.pos = self.buf.len();
            return (self.pos, None);
        };
        let end = Two::new(b'\n', b'\r')
            .find(&rest[start..])
            .map_or(rest.len(), |n| start + n);
        let (start, end) = (self.pos + start, self.pos + end);
        self.pos = (end + 1).min(self.buf.len());
        (start, Some(start..end))
    }

    /// Decodes the next section of a known kind to `written` (not moving
    /// it): its label and decoded length.
    fn section(&mut self) -> Result<Option<(&'static [u8], usize)>, Error> {
        let mut label: Option<Range<usize>> = None;
        // Kept across a second BEGIN line, as rustls-pki-types does.
        self.text.clear();
        loop {
            let from = self.pos;
            let (before_end, line) = self.until_dash_line();
            if label.is_some() {
                append_base64(&mut self.text, &self.buf[from..before_end]);
            }
            let Some(line) = line else {
                return match label {
                    Some(l) => Err(Error::MissingEnd(lossy(&self.buf[l]))),
                    None => Ok(None),
                };
            };
            let text = &self.buf[line.clone()];
            if let Some(rest) = text.strip_prefix(b"-----BEGIN ") {
                let l = begin_label(rest).ok_or(Error::BadBegin)?.len();
                label = Some(line.start + 11..line.start + 11 + l);
                continue;
            }
            let Some(l) = label.clone() else { continue };
            if !is_end(text, &self.buf[l.clone()]) {
                append_base64(&mut self.text, &self.buf[line]);
                continue;
            }
            let name = &self.buf[l];
            let Some(&kind) = KNOWN.iter().find(|k| **k == name) else {
                label = None;
                self.text.clear();
                continue;
            };
            let engine = match self.text.last() {
                Some(b'=') => &PADDED,
                _ => &UNPADDED,
            };
            // Room enough: the section's text, and its BEGIN and END lines,
            // lie between `written` and `pos`.
            let out = &mut self.buf[self.written..self.pos];
            let n = engine
                .decode_slice(&self.text, out)
                .map_err(|e| Error::Base64(lossy(kind), decode_reason(&e)))?;
            return Ok(Some((kind, n)));
        }
    }
}

/// Appends `bytes` without their whitespace, a line at a time (a line
/// without any, the usual case, in one copy).
fn append_base64(text: &mut Vec<u8>, bytes: &[u8]) {
    text.reserve(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        // Lines are 64 characters and `\n` in almost every bundle: looked at
        // first, they need no search.
        let end = match rest.get(LINE) {
            Some(b'\n') => LINE,
            _ => One::new(b'\n').find(rest).unwrap_or(rest.len()),
        };
        let line = &rest[..end];
        // Not `any`: without the early exit the check is vectorised.
        if line.iter().fold(false, |low, &b| low | (b <= b' ')) {
            text.extend(line.iter().filter(|&&b| !is_space(b)));
        } else {
            text.extend_from_slice(line);
        }
        rest = rest.get(end + 1..).unwrap_or(&[]);
    }
}

/// The length of a base64 line in PEM (RFC 7468).
const LINE: usize = 64;

/// The label of a BEGIN line (after `-----BEGIN `): what comes before the
/// last run of exactly five dashes, spaces among and after them ignored.
fn begin_label(rest: &[u8]) -> Option<&[u8]> {
    let (mut dashes, mut end) = (0, rest.len());
    for (i, &b) in rest.iter().enumerate().rev() {
        match b {
            b'-' => (dashes, end) = (dashes + 1, i),
            b' ' => {}
            _ => break,
        }
    }
    (dashes == 5).then(|| &rest[..end])
}

fn is_end(line: &[u8], label: &[u8]) -> bool {
    line.strip_prefix(b"-----END ")
        .and_then(|rest| rest.strip_prefix(label))
        .is_some_and(|rest| rest.starts_with(b"-----"))
}

/// The whitespace rustls-pki-types skips in base64: tab to carriage
/// return, and space.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

fn lossy(label: &[u8]) -> String {
    String::from_utf8_lossy(label).into_owned()
}

#[cfg(test)]
mod tests;
