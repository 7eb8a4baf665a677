//! Pieces shared by every HTTP client of the agent (the shipper's and the
//! http/scrape probes'): reading a PEM file of CA certificates for ureq,
//! and the `Authorization: Basic` value. Plain functions, no state.

/// Reads the PEM CA certificates of `path` as ureq roots. The error names
/// what is wrong (the caller adds the path and the key).
pub fn load_ca_roots(path: &std::path::Path) -> Result<ureq::tls::RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    ca_roots(&pem)
}

/// The CA certificates of a PEM file's bytes as ureq roots.
pub fn ca_roots(pem: &[u8]) -> Result<ureq::tls::RootCerts, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| e.to_string())? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err("no certificate found in it".into());
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// What to do about a failed TLS handshake, from rustls's words for it.
pub fn advice(detail: &str) -> &'static str {
    if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
        "the server does not speak TLS on this port (a plain HTTP answer?): use http:// in \
         the URL, or the port that serves https"
    } else if detail.contains("CaUsedAsEndEntity") {
        "the server presents a CA certificate (basicConstraints CA:TRUE, what \
         `openssl req -x509` makes by default) as its own, which TLS refuses even when it \
         is in ca_file: give the server a certificate with CA:FALSE (signed by a CA whose \
         certificate goes in ca_file), or set insecure_skip_verify: true"
    } else if detail.contains("not valid for name") || detail.contains("NotValidForName") {
        "the server's certificate is not issued for the host in the URL: use a name or \
         address the certificate lists"
    } else if detail.contains("certificate expired") || detail.contains("Expired") {
        "the server's certificate has expired (or this machine's clock is wrong)"
    } else if detail.contains("certificate not valid yet") || detail.contains("NotValidYet") {
        "the server's certificate is not valid yet: is this machine's clock right?"
    } else {
        "set ca_file to the PEM of the CA that signed the server's certificate (or \
         insecure_skip_verify: true, for tests only)"
    }
}

/// The value of `Authorization` for basic auth, from `user:password`.
pub fn basic_auth(credentials: &str) -> String {
    format!("Basic {}", base64(credentials.as_bytes()))
}

/// Standard base64 with padding.
fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_get_their_own_advice() {
        let ca = "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))";
        assert!(advice(ca).contains("CA:FALSE"));
        let plain = "received corrupt message of type InvalidContentType";
        assert!(advice(plain).contains("does not speak TLS"));
        // rustls's own words for them (its Display), not made-up strings.
        use rustls::pki_types::{ServerName, UnixTime};
        use rustls::CertificateError as C;
        let t = |s| UnixTime::since_unix_epoch(std::time::Duration::from_secs(s));
        let words = |e: C| rustls::Error::InvalidCertificate(e).to_string();
        let name = words(C::NotValidForNameContext {
            expected: ServerName::try_from("vm.example").unwrap(),
            presented: vec!["other.example".into()],
        });
        assert!(advice(&name).contains("not issued for"), "{name}");
        let expired = words(C::ExpiredContext {
            time: t(2_000),
            not_after: t(1_000),
        });
        assert!(advice(&expired).contains("has expired"), "{expired}");
        let early = words(C::NotValidYetContext {
            time: t(1_000),
            not_before: t(2_000),
        });
        assert!(advice(&early).contains("not valid yet"), "{early}");
        assert!(advice("invalid peer certificate: UnknownIssuer").starts_with("set ca_file"));
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
        assert_eq!(basic_auth("u:p"), "Basic dTpw");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        assert_eq!(
            load_ca_roots(&p).err().unwrap(),
            "no certificate found in it"
        );
        assert!(load_ca_roots(&dir.path().join("missing.pem")).is_err());
    }
}
