//! An image of the answer (SPEC §11): a data URL decoded, its kind told by
//! its magic bytes (never by the type it declares), its file name (pure).

use crate::attach::{sniff, FileKind};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What an image part's URL is.
#[derive(Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// `data:…;base64,…`: the bytes.
    Data(Vec<u8>),
    /// An `http(s)` link: named, never fetched.
    Link(&'a str),
}

/// Why an image cannot be kept.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// A data URL whose data does not decode.
    Undecodable,
    /// Neither a data URL nor an http(s) link.
    Unknown,
}

/// Reads an image part's URL.
pub fn source(url: &str) -> Result<Source<'_>, Bad> {
    let lower = |n: usize| url.get(..n).map(str::to_ascii_lowercase);
    if lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://") {
        return Ok(Source::Link(url));
    }
    if lower(5).as_deref() != Some("data:") {
        return Err(Bad::Unknown);
    }
    let (header, data) = url[5..].split_once(',').ok_or(Bad::Undecodable)?;
    let is_base64 = header
        .rsplit(';')
        .next()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("base64"));
    if !is_base64 {
        return Err(Bad::Undecodable);
    }
    // Some servers wrap base64 text in lines: the alphabet has no blanks.
    let data = data.trim();
    let bytes = if data.bytes().any(|b| b.is_ascii_whitespace()) {
        let joined: String = data.split_ascii_whitespace().collect();
        STANDARD.decode(joined)
    } else {
        STANDARD.decode(data)
    };
    bytes.map(Source::Data).map_err(|_| Bad::Undecodable)
}

/// An image's kind by its magic bytes: `(extension, type)`.
pub fn kind(bytes: &[u8]) -> (&'static str, &'static str) {
    match sniff(bytes) {
        Some(FileKind::Png) => ("png", "image/png"),
        Some(FileKind::Jpeg) => ("jpg", "image/jpeg"),
        Some(FileKind::Gif) => ("gif", "image/gif"),
        Some(FileKind::Webp) => ("webp", "image/webp"),
        _ => ("bin", "application/octet-stream"),
    }
}

/// The file name of the `n`th image with this extension: `image-N.EXT`.
pub fn file_name(n: u64, ext: &str) -> String {
    format!("image-{n}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR";

    fn data_url(mime: &str, bytes: &[u8]) -> String {
        format!("data:{mime};base64,{}", STANDARD.encode(bytes))
    }

    #[test]
    fn data_urls_decode_whatever_they_declare() {
        let url = data_url("image/jpeg", PNG);
        assert_eq!(source(&url), Ok(Source::Data(PNG.to_vec())));
        let Ok(Source::Data(bytes)) = source(&url) else {
            panic!()
        };
        assert_eq!(kind(&bytes), ("png", "image/png"), "magic bytes win");
        let webp = b"RIFF\0\0\0\0WEBPVP8 ";
        assert_eq!(kind(webp), ("webp", "image/webp"));
        assert_eq!(kind(b"\xFF\xD8\xFF\xE0"), ("jpg", "image/jpeg"));
        assert_eq!(kind(b"GIF89a"), ("gif", "image/gif"));
        assert_eq!(kind(b"%PDF-1.4"), ("bin", "application/octet-stream"));
        assert_eq!(kind(b""), ("bin", "application/octet-stream"));
    }

    #[test]
    fn links_and_bad_urls() {
        assert_eq!(
            source("HTTPS://x/a.png"),
            Ok(Source::Link("HTTPS://x/a.png"))
        );
        assert_eq!(source("http://x"), Ok(Source::Link("http://x")));
        assert_eq!(source("data:image/png;base64,!!!"), Err(Bad::Undecodable));
        assert_eq!(source("data:image/png,rawtext"), Err(Bad::Undecodable));
        assert_eq!(source("data:image/png;base64"), Err(Bad::Undecodable));
        assert_eq!(source("ftp://x/a.png"), Err(Bad::Unknown));
        assert_eq!(source(""), Err(Bad::Unknown));
        let wrapped = format!("data:image/png;base64,{}", "iVBORw0K\nGgo=");
        assert!(matches!(source(&wrapped), Ok(Source::Data(_))));
    }

    #[test]
    fn names() {
        assert_eq!(file_name(1, "png"), "image-1.png");
        assert_eq!(file_name(12, "bin"), "image-12.bin");
    }
}
