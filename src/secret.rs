//! Secrets and their redaction: the API key, credential headers, URL userinfo.
//!
//! The key is registered once; every line written to stderr passes through
//! [`redact`], so it never appears, whatever a server echoes back.

use std::fmt;
use std::sync::OnceLock;

/// The API key. Never printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Secret {
        Secret(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

static SECRET: OnceLock<String> = OnceLock::new();

/// Registers the API key so that [`redact`] hides it everywhere.
pub fn register(secret: &Secret) {
    if secret.0.len() >= 4 {
        let _ = SECRET.set(secret.0.clone());
    }
}

/// The text with the API key, if registered, replaced.
pub fn redact(text: &str) -> String {
    match SECRET.get() {
        Some(s) if text.contains(s.as_str()) => text.replace(s.as_str(), "[redacted]"),
        _ => text.to_string(),
    }
}

/// Masks the key in text written in pieces (the answer, reasoning): a key
/// split across two pieces never shows whole. Only a tail of a piece that
/// could begin the key, and is at least [`HOLD_FROM`] bytes long, is held
/// back until the next piece tells; a shorter one is written at once (so a
/// word ending in the key's first letter is not delayed), and should the
/// key then complete, the rest of it is written masked.
#[derive(Debug, Default)]
pub struct Masker {
    key: Option<&'static str>,
    /// Bytes of the key already written at the end of the output.
    written: usize,
    /// A held tail: the key's first bytes, not written yet.
    held: String,
}

/// The shortest tail held back rather than written.
pub const HOLD_FROM: usize = 4;

impl Masker {
    /// A masker for the registered key (none: text passes as it is).
    pub fn new() -> Masker {
        Masker {
            key: SECRET.get().map(String::as_str),
            ..Masker::default()
        }
    }

    #[cfg(test)]
    fn with_key(key: &'static str) -> Masker {
        Masker {
            key: Some(key),
            ..Masker::default()
        }
    }

    /// Takes the next piece; gives `out` what may be written now.
    pub fn push(&mut self, text: &str, out: &mut dyn FnMut(&str)) {
        let Some(key) = self.key else {
            out(text);
            return;
        };
        if self.written == 0 && self.held.is_empty() {
            self.scan(key, text, out);
            return;
        }
        let mut joined = std::mem::take(&mut self.held);
        joined.push_str(text);
        if let Some(rest) = self.resume(key, &joined, out) {
            let rest = rest.to_string();
            self.scan(key, &rest, out);
        }
    }

    /// The text has ended: what was held is written.
    pub fn finish(&mut self, out: &mut dyn FnMut(&str)) {
        if !self.held.is_empty() {
            out(&self.held);
        }
        self.held.clear();
        self.written = 0;
    }

    /// Goes on with a key begun at the end of the output (`written` bytes
    /// of it written, `text` starting with what was held); returns the text
    /// still to scan, `None` when all of it is held.
    fn resume<'t>(
        &mut self,
        key: &str,
        text: &'t str,
        out: &mut dyn FnMut(&str),
    ) -> Option<&'t str> {
        let begun = self.written;
        self.written = 0;
        // A shorter start of the key may also end the output (a key that
        // begins like itself): try the longest first.
        for start in 0..begun.max(1) {
            let matched = begun - start;
            if matched > 0 && !key.starts_with(&key[start..begun]) {
                continue;
            }
            let want = &key.as_bytes()[matched..];
            let common = common_len(text.as_bytes(), want);
            if common == want.len() {
                out(MASK);
                return Some(&text[common..]);
            }
            if common == text.len() {
                // Still only the key's beginning: hold it.
                self.written = matched;
                self.held = text.to_string();
                return None;
            }
        }
        Some(text)
    }

    /// Writes `text` with every whole key masked, holding back or noting a
    /// tail that begins the key.
    fn scan(&mut self, key: &str, text: &str, out: &mut dyn FnMut(&str)) {
        let mut rest = text;
        while let Some(at) = rest.find(key) {
            if at > 0 {
                out(&rest[..at]);
            }
            out(MASK);
            rest = &rest[at + key.len()..];
        }
        let tail = key_prefix_tail(rest, key);
        if tail >= HOLD_FROM {
            let cut = rest.len() - tail;
            if cut > 0 {
                out(&rest[..cut]);
            }
            self.held = rest[cut..].to_string();
        } else {
            if !rest.is_empty() {
                out(rest);
            }
            self.written = tail;
        }
    }
}

const MASK: &str = "[redacted]";

