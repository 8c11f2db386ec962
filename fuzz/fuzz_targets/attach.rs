//! Attachments on any bytes and any argument (SPEC §8): the kind told by
//! the first bytes agrees with the SPEC table (rewritten here row by row),
//! needs no more than `SNIFF_LEN` bytes, and nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{could_be_text, is_url, sniff, text_of, url_part, UrlKind, SNIFF_LEN};
use serde_json::Value;

/// The SPEC §8 table: the first row that matches names the kind.
fn table(b: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| {
        b.len() >= offset + magic.len() && &b[offset..offset + magic.len()] == magic
    };
    let ff_then = |mask: u8, want: u8| b.len() >= 2 && b[0] == 0xFF && b[1] & mask == want;
    let rows: [(bool, &str); 15] = [
        (
            at(0, &[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            "PNG",
        ),
        (at(0, &[0xFF, 0xD8, 0xFF]), "JPEG"),
        (at(0, b"GIF87a") || at(0, b"GIF89a"), "GIF"),
        (at(0, b"RIFF") && at(8, b"WEBP"), "WebP"),
        (at(0, b"%PDF-"), "PDF"),
        (at(0, b"RIFF") && at(8, b"WAVE"), "WAV"),
        (at(0, b"ID3") || ff_then(0xE6, 0xE2), "MP3"),
        (ff_then(0xF6, 0xF0), "AAC (ADTS)"),
        (at(0, b"fLaC"), "FLAC"),
        (at(0, b"OggS"), "OGG"),
        (at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")), "AIFF"),
        (at(4, b"ftyp") && (at(8, b"M4A ") || at(8, b"M4B ")), "M4A"),
        (at(4, b"ftyp") && at(8, b"qt  "), "QuickTime"),
        (at(4, b"ftyp") && b.len() >= 12, "MP4"),
        (at(0, &[0x1A, 0x45, 0xDF, 0xA3]), "WebM"),
    ];
    rows.iter()
        .find(|(matches, _)| *matches)
        .map(|&(_, name)| name)
}

fuzz_target!(|input: &[u8]| {
    let kind = sniff(input);
    assert_eq!(kind.map(|k| k.name()), table(input), "{input:02x?}");
    let head = &input[..input.len().min(SNIFF_LEN)];
    assert_eq!(sniff(head), kind, "more than SNIFF_LEN bytes needed");

    // Text: valid UTF-8 without a NUL; every prefix of it may still be text.
    let text = text_of(input.to_vec());
    let want = std::str::from_utf8(input)
        .ok()
        .filter(|t| !t.contains('\0'));
    assert_eq!(text.as_deref(), want);
    if text.is_some() {
        for end in 0..=input.len() {
            assert!(could_be_text(&input[..end]), "prefix of {end} bytes");
        }
    }
    if could_be_text(input) {
        assert!(!input.contains(&0));
    }

    // Any argument: a URL part or an error, never a panic.
    let arg = String::from_utf8_lossy(input);
    let _ = is_url(&arg);
    if let Ok((kind, part)) = url_part(&arg) {
        let url = match kind {
            UrlKind::Image => &part["image_url"]["url"],
            UrlKind::Pdf => &part["file"]["file_data"],
            UrlKind::Video => &part["video_url"]["url"],
        };
        assert_eq!(url, &Value::from(arg.as_ref()), "the URL is sent as given");
    }
});
