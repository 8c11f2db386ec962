//! Attachments (SPEC §8): an argument → its kind by magic bytes → a content part (pure).
//!
//! Nothing here reads a file or holds base64 data: a binary part is built
//! around a placeholder from `body`, which the request body swaps for the
//! file's base64 text while it is sent.

use crate::exit::Failure;
use serde_json::{json, Value};
use std::io;
use std::path::Path;

/// How many leading bytes [`sniff`] needs to tell every binary kind apart.
pub const SNIFF_LEN: usize = 12;

/// What an attachment is, told by its first bytes (the SPEC §8 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Wav,
    Mp3,
    Aac,
    Flac,
    Ogg,
    Aiff,
    M4a,
    QuickTime,
    Mp4,
    Webm,
}

impl FileKind {
    /// The kind's name as the SPEC table writes it, for `-v`.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Png => "PNG",
            FileKind::Jpeg => "JPEG",
            FileKind::Gif => "GIF",
            FileKind::Webp => "WebP",
            FileKind::Pdf => "PDF",
            FileKind::Wav => "WAV",
            FileKind::Mp3 => "MP3",
            FileKind::Aac => "AAC (ADTS)",
            FileKind::Flac => "FLAC",
            FileKind::Ogg => "OGG",
            FileKind::Aiff => "AIFF",
            FileKind::M4a => "M4A",
            FileKind::QuickTime => "QuickTime",
            FileKind::Mp4 => "MP4",
            FileKind::Webm => "WebM",
        }
    }

    /// The content part for a binary attachment, `None` for text (inlined
    /// instead). `placeholder` stands where the base64 data goes; `filename`
    /// is only used by PDF (see [`base_name`]).
    pub fn data_part(self, filename: &str, placeholder: &str) -> Value {
        let image = |mime: &str| json!({"type": "image_url", "image_url": {"url": data_url(mime, placeholder)}});
        let audio = |format: &str| json!({"type": "input_audio", "input_audio": {"data": placeholder, "format": format}});
        let video = |mime: &str| json!({"type": "video_url", "video_url": {"url": data_url(mime, placeholder)}});
        match self {
            FileKind::Png => image("image/png"),
            FileKind::Jpeg => image("image/jpeg"),
            FileKind::Gif => image("image/gif"),
            FileKind::Webp => image("image/webp"),
            FileKind::Pdf => json!({"type": "file", "file": {
                "filename": filename,
                "file_data": data_url("application/pdf", placeholder),
            }}),
            FileKind::Wav => audio("wav"),
            FileKind::Mp3 => audio("mp3"),
            FileKind::Aac => audio("aac"),
            FileKind::Flac => audio("flac"),
            FileKind::Ogg => audio("ogg"),
            FileKind::Aiff => audio("aiff"),
            FileKind::M4a => audio("m4a"),
            FileKind::QuickTime => video("video/quicktime"),
            FileKind::Mp4 => video("video/mp4"),
            FileKind::Webm => video("video/webm"),
        }
    }
}

fn data_url(mime: &str, placeholder: &str) -> String {
    format!("data:{mime};base64,{placeholder}")
}

/// The binary kind of a file from its first bytes ([`SNIFF_LEN`] are
/// enough), `None` when no binary row of the table matches. The rows are
/// tried in the table's order: the first that matches wins.
pub fn sniff(head: &[u8]) -> Option<FileKind> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let second = head.get(1).copied();
    let after_ff = |mask: u8, want: u8| at(0, b"\xFF") && second.is_some_and(|b| b & mask == want);
    let kind = if at(0, b"\x89PNG\r\n\x1A\n") {
        FileKind::Png
    } else if at(0, b"\xFF\xD8\xFF") {
        FileKind::Jpeg
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        FileKind::Gif
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        FileKind::Webp
    } else if at(0, b"%PDF-") {
        FileKind::Pdf
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        FileKind::Wav
    } else if at(0, b"ID3") || after_ff(0xE6, 0xE2) {
        FileKind::Mp3
    } else if after_ff(0xF6, 0xF0) {
        FileKind::Aac
    } else if at(0, b"fLaC") {
        FileKind::Flac
    } else if at(0, b"OggS") {
        FileKind::Ogg
    } else if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        FileKind::Aiff
    } else if at(4, b"ftyp") && head.len() >= 12 {
        match &head[8..12] {
            b"M4A " | b"M4B " => FileKind::M4a,
            b"qt  " => FileKind::QuickTime,
            _ => FileKind::Mp4,
        }
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        FileKind::Webm
    } else {
        return None;
    };
    Some(kind)
}