/// How many bytes two byte strings share at their start.
fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The length of the longest tail of `text` that is a proper beginning of
/// `key` (0 when none).
fn key_prefix_tail(text: &str, key: &str) -> usize {
    let (t, k) = (text.as_bytes(), key.as_bytes());
    let Some(&first) = k.first() else {
        return 0;
    };
    let from = t.len().saturating_sub(k.len() - 1);
    (from..t.len())
        .find(|&i| t[i] == first && k.starts_with(&t[i..]))
        .map_or(0, |i| t.len() - i)
}

/// How a hidden value is shown.
pub const HIDDEN: &str = "***";

/// Headers whose values may hold a credential: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, and any whose name contains `key`,
/// `token`, `secret` or `auth` (any case).
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || ["key", "token", "secret", "auth"]
            .iter()
            .any(|word| name.contains(word))
}

/// A URL for messages: `user:password@` shown as `***@`.
pub fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let host_and_path = &rest[at + 1..];
    match scheme {
        Some(scheme) => format!("{scheme}://{HIDDEN}@{host_and_path}"),
        None => format!("{HIDDEN}@{host_and_path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        register(&Secret::new("sk-or-v1-abcdef"));
        assert_eq!(redact("Bearer sk-or-v1-abcdef!"), "Bearer [redacted]!");
        assert_eq!(redact("nothing"), "nothing");
    }

    /// Feeds `pieces` through a masker, returning the output.
    fn masked(key: &'static str, pieces: &[&str]) -> String {
        let mut m = Masker::with_key(key);
        let mut out = String::new();
        for p in pieces {
            m.push(p, &mut |s| out.push_str(s));
        }
        m.finish(&mut |s| out.push_str(s));
        out
    }

    #[test]
    fn the_key_never_shows_however_it_is_split() {
        let key = "sk-or-v1-0123456789abcdef";
        for text in [
            format!("a {key} b"),
            format!("{key}{key}"),
            format!("ssk-or-{key}s"),
            format!("sk-or-v1-012 {key}"),
            "sk-or-v1 and s and sk".to_string(),
        ] {
            let whole = masked(key, &[&text]);
            assert!(!whole.contains(key), "{text:?} → {whole:?}");
            for a in 0..=text.len() {
                for b in a..=text.len() {
                    let three = masked(key, &[&text[..a], &text[a..b], &text[b..]]);
                    assert!(!three.contains(key), "{text:?} at {a},{b} → {three:?}");
                    // Nothing else changes: a key begun before it could
                    // be told is its first bytes, then the mask.
                    let expected = text.replace(key, "[redacted]");
                    assert_eq!(
                        normal(&three, key),
                        normal(&expected, key),
                        "{text:?} at {a},{b}"
                    );
                }
            }
        }
    }

    /// `[redacted]` with any short beginning of the key before it, as one.
    fn normal(out: &str, key: &str) -> String {
        let mut out = out.to_string();
        for n in (1..HOLD_FROM).rev() {
            out = out.replace(&format!("{}[redacted]", &key[..n]), "[redacted]");
        }
        out
    }

    #[test]
    fn ordinary_text_is_not_held() {
        let key = "sk-or-v1-0123456789abcdef";
        let mut m = Masker::with_key(key);
        let mut out = String::new();
        m.push("it works", &mut |s| out.push_str(s));
        assert_eq!(out, "it works", "a tail shorter than HOLD_FROM is written");
        m.push(" sk-or", &mut |s| out.push_str(s));
        assert_eq!(out, "it works ", "a longer beginning of the key is held");
        m.push("ange", &mut |s| out.push_str(s));
        assert_eq!(out, "it works sk-orange");
    }

    #[test]
    fn no_key_no_change() {
        let mut m = Masker::default();
        let mut out = String::new();
        m.push("sk-anything", &mut |s| out.push_str(s));
        assert_eq!(out, "sk-anything");
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", Secret::new("sk-x")), "Secret([redacted])");
    }

    #[test]
    fn userinfo() {
        assert_eq!(redact_userinfo("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(
            redact_userinfo("https://u:p@h/v1?x=a@b"),
            "https://***@h/v1?x=a@b"
        );
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_userinfo("u:p@h:1"), "***@h:1");
        assert_eq!(redact_userinfo("http://h"), "http://h");
    }

    #[test]
    fn secret_headers() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "X-Api-Key",
            "x-goog-api-key",
            "X-Auth-Token",
            "Client-Secret",
            "X-AUTH",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["Content-Type", "User-Agent", "X-Title", "Set-Cookie2x"] {
            assert!(!is_secret_header(name), "{name}");
        }
    }
}
