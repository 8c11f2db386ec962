//! Failure kinds, their exit codes (SPEC §5), HTTP status → kind, and the
//! short lowercase reasons of I/O errors.

use std::fmt;
use std::io;

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bug or a local I/O error (exit 1).
    Internal,
    /// Bad arguments, stdin, `--request` file or missing key (exit 2).
    Usage,
    /// 401, 402, 403: bad key, no credits, moderation (exit 3).
    Account,
    /// 429 after retries (exit 4).
    RateLimited,
    /// Any other 4xx, and 3xx redirects that are not followed (exit 5).
    Rejected,
    /// 5xx after retries, a mid-stream error event, a broken stream (exit 6).
    Server,
    /// Connect, DNS, TLS, timeouts (408 too), a stream cut short (exit 7).
    Network,
    /// The answer completed but is not in the shape asked for: not JSON for
    /// `--schema`, no fenced code block for `-x` (exit 8).
    Shape,
    /// `--each` stopped starting items because `--max-cost` was reached (exit 9).
    Budget,
    /// SIGINT, SIGTERM or SIGHUP (exit 130).
    Interrupted,
    /// The reader closed stdout (exit 141, silently).
    BrokenPipe,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::Account => 3,
            Kind::RateLimited => 4,
            Kind::Rejected => 5,
            Kind::Server => 6,
            Kind::Network => 7,
            Kind::Shape => 8,
            Kind::Budget => 9,
            Kind::Interrupted => 130,
            Kind::BrokenPipe => 141,
        }
    }

    /// The kind behind an exit status (an item's, reported by `--each`).
    pub fn from_code(code: u8) -> Kind {
        match code {
            2 => Kind::Usage,
            3 => Kind::Account,
            4 => Kind::RateLimited,
            5 => Kind::Rejected,
            6 => Kind::Server,
            7 => Kind::Network,
            8 => Kind::Shape,
            9 => Kind::Budget,
            130 => Kind::Interrupted,
            141 => Kind::BrokenPipe,
            _ => Kind::Internal,
        }
    }

    /// The kind of a non-2xx HTTP status.
    pub fn from_status(status: u16) -> Kind {
        match status {
            401..=403 => Kind::Account,
            408 => Kind::Network,
            429 => Kind::RateLimited,
            300..=499 => Kind::Rejected,
            _ => Kind::Server,
        }
    }
}

/// Statuses worth another try (SPEC §5), before any output was written.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A classified failure: the message line, an optional hint line, the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    pub fn interrupted() -> Failure {
        Failure::new(Kind::Interrupted, "interrupted")
    }

    /// An exit status whose message was given already (`--each`: the
    /// summary line stands for it): no `orstream: error:` line.
    pub fn silent(kind: Kind) -> Failure {
        Failure::new(kind, "")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The kind of any error: a [`Failure`] anywhere in the chain decides; a
/// broken pipe anywhere means the reader went away; anything else is ours.
pub fn classify(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.kind;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return Kind::BrokenPipe;
            }
        }
    }
    Kind::Internal
}

/// A short lowercase reason for a file error.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => {
            let text = e.to_string();
            // "Is a directory (os error 21)" → "is a directory"
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => text.to_string(),
            }
        }
    }
}

/// The hint line of an error, if its [`Failure`] carries one.
pub fn hint(err: &anyhow::Error) -> Option<&str> {
    err.chain()
        .find_map(|c| c.downcast_ref::<Failure>())
        .and_then(|f| f.hint.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let table = [
            (301, 5),
            (302, 5),
            (307, 5),
            (400, 5),
            (401, 3),
            (402, 3),
            (403, 3),
            (404, 5),
            (408, 7),
            (413, 5),
            (422, 5),
            (429, 4),
            (500, 6),
            (502, 6),
            (503, 6),
            (504, 6),
            (524, 6),
            (529, 6),
        ];
        for (status, code) in table {
            assert_eq!(Kind::from_status(status).code(), code, "status {status}");
        }
    }

    #[test]
    fn retryable_statuses() {
        let yes = [408, 429, 500, 502, 503, 504];
        for s in 300..600 {
            assert_eq!(status_is_retryable(s), yes.contains(&s), "status {s}");
        }
    }

    #[test]
    fn every_kind_has_its_spec_code() {
        let table = [
            (Kind::Internal, 1),
            (Kind::Usage, 2),
            (Kind::Account, 3),
            (Kind::RateLimited, 4),
            (Kind::Rejected, 5),
            (Kind::Server, 6),
            (Kind::Network, 7),
            (Kind::Shape, 8),
            (Kind::Budget, 9),
            (Kind::Interrupted, 130),
            (Kind::BrokenPipe, 141),
        ];
        for (kind, code) in table {
            assert_eq!(kind.code(), code);
            assert_eq!(Kind::from_code(code), kind);
        }
    }

    #[test]
    fn classify_walks_the_chain() {
        let e = anyhow::Error::new(Failure::new(Kind::Account, "no")).context("while asking");
        assert_eq!(classify(&e), Kind::Account);
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
        let e = anyhow::Error::new(pipe).context("writing stdout");
        assert_eq!(classify(&e), Kind::BrokenPipe);
        assert_eq!(classify(&anyhow::anyhow!("boom")), Kind::Internal);
        let e = anyhow::Error::new(Failure::usage("bad").with_hint("see --help"));
        assert_eq!(hint(&e), Some("see --help"));
    }

    #[test]
    fn io_reasons_are_short_and_lowercase() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(io_reason(&e), "no such file");
        let e = io::Error::from_raw_os_error(libc::ENOTDIR);
        assert_eq!(io_reason(&e), "not a directory");
    }
}