/// A text attachment's text: valid UTF-8 without a NUL byte (an empty file
/// too); `None` for anything else.
pub fn text_of(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes)
        .ok()
        .filter(|t| !t.as_bytes().contains(&0))
}

/// Whether a file that starts with `prefix` may still turn out to be text:
/// no NUL so far and valid UTF-8 up to a sequence cut at the end. Lets the
/// caller give up on a large binary file without reading all of it.
pub fn could_be_text(prefix: &[u8]) -> bool {
    !prefix.contains(&0)
        && match std::str::from_utf8(prefix) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
}

/// Whether the argument is sent by URL rather than read (SPEC §8).
pub fn is_url(arg: &str) -> bool {
    let starts = |scheme: &[u8]| {
        arg.as_bytes()
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    starts(b"http://") || starts(b"https://")
}

/// What a URL attachment is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Image,
    Pdf,
    Video,
}

impl UrlKind {
    /// The kind's name for `-v`.
    pub fn name(self) -> &'static str {
        match self {
            UrlKind::Image => "image URL",
            UrlKind::Pdf => "PDF URL",
            UrlKind::Video => "video URL",
        }
    }
}

/// The kind and content part of an `http(s)://` argument, told by the
/// extension of its path; any other URL is a usage error naming it.
pub fn url_part(arg: &str) -> Result<(UrlKind, Value), Failure> {
    let url = split_url(arg).ok_or_else(|| Failure::usage(format!("-a {arg}: not a URL")))?;
    if url.host.is_empty() {
        return Err(Failure::usage(format!("-a {arg}: the URL has no host")));
    }
    let segment = url.path.rsplit('/').next().unwrap_or("");
    let extension = segment
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    // The extension decides first: an image on a YouTube host stays an image.
    let kind = match extension.as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" => UrlKind::Image,
        "pdf" => UrlKind::Pdf,
        "mp4" | "webm" | "mov" => UrlKind::Video,
        _ if is_youtube(&url.host) => UrlKind::Video,
        e if AUDIO_EXTENSIONS.contains(&e) => {
            return Err(
                Failure::usage(format!("-a {arg}: OpenRouter does not fetch audio by URL"))
                    .with_hint("download it and attach the local copy"),
            )
        }
        _ => {
            return Err(Failure::usage(format!(
                "-a {arg}: OpenRouter does not fetch this kind of file by URL"
            ))
            .with_hint(
                "URLs ending in .png .jpg .jpeg .gif .webp .pdf .mp4 .webm .mov, and YouTube \
                 links, are sent as they are; download anything else and attach the local copy",
            ))
        }
    };
    let part = match kind {
        UrlKind::Image => json!({"type": "image_url", "image_url": {"url": arg}}),
        UrlKind::Pdf => json!({"type": "file", "file": {"filename": segment, "file_data": arg}}),
        UrlKind::Video => json!({"type": "video_url", "video_url": {"url": arg}}),
    };
    Ok((kind, part))
}

/// Extensions named in the audio error, so its message can say why.
const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "wav", "aac", "flac", "ogg", "oga", "opus", "aif", "aiff", "aifc", "m4a", "m4b", "weba",
];

struct UrlParts<'a> {
    /// Lowercase, without userinfo, port or a trailing dot.
    host: String,
    /// From the first `/` after the authority to the query or fragment.
    path: &'a str,
}

fn split_url(arg: &str) -> Option<UrlParts<'_>> {
    let (_, rest) = arg.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    // `user:pass@host:port`: the host is after the last `@`.
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        // An IPv6 literal holds colons of its own.
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    Some(UrlParts { host, path })
}

fn is_youtube(host: &str) -> bool {
    host == "youtube.com" || host.ends_with(".youtube.com") || host == "youtu.be"
}

