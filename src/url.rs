//! URL helpers: the base URL rule, hosts, schemes, `NO_PROXY` matching.

use crate::exit::Failure;

pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// Validates the base URL and drops trailing slashes.
pub fn base_url(given: Option<&str>) -> Result<String, Failure> {
    let url = given.unwrap_or(DEFAULT_BASE_URL).trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(
            Failure::usage(format!("invalid base URL '{url}'")).with_hint(
                "use an http:// or https:// URL, e.g. --base-url https://openrouter.ai/api/v1",
            ),
        ),
    }
}

/// Whether a URL's scheme is `https` (case-insensitive).
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The host part of an http(s) URL, lowercased, without port or userinfo.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    // `openrouter.ai.` is the same host, written as a fully qualified name.
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Whether the URL's host is OpenRouter's, whose own rules then apply.
pub fn is_openrouter(url: &str) -> bool {
    host_of(url) == "openrouter.ai"
}

/// Like curl, a `NO_PROXY` entry matches the host and its subdomains; `*`
/// matches all.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = host_of(entry);
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "a.b"));
        assert!(no_proxy_matches("b.com", "b.com"));
        assert!(no_proxy_matches("b.com", "a.b.com"));
        assert!(no_proxy_matches(" .b.com ", "a.b.com"));
        assert!(no_proxy_matches("*.b.com", "a.b.com"));
        assert!(no_proxy_matches("localhost:8080", "localhost"));
        assert!(!no_proxy_matches("b.com", "ab.com"));
        assert!(!no_proxy_matches("", "a"));
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_of("https://OpenRouter.ai/api/v1"), "openrouter.ai");
        assert_eq!(host_of("http://u:p@h:8080/x"), "h");
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        assert_eq!(host_of("https://openrouter.ai./api/v1"), "openrouter.ai");
        assert!(is_openrouter("https://openrouter.ai./api/v1"));
        assert!(!is_openrouter("http://localhost:8080/v1"));
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_url(None).unwrap(), DEFAULT_BASE_URL);
        assert_eq!(base_url(Some("http://h:1/v1/")).unwrap(), "http://h:1/v1");
        assert!(base_url(Some("ftp://x")).is_err());
        assert!(base_url(Some("localhost:8080")).is_err());
        assert!(base_url(Some("http:///x")).is_err());
    }
}
