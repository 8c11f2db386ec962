use super::*;

/// What rustls-pki-types (through `ureq::tls::parse_pem`) makes of `pem`:
/// the certificates up to the first error, and whether there was one.
fn reference(pem: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.der().to_vec()),
            Ok(_) => {}
            Err(_) => return (certs, true),
        }
    }
    (certs, false)
}

fn ours(pem: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut buf = pem.to_vec();
    let mut reader = Reader::new(&mut buf);
    let mut certs = Vec::new();
    loop {
        match reader.next_certificate() {
            Ok(Some(range)) => certs.push(reader.der(range).to_vec()),
            Ok(None) => return (certs, false),
            Err(_) => return (certs, true),
        }
    }
}

fn same_as_rustls(pem: &[u8]) {
    assert_eq!(
        ours(pem),
        reference(pem),
        "{:?}",
        String::from_utf8_lossy(pem)
    );
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn section(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

#[test]
fn the_fixtures_and_the_system_bundle_decode_as_rustls_does() {
    for name in ["ca.pem", "server.pem", "server.key"] {
        same_as_rustls(&fixture(name));
    }
    let ca = fixture("ca.pem");
    let (certs, failed) = ours(&ca);
    assert!(!failed && certs.len() == 1 && certs[0].starts_with(&[0x30, 0x82]));
    // The bundle SSL_CERT_FILE usually names, where there is one.
    if let Ok(bundle) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
        same_as_rustls(&bundle);
        assert!(ours(&bundle).0.len() > 10);
    }
}

#[test]
fn line_ends_whitespace_and_text_around_sections() {
    let ca = String::from_utf8(fixture("ca.pem")).unwrap();
    let cases = [
        ca.replace('\n', "\r\n"),
        ca.replace('\n', "\r"),
        ca.trim_end().to_string(),
        format!("Subject: some CA\n  with notes\n{ca}\n# trailing words\n{ca}"),
        ca.replace("\n", "\n \t"),
        ca.replace("-----\n", "-----   \n"),
        ca.replace(
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE- - - - -",
        ),
        ca.replace(
            "-----END CERTIFICATE-----",
            "-----END CERTIFICATE----- extra",
        ),
        format!("{}{ca}", section("PRIVATE KEY", "AAAA")),
        format!("{}{ca}", section("SOMETHING ELSE", "not base64 at all !")),
        format!("{}{ca}", section("X509 CRL", "not base64 at all !")),
        String::new(),
        "no PEM here\n\u{1}\u{2}\n".to_string(),
    ];
    for case in cases {
        same_as_rustls(case.as_bytes());
    }
}

#[test]
fn broken_sections_fail_as_in_rustls() {
    let ca = String::from_utf8(fixture("ca.pem")).unwrap();
    let cases = [
        ca.replace("-----END CERTIFICATE-----", ""),
        ca.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE----"),
        ca.replace(
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE------",
        ),
        ca.replace(
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----x",
        ),
        format!("{ca}{}", section("CERTIFICATE", "AB*D")),
        format!("{ca}{}", section("CERTIFICATE", "AAAA=AAA")),
        format!("{ca}{}", section("CERTIFICATE", "A")),
        // A BEGIN inside a section starts over, keeping the text so far.
        format!("-----BEGIN CERTIFICATE-----\nAAAA\n{ca}"),
        format!("-----BEGIN X-----\nAA\n{ca}"),
    ];
    for case in cases {
        same_as_rustls(case.as_bytes());
    }
    let mut pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n".to_vec();
    let mut reader = Reader::new(&mut pem);
    assert_eq!(
        reader.next_certificate(),
        Err(Error::MissingEnd("CERTIFICATE".into()))
    );
    assert_eq!(reader.next_certificate(), Ok(None));
}

#[test]
fn a_section_that_is_not_base64_is_named_with_its_byte() {
    let message = |body: &str| {
        let mut pem = section("CERTIFICATE", body).into_bytes();
        let err = Reader::new(&mut pem).next_certificate().unwrap_err();
        err.to_string()
    };
    assert_eq!(
        message("AB*D"),
        "a CERTIFICATE section is not base64 ('*' is not a base64 character)"
    );
    assert_eq!(
        message("AB\u{7f}D"),
        "a CERTIFICATE section is not base64 (byte 0x7f is not a base64 character)"
    );
    assert_eq!(
        message("A"),
        "a CERTIFICATE section is not base64 (its length is not that of base64)"
    );
}

#[test]
fn short_base64_with_any_padding_decodes_as_in_rustls() {
    // Every string of up to 6 characters from a small alphabet that
    // covers data, padding and whitespace.
    let alphabet = [b'A', b'/', b'q', b'=', b' '];
    let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..6 {
        let longer: Vec<Vec<u8>> = texts
            .iter()
            .filter(|t| t.len() == texts.last().map_or(0, Vec::len))
            .flat_map(|t| {
                alphabet.iter().map(move |&c| {
                    let mut t = t.clone();
                    t.push(c);
                    t
                })
            })
            .collect();
        texts.extend(longer);
    }
    for text in texts {
        let body = String::from_utf8(text).unwrap();
        same_as_rustls(section("CERTIFICATE", &body).as_bytes());
    }
}