/// The block a text attachment is inlined as: `<file name="NAME">`, the
/// text, `</file>`, each on its own line.
pub fn file_block(name: &str, text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut block = String::with_capacity(name.len() + text.len() + 24);
    block.push_str("<file name=\"");
    for c in name.chars() {
        match c {
            '&' => block.push_str("&amp;"),
            '<' => block.push_str("&lt;"),
            '>' => block.push_str("&gt;"),
            '"' => block.push_str("&quot;"),
            c => block.push(c),
        }
    }
    block.push_str("\">\n");
    block.push_str(text);
    if !text.ends_with('\n') {
        block.push('\n');
    }
    block.push_str("</file>");
    block
}

/// The name a text block carries: the argument as given, `stdin` for `-`.
pub fn block_name(arg: &str) -> &str {
    if arg == "-" {
        "stdin"
    } else {
        arg
    }
}

/// The `filename` of a PDF part: the path's last component, `stdin` for `-`.
pub fn base_name(arg: &str) -> String {
    if arg == "-" {
        return "stdin".to_string();
    }
    Path::new(arg)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(arg)
        .to_string()
}

/// The user message's `content` (SPEC §8): a string when there are no
/// binary or URL parts, else an array with the text part first.
///
/// `text_blocks` are the [`file_block`]s in command-line order, `prompt` the
/// SPEC §1 text, `parts` the binary and URL parts in command-line order.
/// With any attachment a whitespace-only prompt counts as empty. `None`
/// when there is nothing to send: no attachment and no (or an empty) prompt.
pub fn user_content(
    text_blocks: &[String],
    prompt: Option<&str>,
    parts: Vec<Value>,
) -> Option<Value> {
    let prompt = prompt.filter(|p| !p.trim().is_empty());
    let text = text_blocks
        .iter()
        .map(String::as_str)
        .chain(prompt)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if parts.is_empty() {
        return (!text.is_empty()).then_some(Value::String(text));
    }
    let text_part = (!text.is_empty()).then(|| json!({"type": "text", "text": text}));
    Some(Value::Array(text_part.into_iter().chain(parts).collect()))
}

/// An attachment file that cannot be used: exit 2, naming the argument.
pub fn io_failure(arg: &str, e: &io::Error) -> Failure {
    Failure::usage(format!("-a {arg}: {}", crate::exit::io_reason(e)))
}

