//! RFC 3161 tokens whose CMS `certificates` SET lists the same certificate twice: what
//! `openssl ts -reply` writes when its `certs` file includes the signer certificate (it adds the
//! signer certificate, then every one of `certs`). `openssl ts -verify` accepts such a token, so
//! Körpü must too (issue 14: never TOTAL_FAILED for what an outside tool verifies), while an
//! altered one still fails.
//!
//! Fails (does not skip) when openssl is missing. `OPENSSL` overrides `/usr/bin/openssl`.

use std::fs;

use korpu_pki::alg::HashAlg;
use korpu_pki::tsa;
use korpu_testkit::ossl::{self, KeyKind, Made, Ossl};

/// Where `needle` occurs in `hay`.
fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// An openssl TSA (certificate issued by `ca`, key of `kind`) whose `certs` file holds its own
/// certificate and the CA's, and the token it issues over `data` (`-token_out`, DER).
fn openssl_token(o: &Ossl, ca: &Made, kind: KeyKind, data: &[u8]) -> (Made, Vec<u8>) {
    let d = o.dir.path();
    let tsa = o.duplicating_tsa(ca, "/CN=Duplicating TSA/O=Elsewhere", kind);
    fs::write(d.join("stamped.bin"), data).unwrap();
    ossl::ts_query(d, "-sha256", &[]);
    let token = ossl::ts_reply(d);
    (tsa, token)
}

fn openssl_verifies(o: &Ossl, ca: &Made, token: &[u8]) -> bool {
    fs::write(o.path("check.der"), token).unwrap();
    std::process::Command::new(ossl::openssl_bin())
        .args(["ts", "-verify", "-token_in", "-in", "check.der"])
        .args(["-data", "stamped.bin", "-CAfile"])
        .arg(&ca.cert_path)
        .current_dir(o.dir.path())
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_token_listing_its_tsa_certificate_twice_verifies_as_openssl_says() {
    let o = Ossl::new();
    let data = b"a signature value, stamped";
    for (name, kind) in [("rsa", KeyKind::Rsa2048), ("p256", KeyKind::P256)] {
        let ca = o.root(
            &format!("ca-{name}"),
            "/CN=Foreign CA/O=Elsewhere",
            KeyKind::P256,
        );
        let (tsa_cert, token) = openssl_token(&o, &ca, kind, data);
        assert_eq!(
            occurrences(&token, tsa_cert.cert.der()).len(),
            2,
            "{name}: openssl wrote the TSA certificate twice"
        );
        assert!(openssl_verifies(&o, &ca, &token), "{name}: openssl accepts");

        let anchors = std::slice::from_ref(&ca.cert);
        let digest: [u8; 32] = HashAlg::Sha256.digest(data).try_into().unwrap();
        tsa::verify_token(&token, &digest, None, anchors)
            .unwrap_or_else(|e| panic!("{name}: verify_token: {e}"));
        tsa::verify_token_over(&token, data, None, anchors)
            .unwrap_or_else(|e| panic!("{name}: verify_token_over: {e}"));
        assert!(tsa::verify_token_over(&token, b"other data", None, anchors).is_err());

        // Every single-byte change outside the certificates (which CMS does not sign) fails,
        // and so does one made to both copies of the TSA certificate.
        let copies = occurrences(&token, tsa_cert.cert.der());
        let ca_at = occurrences(&token, ca.cert.der());
        let certs_start = copies[0].min(ca_at[0]) - 4;
        let certs_end = (copies[1] + tsa_cert.cert.der().len()).max(ca_at[0] + ca.cert.der().len());
        for i in (0..token.len()).filter(|i| !(certs_start..certs_end).contains(i)) {
            let mut b = token.clone();
            b[i] ^= 0x01;
            assert!(
                tsa::verify_token(&b, &digest, None, anchors).is_err(),
                "{name}: flip at {i} accepted"
            );
        }
        let spki_byte = occurrences(tsa_cert.cert.der(), &tsa_cert.cert.public_key_der())[0] + 40;
        let mut b = token.clone();
        for at in &copies {
            b[at + spki_byte] ^= 0x01;
        }
        assert!(!openssl_verifies(&o, &ca, &b), "{name}: openssl refuses");
        assert!(
            tsa::verify_token(&b, &digest, None, anchors).is_err(),
            "{name}: a TSA certificate altered in both copies accepted"
        );
    }
}
