//! `SSL_CERT_FILE` replaces the built-in TLS roots (SPEC §2): a loopback TLS
//! server with a certificate from a private test CA (tests/fixtures, valid
//! for 100 years) is trusted only when SSL_CERT_FILE names that CA, and a
//! bundle that is missing or holds no certificate is a usage error.

use crate::support::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

/// An https run with `SSL_CERT_FILE=path`, to a port nothing listens on:
/// a bad bundle must be refused before any connection is tried.
fn run_with_cert_file(path: impl AsRef<OsStr>) -> Output {
    orstream()
        .args([
            "--base-url",
            "https://127.0.0.1:1/v1",
            "--retries",
            "0",
            "hi",
        ])
        .env("SSL_CERT_FILE", path)
        .run()
}

/// Serves one TLS connection with a complete SSE answer; returns the base URL.
fn tls_server() -> (String, std::thread::JoinHandle<()>) {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Read the request head and body (the body is small: one read or two).
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\"stream\":true") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return, // the client rejected our certificate
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let body = format!("{}{}{DONE}", chunk("secure"), finish("stop"));
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tls.write_all(reply.as_bytes());
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (format!("https://localhost:{port}/v1"), handle)
}

#[test]
fn ssl_cert_file_is_trusted_and_replaces_the_built_in_roots() {
    let (url, server) = tls_server();
    let out = orstream()
        .args(["--base-url", &url, "--retries", "0", "hi"])
        .env("SSL_CERT_FILE", fixture("ca.pem"))
        .run();
    server.join().unwrap();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "secure\n");

    // Without it, the private CA is unknown to the built-in roots.
    let (url, server) = tls_server();
    let out = orstream()
        .args(["--base-url", &url, "--retries", "0", "hi"])
        .run();
    server.join().unwrap();
    out.assert_code(7);
    assert!(out.stderr_str().contains("TLS"), "{}", out.report());
    assert_eq!(out.stdout_str(), "");
}

#[test]
fn a_bundle_without_certificates_is_a_usage_error() {
    let out = orstream()
        .args(["--base-url", "https://localhost:9/v1", "hi"])
        .env("SSL_CERT_FILE", fixture("server.key"))
        .run();
    out.assert_code(2);
    let err = out.stderr_str();
    assert!(
        err.contains("SSL_CERT_FILE") && err.contains("server.key"),
        "{err}"
    );
}

#[test]
fn a_certificate_that_does_not_parse_is_a_usage_error() {
    // Valid PEM armour around bytes that are not a certificate: rustls would
    // only notice at the handshake, as an unknown issuer (exit 7).
    let dir = TempDir::new("bad-cert");
    let pem = dir.file(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n-----END CERTIFICATE-----\n",
    );
    let out = run_with_cert_file(&pem);
    out.assert_code(2);
    let (line, _) = error_lines(&out);
    assert!(
        line.contains("SSL_CERT_FILE") && line.contains("bad.pem") && line.contains("invalid"),
        "{}",
        out.report()
    );
}

#[test]
fn ssl_cert_file_missing_is_a_usage_error() {
    let dir = TempDir::new("no-ca");
    let path = dir.join("ca.pem");
    let out = run_with_cert_file(&path);
    let (line, _) = assert_error_lines(&out, 2, false);
    assert!(line.contains("SSL_CERT_FILE"), "{}", out.report());
    assert!(
        line.contains(&path.display().to_string()),
        "{}",
        out.report()
    );
}

#[test]
fn ssl_cert_file_with_garbage_is_a_usage_error() {
    let file = TempFile::new("garbage.pem", "this is not a PEM bundle\n\x01\x02\n");
    let out = run_with_cert_file(file.path());
    let (line, _) = assert_error_lines(&out, 2, false);
    assert!(line.contains("SSL_CERT_FILE"), "{}", out.report());
    assert!(line.contains(&file.name()), "{}", out.report());
}