/// A file whose first bytes match no row of the table and that is not text.
pub fn unsupported(arg: &str) -> Failure {
    Failure::usage(format!("-a {arg}: unsupported file type")).with_hint(
        "attachments are images (PNG, JPEG, GIF, WebP), PDF, audio (WAV, MP3, AAC, FLAC, OGG, \
         AIFF, M4A), video (MP4, QuickTime, WebM) or UTF-8 text",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Kind as ExitKind;

    /// `prefix` padded with zeros to 16 bytes, as a file's head would be.
    fn head(prefix: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.resize(v.len().max(16), 0);
        v
    }

    fn box4(tag: &[u8; 4], brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x20];
        v.extend_from_slice(tag);
        v.extend_from_slice(brand);
        v
    }

    #[test]
    fn every_magic_number() {
        let table: &[(&[u8], FileKind)] = &[
            (b"\x89PNG\r\n\x1A\n", FileKind::Png),
            (b"\xFF\xD8\xFF\xE0", FileKind::Jpeg),
            (b"GIF87a", FileKind::Gif),
            (b"GIF89a", FileKind::Gif),
            (b"RIFF\x10\0\0\0WEBPVP8 ", FileKind::Webp),
            (b"%PDF-1.7", FileKind::Pdf),
            (b"RIFF\x10\0\0\0WAVEfmt ", FileKind::Wav),
            (b"ID3\x04", FileKind::Mp3),
            (b"\xFF\xFB\x90", FileKind::Mp3),
            (b"\xFF\xF3", FileKind::Mp3),
            (b"\xFF\xE2", FileKind::Mp3),
            (b"\xFF\xF1\x50", FileKind::Aac),
            (b"\xFF\xF9", FileKind::Aac),
            (b"fLaC", FileKind::Flac),
            (b"OggS", FileKind::Ogg),
            (b"FORM\0\0\0\x10AIFF", FileKind::Aiff),
            (b"FORM\0\0\0\x10AIFC", FileKind::Aiff),
            (b"\x1A\x45\xDF\xA3", FileKind::Webm),
        ];
        for (prefix, kind) in table {
            assert_eq!(sniff(&head(prefix)), Some(*kind), "{prefix:?}");
        }
    }

    #[test]
    fn ftyp_brands() {
        let table: &[(&[u8; 4], FileKind)] = &[
            (b"M4A ", FileKind::M4a),
            (b"M4B ", FileKind::M4a),
            (b"qt  ", FileKind::QuickTime),
            (b"isom", FileKind::Mp4),
            (b"mp42", FileKind::Mp4),
            (b"M4V ", FileKind::Mp4),
        ];
        for (brand, kind) in table {
            assert_eq!(sniff(&box4(b"ftyp", brand)), Some(*kind), "{brand:?}");
        }
        // Without the major brand the row cannot match.
        assert_eq!(sniff(&box4(b"ftyp", b"isom")[..11]), None);
        assert_eq!(sniff(&box4(b"moov", b"isom")), None);
    }

    #[test]
    fn near_misses() {
        assert_eq!(sniff(&head(b"RIFF\x10\0\0\0AVI LIST")), None);
        assert_eq!(sniff(&head(b"FORM\0\0\0\x108SVX")), None);
        assert_eq!(sniff(&head(b"GIF88a")), None);
        assert_eq!(sniff(&head(b"\x89PNG\r\n\x1A")), None);
        // FF then bytes that fit neither the MP3 nor the ADTS mask.
        for b in [0x00u8, 0x12, 0x7F, 0xE0, 0xE4, 0xF4, 0xFC, 0xFE, 0xFF] {
            assert_eq!(sniff(&head(&[0xFF, b])), None, "FF {b:02X}");
        }
        assert_eq!(sniff(b"\xFF"), None);
    }

    #[test]
    fn short_files() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEB"), None);
        assert_eq!(sniff(b"FORM\0\0\0\0AIF"), None);
        assert_eq!(sniff(b"\0\0\0\x20ftypqt "), None);
        // The short rows need no more bytes than their magic.
        assert_eq!(sniff(b"\xFF\xD8\xFF"), Some(FileKind::Jpeg));
        assert_eq!(sniff(b"ID3"), Some(FileKind::Mp3));
        assert_eq!(sniff(b"\xFF\xF1"), Some(FileKind::Aac));
        assert_eq!(sniff(b"%PDF-"), Some(FileKind::Pdf));
    }

    #[test]
    fn first_row_wins() {
        // Text that starts like a PDF is a PDF.
        let text = b"%PDF- is how a PDF starts\n";
        assert!(text_of(text.to_vec()).is_some());
        assert_eq!(sniff(text), Some(FileKind::Pdf));
    }

    #[test]
    fn text_or_not() {
        assert!(text_of(b"".to_vec()).is_some());
        assert_eq!(text_of("héllo\n".into()).as_deref(), Some("héllo\n"));
        assert!(text_of(b"hello\0world".to_vec()).is_none());
        assert!(text_of(b"caf\xE9".to_vec()).is_none());
        assert!(text_of(b"\xC3".to_vec()).is_none());
        assert_eq!(sniff(b"plain text here"), None);
    }

    #[test]
    fn text_prefix_may_end_inside_a_character() {
        let e_acute = "é".as_bytes();
        assert!(could_be_text(&[b'a', e_acute[0]]));
        assert!(!could_be_text(b"caf\xE9!"));
        assert!(!could_be_text(b"a\0"));
        assert!(could_be_text(b""));
    }

    #[test]
    fn kind_names() {
        assert_eq!(FileKind::Png.name(), "PNG");
        assert_eq!(FileKind::Webp.name(), "WebP");
        assert_eq!(FileKind::QuickTime.name(), "QuickTime");
    }

    #[test]
    fn data_parts_in_table_order() {
        let p = "PH";
        let s = |k: FileKind| serde_json::to_string(&k.data_part("a.pdf", p)).unwrap();
        assert_eq!(
            s(FileKind::Png),
            r#"{"type":"image_url","image_url":{"url":"data:image/png;base64,PH"}}"#
        );
        assert_eq!(
            s(FileKind::Pdf),
            r#"{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,PH"}}"#
        );
        assert_eq!(
            s(FileKind::Aiff),
            r#"{"type":"input_audio","input_audio":{"data":"PH","format":"aiff"}}"#
        );
        assert_eq!(
            s(FileKind::QuickTime),
            r#"{"type":"video_url","video_url":{"url":"data:video/quicktime;base64,PH"}}"#
        );
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("docs/report.pdf"), "report.pdf");
        assert_eq!(base_name("report.pdf"), "report.pdf");
        assert_eq!(base_name("-"), "stdin");
        assert_eq!(block_name("-"), "stdin");
        assert_eq!(block_name("./a.txt"), "./a.txt");
    }

    fn url(arg: &str) -> (UrlKind, String) {
        let (kind, part) = url_part(arg).unwrap();
        (kind, serde_json::to_string(&part).unwrap())
    }

    #[test]
    fn url_scheme_case_insensitive() {
        assert!(is_url("HTTPS://x.org/a.png"));
        assert!(is_url("http://x"));
        assert!(!is_url("ftp://x.org/a.png"));
        assert!(!is_url("httpé"));
        assert!(!is_url("./http://a.png"));
    }

    #[test]
    fn image_url_as_given() {
        let arg = "https://example.com/a/Photo.JPG?size=large&x=1#top";
        let (kind, json) = url(arg);
        assert_eq!(kind, UrlKind::Image);
        assert_eq!(
            json,
            format!(r#"{{"type":"image_url","image_url":{{"url":"{arg}"}}}}"#)
        );
        assert_eq!(url("http://e.org/x.webp#frag.pdf").0, UrlKind::Image);
        assert_eq!(url("http://e.org/x.GIF").0, UrlKind::Image);
    }

    #[test]
    fn pdf_url_keeps_the_segment_encoded() {
        let (kind, json) = url("https://e.org/papers/My%20Paper.PDF?dl=1");
        assert_eq!(kind, UrlKind::Pdf);
        assert_eq!(
            json,
            r#"{"type":"file","file":{"filename":"My%20Paper.PDF","file_data":"https://e.org/papers/My%20Paper.PDF?dl=1"}}"#
        );
    }

    #[test]
    fn video_urls() {
        for arg in [
            "https://e.org/clip.mp4",
            "https://e.org/clip.WebM",
            "https://e.org/clip.mov?t=3",
            "https://www.youtube.com/watch?v=abc",
            "https://YouTube.com/watch?v=abc",
            "https://m.youtube.com/shorts/abc",
            "https://youtu.be/abc",
            "https://youtube.com:443/watch?v=abc",
            "https://user:pw@www.youtube.com/watch?v=abc",
            "https://www.youtube.com./watch?v=abc",
        ] {
            let (kind, json) = url(arg);
            assert_eq!(kind, UrlKind::Video, "{arg}");
            assert_eq!(
                json,
                format!(r#"{{"type":"video_url","video_url":{{"url":"{arg}"}}}}"#)
            );
        }
    }

    #[test]
    fn lookalike_hosts_are_not_youtube() {
        for arg in [
            "https://notyoutube.com/watch?v=abc",
            "https://youtube.com.evil.org/watch?v=abc",
            "https://www.youtube.com@evil.org/watch?v=abc",
            "https://e.org/youtube.com/watch",
            "https://e.org/?u=https://youtu.be/abc",
            "https://wwwyoutu.be/abc",
        ] {
            assert!(url_part(arg).is_err(), "{arg}");
        }
    }

    #[test]
    fn url_with_a_port() {
        assert_eq!(url("http://localhost:8080/a.png").0, UrlKind::Image);
        assert_eq!(url("http://[::1]:8080/a.pdf").0, UrlKind::Pdf);
    }

    #[test]
    fn unknown_url_kinds_are_usage_errors() {
        let e = url_part("https://e.org/song.MP3?x=1").unwrap_err();
        assert_eq!(e.kind, ExitKind::Usage);
        assert_eq!(
            e.message,
            "-a https://e.org/song.MP3?x=1: OpenRouter does not fetch audio by URL"
        );
        assert!(e.hint.unwrap().contains("local copy"));
        for arg in [
            "https://e.org/page.html",
            "https://e.org/",
            "https://e.org",
            "https://e.org/png",
            "https://e.org/a.png/",
            "https://e.org/dir.png/x",
        ] {
            let e = url_part(arg).unwrap_err();
            assert_eq!(e.kind, ExitKind::Usage, "{arg}");
            assert_eq!(
                e.message,
                format!("-a {arg}: OpenRouter does not fetch this kind of file by URL")
            );
        }
        let e = url_part("https:///a.png").unwrap_err();
        assert_eq!(e.message, "-a https:///a.png: the URL has no host");
    }

    #[test]
    fn file_blocks() {
        assert_eq!(
            file_block("a.txt", "hi"),
            "<file name=\"a.txt\">\nhi\n</file>"
        );
        assert_eq!(
            file_block("a.txt", "hi\n"),
            "<file name=\"a.txt\">\nhi\n</file>"
        );
        assert_eq!(
            file_block("a.txt", "hi\n\n"),
            "<file name=\"a.txt\">\nhi\n\n</file>"
        );
        assert_eq!(file_block("e", ""), "<file name=\"e\">\n\n</file>");
        assert_eq!(
            file_block("b", "\u{feff}x\n"),
            "<file name=\"b\">\nx\n</file>"
        );
        // Only a leading BOM goes.
        assert_eq!(
            file_block("b", "x\u{feff}"),
            "<file name=\"b\">\nx\u{feff}\n</file>"
        );
        assert_eq!(
            file_block(r#"a&b<c>"d".txt"#, "t"),
            "<file name=\"a&amp;b&lt;c&gt;&quot;d&quot;.txt\">\nt\n</file>"
        );
    }

    fn blocks(b: &[&str]) -> Vec<String> {
        b.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn text_only_content_is_a_string() {
        let b = blocks(&[
            "<file name=\"a\">\nA\n</file>",
            "<file name=\"b\">\nB\n</file>",
        ]);
        assert_eq!(
            user_content(&b, Some("why?"), vec![]),
            Some(Value::String(
                "<file name=\"a\">\nA\n</file>\n\n<file name=\"b\">\nB\n</file>\n\nwhy?".into()
            ))
        );
        assert_eq!(
            user_content(&b[..1], Some(" \n\t"), vec![]),
            Some(Value::String("<file name=\"a\">\nA\n</file>".into()))
        );
        assert_eq!(
            user_content(&[], Some("just words"), vec![]),
            Some(Value::String("just words".into()))
        );
        assert_eq!(user_content(&[], None, vec![]), None);
        assert_eq!(user_content(&[], Some("  "), vec![]), None);
    }

    #[test]
    fn binary_content_is_an_array_text_first() {
        let img = json!({"type": "image_url", "image_url": {"url": "https://e.org/a.png"}});
        let pdf = json!({"type": "file", "file": {"filename": "a.pdf", "file_data": "x"}});
        let b = blocks(&["<file name=\"a\">\nA\n</file>"]);
        assert_eq!(
            user_content(&b, Some("describe"), vec![img.clone(), pdf.clone()]),
            Some(json!([
                {"type": "text", "text": "<file name=\"a\">\nA\n</file>\n\ndescribe"},
                img,
                pdf,
            ]))
        );
        // No text at all: the parts alone.
        assert_eq!(
            user_content(&[], Some("   "), vec![img.clone()]),
            Some(json!([img]))
        );
        assert_eq!(
            user_content(&[], None, vec![img.clone()]),
            Some(json!([img]))
        );
        assert_eq!(
            user_content(&[], Some("what is it?"), vec![img.clone()]),
            Some(json!([{"type": "text", "text": "what is it?"}, img]))
        );
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let e = io_failure("x/y.png", &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ExitKind::Usage, "-a x/y.png: no such file")
        );
        let e = io_failure("dir", &io::Error::from(io::ErrorKind::IsADirectory));
        assert_eq!(e.message, "-a dir: is a directory");
        let e = unsupported("a.bin");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ExitKind::Usage, "-a a.bin: unsupported file type")
        );
    }
}
