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

/// Headers whose values may hold a credential.
pub fn is_secret_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization")
}

/// A URL for messages: `user:password@` hidden.
pub fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split('/').next().and_then(|a| a.rsplit_once('@')) {
            Some((_, host)) => format!("{scheme}://[redacted]@{host}"),
            None => url.to_string(),
        },
        None => url
            .rsplit_once('@')
            .map_or(url.to_string(), |(_, h)| format!("[redacted]@{h}")),
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

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", Secret::new("sk-x")), "Secret([redacted])");
    }

    #[test]
    fn userinfo() {
        assert_eq!(redact_userinfo("http://u:p@h:1"), "http://[redacted]@h:1");
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
    }
}
