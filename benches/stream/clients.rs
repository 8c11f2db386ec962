//! The clients compared (orstream in its variants, curl, the `true` spawn
//! floor): their command lines, what each should print, and the anomaly
//! check on how a run ended.

use std::process::Command;

use crate::body::Body;
use crate::child::{self, hermetic, which, Reaped, Running, Status};
use crate::server::{fixture, Server};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Tool {
    Orstream,
    OrstreamJson,
    Curl,
    /// `true`: the cost of spawning and reaping a process at all.
    Floor,
    /// orstream over plain http with `SSL_CERT_FILE` = the system bundle.
    OrstreamCertEnv,
    /// orstream over https, `SSL_CERT_FILE` = the test CA.
    OrstreamTls,
    /// orstream over https, `SSL_CERT_FILE` = system bundle + test CA.
    OrstreamTlsBundle,
    /// curl over https, `--cacert` the test CA.
    CurlTls,
}

/// The system CA bundle many systems point `SSL_CERT_FILE` at.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// [`SYSTEM_BUNDLE`] followed by the test CA, written once to the target dir.
pub fn big_bundle() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let mut pem = std::fs::read(SYSTEM_BUNDLE)
            .unwrap_or_else(|e| panic!("{SYSTEM_BUNDLE}: {e} (the SSL_CERT_FILE rows need it)"));
        pem.extend_from_slice(&std::fs::read(fixture("ca.pem")).expect("tests/fixtures/ca.pem"));
        let path = format!(
            "{}/bench-bundle-{}.pem",
            env!("CARGO_TARGET_TMPDIR"),
            std::process::id()
        );
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{path}: {e}"));
        path
    })
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Orstream => "orstream",
            Tool::OrstreamJson => "orstream --json",
            Tool::Curl => "curl -sN",
            Tool::Floor => "`true` (spawn floor)",
            Tool::OrstreamCertEnv => "orstream, SSL_CERT_FILE=system bundle (http)",
            Tool::OrstreamTls => "orstream https, SSL_CERT_FILE=ca.pem",
            Tool::OrstreamTlsBundle => "orstream https, SSL_CERT_FILE=system bundle + ca.pem",
            Tool::CurlTls => "curl -sN https --cacert ca.pem",
        }
    }

    fn is_tls(self) -> bool {
        matches!(
            self,
            Tool::OrstreamTls | Tool::OrstreamTlsBundle | Tool::CurlTls
        )
    }

    /// The base URL of `scenario` on `server` for this client.
    pub fn url(self, server: &Server, scenario: &str) -> String {
        if self.is_tls() {
            server.tls_url(scenario)
        } else {
            server.url(scenario)
        }
    }

    /// The client's command for `base`, with `extra` options before the
    /// prompt (orstream) or the URL (curl).
    pub fn command_with(self, base: &str, extra: &[&str]) -> Command {
        let mut c = match self {
            Tool::Orstream
            | Tool::OrstreamJson
            | Tool::OrstreamCertEnv
            | Tool::OrstreamTls
            | Tool::OrstreamTlsBundle => {
                let mut c = child::orstream();
                c.args(["--base-url", base, "--retries", "0"]).args(extra);
                if self == Tool::OrstreamJson {
                    c.arg("--json");
                }
                c.arg("hi");
                c
            }
            Tool::Curl | Tool::CurlTls => {
                let mut c = Command::new(which("curl"));
                c.args(["-sN", "-X", "POST", "-d", "{}"]).args(extra);
                if self == Tool::CurlTls {
                    c.arg("--cacert").arg(fixture("ca.pem"));
                }
                c.arg(format!("{base}/chat/completions"));
                c
            }
            Tool::Floor => Command::new(which("true")),
        };
        hermetic(&mut c);
        match self {
            Tool::OrstreamCertEnv => c.env("SSL_CERT_FILE", SYSTEM_BUNDLE),
            Tool::OrstreamTls => c.env("SSL_CERT_FILE", fixture("ca.pem")),
            Tool::OrstreamTlsBundle => c.env("SSL_CERT_FILE", big_bundle()),
            _ => &mut c,
        };
        c
    }

    /// Spawns this client against `base`.
    pub fn spawn(self, base: &str) -> Running {
        child::spawn(self.name(), self.command_with(base, &[]))
    }

    /// Stdout bytes before the tail of the body.
    pub fn held_len(self, b: &Body) -> usize {
        let (all, tail) = match self {
            Tool::OrstreamJson => b.json_len,
            Tool::Curl | Tool::CurlTls | Tool::Floor => b.sse_len,
            _ => b.text_len,
        };
        all - tail
    }

    pub fn expected_len(self, b: &Body) -> usize {
        match self {
            Tool::OrstreamJson => b.json_len.0,
            Tool::Curl | Tool::CurlTls => b.sse_len.0,
            Tool::Floor => 0,
            _ => b.text_len.0,
        }
    }
}

/// Lists a run that ended otherwise than `want` among the anomalies.
pub fn check(
    anomalies: &mut Vec<String>,
    tool: Tool,
    what: &str,
    r: &Reaped,
    want: Status,
    err: &str,
) {
    if r.status != want {
        anomalies.push(format!(
            "{} ({what}): exit {:?}, expected {want:?}; stderr: {err:?}",
            tool.name(),
            r.status
        ));
    }
}
